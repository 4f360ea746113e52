"""A workload's instance metadata as the API accepts it: user data, SSH public keys and
properties (what the metadata service serves, R12).

Checked once, at create, so the compiler and the metadata proxy can trust the stored values:
bounded sizes (a host's state carries every served instance), key names unique, and key text
that is an OpenSSH public key (``<type> <base64 blob> [comment]``, the blob starting with the
same type name, as ``ssh-keygen`` writes it). Limits follow Nova's where it has one (user data
65,535 bytes; 128 metadata items of 255 characters).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from v6fabric.domain.errors import invalid_attribute

MAX_USER_DATA_BYTES = 65535
MAX_PUBLIC_KEYS = 100
MAX_KEY_NAME = 255
MAX_KEY_TEXT = 16384
MAX_PROPERTIES = 128
MAX_PROPERTY_TEXT = 255
KEY_TYPES = re.compile(r"ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)")
_KEY = re.compile(r"(?P<type>\S+) (?P<blob>[A-Za-z0-9+/]+={0,2})(?: (?P<comment>[^\x00-\x1f]*))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_user_data(value: Any) -> str | None:
    """The user data as given (text), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_attribute("user_data", f"'{value}' is not a valid string")
    size = len(value.encode("utf-8"))
    if size > MAX_USER_DATA_BYTES:
        raise invalid_attribute(
            "user_data", f"'{size}' bytes exceed maximum length of {MAX_USER_DATA_BYTES}"
        )
    return value


def check_public_keys(value: Any) -> list[dict[str, str]]:
    """``[{"name", "key"}]`` with unique names; the key text stripped of surrounding space."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_attribute("public_keys", f"'{value}' is not a list")
    if len(value) > MAX_PUBLIC_KEYS:
        raise invalid_attribute("public_keys", f"more than {MAX_PUBLIC_KEYS} keys")
    keys: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "key"}:
            raise invalid_attribute(
                "public_keys", f"'{item}' is not an object with exactly 'name' and 'key'"
            )
        name, key = item["name"], item["key"]
        if not isinstance(name, str) or not name or len(name) > MAX_KEY_NAME:
            raise invalid_attribute(
                "public_keys",
                f"key name '{name}' is not a string of 1 to {MAX_KEY_NAME} characters",
            )
        if _CONTROL.search(name):
            raise invalid_attribute("public_keys", f"key name '{name}' has a control character")
        if any(known["name"] == name for known in keys):
            raise invalid_attribute("public_keys", f"duplicate key name '{name}'")
        keys.append({"name": name, "key": _check_key(name, key)})
    return keys


def _check_key(name: str, key: Any) -> str:
    text = key.strip() if isinstance(key, str) else None
    found = _KEY.fullmatch(text) if text and len(text) <= MAX_KEY_TEXT else None
    if found is None or not KEY_TYPES.fullmatch(found["type"]):
        raise invalid_attribute("public_keys", f"key '{name}' is not an OpenSSH public key")
    if _blob_type(found["blob"]) != found["type"]:
        raise invalid_attribute("public_keys", f"key '{name}' is not a valid {found['type']} key")
    return text  # type: ignore[return-value]


def _blob_type(blob: str) -> str | None:
    """The key type the blob names (its first length-prefixed string, RFC 4253 §6.6)."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 4:
        return None
    length = int.from_bytes(raw[:4], "big")
    if length > len(raw) - 4:
        return None
    try:
        return raw[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def check_properties(value: Any) -> dict[str, str]:
    """A flat object of strings: meta_data.json's ``meta``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_attribute("properties", f"'{value}' is not a dictionary")
    if len(value) > MAX_PROPERTIES:
        raise invalid_attribute("properties", f"more than {MAX_PROPERTIES} properties")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_PROPERTY_TEXT:
            raise invalid_attribute(
                "properties", f"key '{key}' is not a string of 1 to {MAX_PROPERTY_TEXT} characters"
            )
        if not isinstance(item, str) or len(item) > MAX_PROPERTY_TEXT:
            raise invalid_attribute(
                "properties",
                f"value of '{key}' is not a string of at most {MAX_PROPERTY_TEXT} characters",
            )
    return dict(value)


def check_instance_metadata(body: Mapping[str, Any]) -> dict[str, Any]:
    """The three metadata columns of a new workload, from its create request."""
    return {
        "user_data": check_user_data(body.get("user_data")),
        "public_keys": check_public_keys(body.get("public_keys")),
        "properties": check_properties(body.get("properties")),
    }
