"""The daemon's config: the host's ``MetadataSpec`` and, optionally, a backend to proxy to,
as a small head file plus one file per bucket (``hoststate.buckets``) next to it.

A bind changes one port bucket and one instance bucket; the whole config is megabytes with
thousands of workloads (9.4 MB at 2,000: 107 ms to render, 59 ms to parse). So the agent
writes only the buckets that changed and the head, and the daemon re-reads, on SIGHUP, the
head and only the bucket files whose digest in the head differs from the one it loaded. The
head (``<run_dir>/host/metadata.conf``)::

    {"version": 2,
     "listeners": [<MetadataListener as hoststate.codec.to_dict gives it>, ...],
     "backend": null | {"url": "http://nova-metadata:8775", "secret_file": "/path"},
     "ports": {"17": "<digest of metadata.ports-17.json>", ...},
     "instances": {"5": "<digest of metadata.instances-5.json>", ...}}

(one line, keys sorted). Each bucket file, named after the head's stem next to it, is its
bucket as ``codec.to_dict`` gives it (``{"key", "ports"}`` or ``{"key", "instances"}``); its
digest is the first 16 hex digits of ``drivers.files.digest`` (the head stays ~25 bytes a
bucket: 30 kB for the ~1,150 buckets of 2,000 workloads). A bucket whose text does
not match the head's digest (written after the head was read, or a failed write) makes the
reload fail as a whole: the daemon keeps what it serves. The head's digest therefore names
the whole config. The single-file form (``{"spec": ..., "backend": ...}``, before buckets)
is still read.

The shared secret stays in its own file (mode 0600, the operator's) so the config can be
world-readable and never carries it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from v6fabric.drivers.files import LocalFiles, digest
from v6fabric.hoststate import codec
from v6fabric.hoststate.metadata import (
    MetadataInstanceBucket,
    MetadataListener,
    MetadataPortBucket,
    MetadataSpec,
)

VERSION = 2
PARTS: dict[str, type] = {"ports": MetadataPortBucket, "instances": MetadataInstanceBucket}
_BUCKET_NAME = re.compile(r"^[^/]+\.(ports|instances)-[0-9]+\.json$")

Bucket = MetadataPortBucket | MetadataInstanceBucket
Reader = Callable[[str], str | None]  # a bucket file's text by its name (None: missing)


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
    digest: str = ""  # of the head's text, as ``drivers.files.digest`` (the agent's markers)
    # bucket file name -> (its digest, its bucket): what a reload keeps without reading
    buckets: Mapping[str, tuple[str, Bucket]] = field(default_factory=dict, compare=False)


def part_of(bucket: Bucket) -> str:
    return "ports" if isinstance(bucket, MetadataPortBucket) else "instances"


def file_name(stem: str, part: str, key: int) -> str:
    """A bucket's file name next to a head named ``<stem>.<suffix>``."""
    return f"{stem}.{part}-{key}.json"


def bucket_name(stem: str, bucket: Bucket) -> str:
    return file_name(stem, part_of(bucket), bucket.key)


def bucket_digest(text: str) -> str:
    """What the head lists for a bucket file (enough to tell a change, not a signature)."""
    return digest(text)[:16]


def is_bucket_name(stem: str, name: str) -> bool:
    return name.startswith(f"{stem}.") and _BUCKET_NAME.match(name) is not None


def bucket_text(bucket: Bucket) -> str:
    return orjson.dumps(codec.to_dict(bucket), option=orjson.OPT_SORT_KEYS).decode() + "\n"


def backend_dict(backend: Backend | None) -> dict[str, str] | None:
    return None if backend is None else {"url": backend.url, "secret_file": backend.secret_file}


def head_text(
    listeners: Iterable[MetadataListener],
    backend: Backend | None,
    ports: Mapping[str, str],
    instances: Mapping[str, str],
) -> str:
    """The head: ``ports`` and ``instances`` map bucket keys (text) to their files' digests."""
    data = {
        "version": VERSION,
        "listeners": codec.to_dict(tuple(listeners)),
        "backend": backend_dict(backend),
        "ports": ports,
        "instances": instances,
    }
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode() + "\n"


def bucket_files(stem: str, spec: MetadataSpec) -> dict[str, tuple[Bucket, str, str]]:
    """File name -> (bucket, text, digest) for every bucket of ``spec`` (tools and tests; the
    agent renders only the buckets that changed)."""
    found: dict[str, tuple[Bucket, str, str]] = {}
    for bucket in (*spec.port_buckets, *spec.instance_buckets):
        text = bucket_text(bucket)
        found[bucket_name(stem, bucket)] = (bucket, text, bucket_digest(text))
    return found


def to_json(spec: MetadataSpec, backend: Backend | None = None) -> str:
    """The single-file form (before buckets): still read, written by no one but tests."""
    data: dict[str, Any] = {"spec": codec.to_dict(spec), "backend": backend_dict(backend)}
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


def _backend(raw: Any) -> Backend | None:
    backend = None if raw is None else Backend(str(raw["url"]), str(raw["secret_file"]))
    if backend is not None and not backend.url.startswith(("http://", "https://")):
        raise ConfigError(f"backend url must be http(s): {backend.url!r}")
    return backend


def parse_config(
    text: str | bytes,
    read: Reader | None = None,
    previous: ProxyConfig | None = None,
    stem: str = "metadata",
) -> ProxyConfig:
    """A head (its bucket files, ``<stem>.<part>-<key>.json``, read by ``read`` by name, or
    kept from ``previous`` where the digest is the same) or a single-file config."""
    try:
        raw_text = text.decode() if isinstance(text, bytes) else text
        data = orjson.loads(raw_text)
        if "spec" in data:  # the single-file form
            spec = codec.build(MetadataSpec, data["spec"])
            return ProxyConfig(spec, _backend(data.get("backend")), digest(raw_text))
        if data.get("version") != VERSION:
            raise ConfigError(f"unsupported metadata config version {data.get('version')!r}")
        listeners = codec.build(tuple[MetadataListener, ...], data["listeners"])
        backend = _backend(data.get("backend"))
        known = previous.buckets if previous is not None else {}
        buckets: dict[str, tuple[str, Bucket]] = {}
        parts: dict[str, list[Any]] = {}
        for part, cls in PARTS.items():
            found = parts[part] = []
            for key, wanted in data[part].items():
                name = file_name(stem, part, int(key))
                kept = known.get(name)
                if kept is None or kept[0] != wanted:
                    kept = (wanted, _read_bucket(read, name, str(wanted), cls))
                    if kept[1].key != int(key):
                        raise ConfigError(f"bucket file {name} holds bucket {kept[1].key}")
                buckets[name] = kept
                found.append(kept[1])
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # UnicodeError is one
        raise ConfigError(f"not a metadata proxy config: {exc!r}") from exc
    spec = MetadataSpec(
        listeners,
        tuple(sorted(parts["ports"], key=_key)),
        tuple(sorted(parts["instances"], key=_key)),
    )
    return ProxyConfig(spec, backend, digest(raw_text), buckets)


def _key(bucket: Bucket) -> int:
    return bucket.key


def _read_bucket(read: Reader | None, name: str, wanted: str, cls: type) -> Bucket:
    if read is None or _BUCKET_NAME.match(name) is None:  # a plain name: no path
        raise ConfigError(f"bucket file {name!r} cannot be read here")
    text = read(name)
    if text is None:
        raise ConfigError(f"bucket file {name} is missing")
    if bucket_digest(text) != wanted:
        raise ConfigError(f"bucket file {name} does not match the head (being written?)")
    bucket = codec.build(cls, orjson.loads(text))
    if not isinstance(bucket, cls):
        raise ConfigError(f"{name} is not a {cls.__name__}")
    return bucket


def directory_reader(directory: Path) -> Reader:
    """Reads a bucket file next to the head; raises ``ConfigError`` if it cannot."""

    def read(name: str) -> str | None:
        path = directory / name
        try:
            return path.read_bytes().decode()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc

    return read


def load_config(path: Path, previous: ProxyConfig | None = None) -> ProxyConfig:
    """The config in ``path``; with ``previous``, only the bucket files whose digest in the
    head changed are read."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(text, directory_reader(path.parent), previous, path.stem)


def write_config(path: Path, spec: MetadataSpec, backend: Backend | None = None) -> bool:
    """Write the bucket files, then the head, each atomically (temp file + rename,
    ``LocalFiles``), and remove bucket files of this head no longer in it; False when
    nothing changed (then there is nothing to reload). For tools and tests: the agent plans
    the same files (``agent.metadata_proxy``)."""
    files, stem = LocalFiles(), path.stem
    found = bucket_files(stem, spec)
    changed = False
    for name, (_bucket, text, _digest) in found.items():
        changed = files.write(path.parent / name, text) or changed
    manifest = {"ports": {}, "instances": {}}  # type: dict[str, dict[str, str]]
    for bucket, _text, dig in found.values():
        manifest[part_of(bucket)][str(bucket.key)] = dig
    head = head_text(spec.listeners, backend, manifest["ports"], manifest["instances"])
    changed = files.write(path, head) or changed
    for name in files.listdir(path.parent):
        if is_bucket_name(stem, name) and name not in found:
            files.remove(path.parent / name)
            changed = True
    return changed
