"""The daemon's config file: the host's ``MetadataSpec`` and, optionally, a backend to proxy to.

The agent writes it (a ``WriteFile`` of ``to_json``; ``write_config`` for tools and tests),
then starts the daemon or sends it SIGHUP; the daemon reads it (``load_config``). JSON::

    {"spec": <MetadataSpec as hoststate.codec.to_dict gives it>,
     "backend": null | {"url": "http://nova-metadata:8775", "secret_file": "/path"}}

The shared secret stays in its own file (mode 0600, the operator's) so the config can be
world-readable and never carries it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from v6fabric.drivers.files import LocalFiles, digest
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import MetadataSpec


class ConfigError(ValueError):
    """The config file cannot be read or does not have the documented shape."""


@dataclass(frozen=True)
class Backend:
    """A Nova-compatible metadata API: requests are forwarded there, signed with the secret."""

    url: str
    secret_file: str

    def secret(self) -> bytes:
        """Read on each load (not kept in the config object) so a rotated secret is picked up
        by SIGHUP."""
        try:
            return Path(self.secret_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the backend secret {self.secret_file}: {exc}") from exc


@dataclass(frozen=True)
class ProxyConfig:
    spec: MetadataSpec
    backend: Backend | None = None
    digest: str = ""  # of the file's text, as ``drivers.files.digest`` (the agent's markers)


def to_json(spec: MetadataSpec, backend: Backend | None = None) -> str:
    data: dict[str, Any] = {
        "spec": codec.to_dict(spec),
        "backend": None
        if backend is None
        else {"url": backend.url, "secret_file": backend.secret_file},
    }
    # orjson: the standard encoder with ``indent`` runs in pure Python (a few ms per change
    # at 150 instances, on every agent pass that changes metadata)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


def parse_config(text: str | bytes) -> ProxyConfig:
    try:
        raw_text = text.decode() if isinstance(text, bytes) else text
        data = json.loads(raw_text)
        spec = codec.build(MetadataSpec, data["spec"])
        raw = data.get("backend")
        backend = None if raw is None else Backend(str(raw["url"]), str(raw["secret_file"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # UnicodeError is one
        raise ConfigError(f"not a metadata proxy config: {exc!r}") from exc
    if backend is not None and not backend.url.startswith(("http://", "https://")):
        raise ConfigError(f"backend url must be http(s): {backend.url!r}")
    return ProxyConfig(spec, backend, digest(raw_text))


def load_config(path: Path) -> ProxyConfig:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(text)


def write_config(path: Path, spec: MetadataSpec, backend: Backend | None = None) -> bool:
    """Write atomically (temp file + rename, ``LocalFiles``) so the daemon never reads half a
    file; False when the file already has this text (then there is nothing to reload)."""
    return LocalFiles().write(path, to_json(spec, backend))
