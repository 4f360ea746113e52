"""Password hashing with the standard library's scrypt: no extra dependency, memory-hard.

A hash is stored as a self-describing PHC-style string, ``$scrypt$ln=15,r=8,p=1$<salt>$<key>``
(unpadded base64), so the cost can be raised later without invalidating stored hashes:
``needs_rehash`` tells a caller holding the plain password that it should store a fresh hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

LOG2_N = 15  # N = 32768: about 32 MiB and tens of milliseconds per hash
BLOCK_SIZE = 8
PARALLELISM = 1
SALT_BYTES = 16
KEY_BYTES = 32
_PREFIX = "$scrypt$"
# Refuse parameters that would let a corrupted or hostile hash exhaust memory or CPU.
_MAX_LOG2_N, _MAX_R, _MAX_P = 20, 32, 16


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, length: int) -> bytes:
    n = 1 << log2_n
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024  # what scrypt needs, plus slack
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the encoded form described above."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, LOG2_N, BLOCK_SIZE, PARALLELISM, KEY_BYTES)
    params = f"ln={LOG2_N},r={BLOCK_SIZE},p={PARALLELISM}"
    return f"{_PREFIX}{params}${_b64encode(salt)}${_b64encode(key)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    """(log2_n, r, p, salt, key), or None if ``encoded`` is not a hash we can check safely."""
    if not encoded.startswith(_PREFIX):
        return None
    try:
        params_text, salt_text, key_text = encoded[len(_PREFIX) :].split("$")
        params = dict(item.split("=", 1) for item in params_text.split(","))
        log2_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, key = _b64decode(salt_text), _b64decode(key_text)
    except (ValueError, KeyError):
        return None
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P and key):
        return None
    return log2_n, r, p, salt, key


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, encoded: str | None) -> bool:
    """True if ``password`` matches ``encoded``; compares in constant time.

    With ``encoded=None`` (no such user) a dummy hash is still computed, so a caller's response
    time does not reveal whether a user name exists.
    """
    parsed = _parse(encoded if encoded is not None else _dummy_hash())
    if parsed is None:
        return False
    log2_n, r, p, salt, key = parsed
    candidate = _scrypt(password, salt, log2_n, r, p, len(key))
    return hmac.compare_digest(candidate, key) and encoded is not None


def needs_rehash(encoded: str) -> bool:
    """True if ``encoded`` was made with weaker parameters than today's."""
    parsed = _parse(encoded)
    if parsed is None:
        return True
    log2_n, r, p, salt, key = parsed
    return (
        log2_n < LOG2_N
        or r < BLOCK_SIZE
        or p < PARALLELISM
        or len(salt) < SALT_BYTES
        or len(key) < KEY_BYTES
    )
