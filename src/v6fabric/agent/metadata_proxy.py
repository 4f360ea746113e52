"""The host's one metadata proxy (``v6fabric.metadata``), as the agent runs it.

One process in the agent's own namespace serves every metadata namespace of the host: it opens
its listening sockets inside each namespace, and reaches an external backend (proxy mode) from
here, where the host's routes are. Its config is the state's ``MetadataSpec`` plus the agent's
own backend setting; a changed config is a SIGHUP (listeners are opened and closed in place,
so a change never interrupts the others). Its files live in ``<run_dir>/host/``: the head
``metadata.conf`` and one file per port and instance bucket (``metadata.config``).

A bind changes one bucket of each kind, and the state delta hands the plan every other bucket
as the same object: each bucket's file is rendered once per bucket object (identity memo), and
only the files of buckets that differ from those the head on disk lists are written.

The addresses it answers on (``METADATA_IPV6`` on every listening interface, without DAD, and
``METADATA_IPV4`` where the network has IPv4) are part of those interfaces' addresses
(``addresses``), so the usual address diff adds and removes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from v6fabric.agent.actions import Action, RemoveFile, WriteFile
from v6fabric.agent.desired import DaemonDesired
from v6fabric.agent.layout import Layout
from v6fabric.agent.observe import DaemonObserved
from v6fabric.drivers.files import digest
from v6fabric.hoststate.buckets import changed
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.metadata import METADATA_IPV4, METADATA_IPV6, MetadataSpec
from v6fabric.metadata.config import (
    Backend,
    Bucket,
    bucket_digest,
    bucket_name,
    bucket_text,
    head_text,
    is_bucket_name,
)

KIND = "metadata"
STEM = KIND  # metadata.conf, metadata.ports-<k>.json, metadata.instances-<k>.json
IPV6_CIDR = f"{METADATA_IPV6}/64"
IPV4_CIDR = f"{METADATA_IPV4}/32"
# the second word of the ``loaded`` marker: the config's layout. A proxy started with another
# (the single file before buckets: no second word) cannot read this one and is restarted.
LAYOUT = "buckets"


def addresses(spec: MetadataSpec) -> dict[tuple[str, str], tuple[str, ...]]:
    """(namespace, ifname) -> the service's addresses on that interface."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for listener in spec.listeners:
        cidrs = (IPV6_CIDR, IPV4_CIDR) if listener.ipv4 else (IPV6_CIDR,)
        found[(listener.namespace, listener.ifname)] = cidrs
    return found


# bucket object -> (file name, text, digest): unchanged buckets are the same objects
_FILES = IdentityMemo(1 << 14)


def _file(bucket: Bucket) -> tuple[str, str, str]:
    def make() -> tuple[str, str, str]:
        text = bucket_text(bucket)
        return bucket_name(STEM, bucket), text, bucket_digest(text)

    return _FILES.get(bucket, make)


# per part: the last buckets and the head's manifest of them (bucket key -> file digest)
_PORTS: list[tuple[tuple[Bucket, ...], dict[str, str]]] = []
_INSTANCES: list[tuple[tuple[Bucket, ...], dict[str, str]]] = []


def _manifest(
    last: list[tuple[tuple[Bucket, ...], dict[str, str]]], buckets: tuple[Bucket, ...]
) -> dict[str, str]:
    """The last manifest with only the buckets that changed (identity first) replaced: a
    bind renders one bucket of each part, not a digest lookup per bucket."""
    if last and last[0][0] is buckets:
        return last[0][1]
    before, manifest = (last[0][0], dict(last[0][1])) if last else ((), {})
    for key, _was, now in changed(before, buckets):
        if now is None:
            del manifest[str(key)]
        else:
            manifest[str(key)] = _file(now)[2]
    last[:] = [(buckets, manifest)]
    return manifest


# the last answer, by the very objects asked about: a plan asks on every round, and a state
# delta keeps an unchanged section's object, where comparing or hashing it walks every instance
_LAST: list[tuple[MetadataSpec, Layout, Backend | None, DaemonDesired | None]] = []


def desired(spec: MetadataSpec, layout: Layout, backend: Backend | None) -> DaemonDesired | None:
    """The proxy, or None when no namespace of this host serves metadata. ``backend``: the
    agent's own setting (an external VIM's metadata service), never in the HostState. Its
    ``files`` are the head only; ``bucket_actions`` writes the buckets."""
    if _LAST and _LAST[0][0] is spec and _LAST[0][1] == layout and _LAST[0][2] == backend:
        return _LAST[0][3]
    found = _desired(spec, layout, backend)
    _LAST[:] = [(spec, layout, backend, found)]
    return found


def _desired(spec: MetadataSpec, layout: Layout, backend: Backend | None) -> DaemonDesired | None:
    if not spec.listeners:
        return None

    def path(suffix: str) -> Path:
        return layout.daemon_file(KIND, None, suffix)

    conf = head_text(
        spec.listeners,
        backend,
        _manifest(_PORTS, spec.port_buckets),
        _manifest(_INSTANCES, spec.instance_buckets),
    )
    conf_digest = digest(conf)
    _HEADS[conf_digest] = spec  # what the bucket files are once this head is on disk
    while len(_HEADS) > 8:
        del _HEADS[next(iter(_HEADS))]
    argv = (sys.executable, "-m", "v6fabric.cli.main", "metadata-proxy")
    return DaemonDesired(
        kind=KIND,
        netns=None,
        files=((path("conf"), conf),),
        argv=(*argv, "--config", str(path("conf")), "--pid-file", str(path("pid"))),
        pid_file=path("pid"),
        log_file=path("log"),
        marker=path("loaded"),
        conf_digest=conf_digest,
        data_digest=LAYOUT,
        interfaces=(),
    )


# head digest -> the spec whose buckets it lists, for the heads this agent rendered: the head
# on disk (observed by digest) tells which bucket files are there without reading them
_HEADS: dict[str, MetadataSpec] = {}

# the last bucket actions, by (spec object, digest of the head on disk)
_LAST_ACTIONS: list[tuple[MetadataSpec, str | None, tuple[Action, ...]]] = []


def bucket_actions(
    spec: MetadataSpec, proxy: DaemonDesired, seen: DaemonObserved | None
) -> tuple[Action, ...]:
    """The bucket files to write or remove so that they match the head ``proxy`` writes: none
    when the head on disk is that head; the buckets that differ from those the head on disk
    lists (known when this agent rendered it); else all of them (``files.write`` compares
    first) and removal of any other bucket file (after a restart with a changed state, or an
    upgrade from the single file, which the head then overwrites)."""
    on_disk = seen.digests.get(proxy.files[0][0].name) if seen is not None else None
    if on_disk == proxy.conf_digest:
        return ()
    if _LAST_ACTIONS and _LAST_ACTIONS[0][0] is spec and _LAST_ACTIONS[0][1] == on_disk:
        return _LAST_ACTIONS[0][2]
    directory = proxy.files[0][0].parent
    base = _HEADS.get(on_disk) if on_disk is not None else None
    found: list[Action] = []
    if base is None:
        wanted = set()
        for bucket in (*spec.port_buckets, *spec.instance_buckets):
            name, text, _digest = _file(bucket)
            wanted.add(name)
            found.append(WriteFile(directory / name, text))
        names = seen.files if seen is not None else frozenset()
        stale = sorted(n for n in names if is_bucket_name(STEM, n) and n not in wanted)
        found += [RemoveFile(directory / name) for name in stale]
    else:
        for old, new in (
            (base.port_buckets, spec.port_buckets),
            (base.instance_buckets, spec.instance_buckets),
        ):
            for _key, was, now in changed(old, new):
                if now is not None:
                    name, text, _digest = _file(now)
                    found.append(WriteFile(directory / name, text))
                elif was is not None:
                    found.append(RemoveFile(directory / bucket_name(STEM, was)))
    actions = tuple(found)
    _LAST_ACTIONS[:] = [(spec, on_disk, actions)]
    return actions


def must_restart(daemon: DaemonDesired, loaded: str | None) -> bool:
    """A running proxy that loaded another layout of the config (``LAYOUT``): it could not
    read this one on SIGHUP."""
    if daemon.kind != KIND or loaded is None:
        return False
    return loaded.split(" ")[1:] != [daemon.data_digest]
