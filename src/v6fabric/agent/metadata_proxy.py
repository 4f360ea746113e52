"""The host's one metadata proxy (``v6fabric.metadata``), as the agent runs it.

One process in the agent's own namespace serves every metadata namespace of the host: it opens
its listening sockets inside each namespace, and reaches an external backend (proxy mode) from
here, where the host's routes are. Its config is the state's ``MetadataSpec`` plus the agent's
own backend setting; a changed config is a SIGHUP (listeners are opened and closed in place,
so a change never interrupts the others). Its files live in ``<run_dir>/metadata/``.

The addresses it answers on (``METADATA_IPV6`` on every listening interface, without DAD, and
``METADATA_IPV4`` where the network has IPv4) are part of those interfaces' addresses
(``addresses``), so the usual address diff adds and removes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from v6fabric.agent.desired import DaemonDesired
from v6fabric.agent.layout import Layout
from v6fabric.drivers.files import digest
from v6fabric.hoststate.model import METADATA_IPV4, METADATA_IPV6, MetadataSpec
from v6fabric.metadata.config import Backend, to_json

KIND = "metadata"
IPV6_CIDR = f"{METADATA_IPV6}/64"
IPV4_CIDR = f"{METADATA_IPV4}/32"


def addresses(spec: MetadataSpec) -> dict[tuple[str, str], tuple[str, ...]]:
    """(namespace, ifname) -> the service's addresses on that interface."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for listener in spec.listeners:
        cidrs = (IPV6_CIDR, IPV4_CIDR) if listener.ipv4 else (IPV6_CIDR,)
        found[(listener.namespace, listener.ifname)] = cidrs
    return found


# the last answer, by the very objects asked about: a plan asks on every round, and a state
# delta keeps an unchanged section's object, where comparing or hashing it walks every instance
_LAST: list[tuple[MetadataSpec, Layout, Backend | None, DaemonDesired | None]] = []


def desired(spec: MetadataSpec, layout: Layout, backend: Backend | None) -> DaemonDesired | None:
    """The proxy, or None when no namespace of this host serves metadata. ``backend``: the
    agent's own setting (an external VIM's metadata service), never in the HostState."""
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

    conf = to_json(spec, backend)
    argv = (sys.executable, "-m", "v6fabric.cli.main", "metadata-proxy")
    return DaemonDesired(
        kind=KIND,
        netns=None,
        files=((path("conf"), conf),),
        argv=(*argv, "--config", str(path("conf")), "--pid-file", str(path("pid"))),
        pid_file=path("pid"),
        log_file=path("log"),
        marker=path("loaded"),
        conf_digest=digest(conf),
        data_digest="",
        interfaces=(),
    )
