"""What a plan is made of: the drivers' link operations plus namespace, sysctl, file, daemon and
workload actions. Every action is a frozen value: plans compare equal, and a failed action is
recognised on the next loop (to back it off) by equality alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from v6fabric.drivers.fdb import AddFdb, DeleteFdb, FdbOp
from v6fabric.drivers.neighbors import DeleteNeighbor, ReplaceNeighbor
from v6fabric.drivers.netlink import (
    AddAddress,
    AddBridge,
    AddGretap,
    AddVeth,
    AddVlan,
    AddVxlan,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    LinkOp,
    ReplaceRoute,
    SetBridgeOptions,
    SetBridgePort,
    SetLink,
)
from v6fabric.hoststate.firewall import FirewallSpec
from v6fabric.hoststate.model import WorkloadSpec

__all__ = [
    "Action",
    "AddAddress",
    "AddBridge",
    "AddFdb",
    "AddGretap",
    "AddNamespace",
    "AddVeth",
    "AddVlan",
    "AddVxlan",
    "DeleteAddress",
    "DeleteFdb",
    "DeleteLink",
    "DeleteNamespace",
    "DeleteNeighbor",
    "DeleteRoute",
    "FdbOp",
    "LinkOp",
    "LoadFirewall",
    "PlugWorkload",
    "RefreshVrrp",
    "ReloadDaemon",
    "RemoveDir",
    "RemoveFile",
    "RemoveFirewall",
    "ReplaceNeighbor",
    "ReplaceRoute",
    "SetBridgeOptions",
    "SetBridgePort",
    "SetLink",
    "SetSysctls",
    "StartDaemon",
    "StopDaemon",
    "UnplugWorkload",
    "WriteFile",
    "action_key",
]


@dataclass(frozen=True)
class AddNamespace:
    name: str


@dataclass(frozen=True)
class DeleteNamespace:
    """Ends whatever still runs inside, then deletes the namespace (its links go with it)."""

    name: str


@dataclass(frozen=True)
class SetSysctls:
    netns: str | None
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WriteFile:
    path: Path
    text: str


@dataclass(frozen=True)
class RemoveFile:
    """A file of ours that is no longer wanted (a metadata bucket gone); absent is fine."""

    path: Path


@dataclass(frozen=True)
class StartDaemon:
    """Start (or with ``restart``, stop and start) a daemon once the link-locals of its
    ``interfaces`` are usable, then record ``loaded`` (what it runs with) in ``marker``."""

    kind: str
    netns: str | None  # None: the agent's own (a host-wide daemon)
    argv: tuple[str, ...]
    pid_file: Path
    log_file: Path
    marker: Path
    loaded: str
    interfaces: tuple[str, ...] = ()
    restart: bool = False
    clear: tuple[Path, ...] = ()  # removed before the start (stale pid files)


@dataclass(frozen=True)
class ReloadDaemon:
    """SIGHUP: radvd re-reads its config, dnsmasq its hosts and options files (leases kept),
    keepalived both (its VRRP state kept). ``if_running``: a daemon someone else starts (an HA
    router's radvd, by the notify hook) is signalled only if it runs; either way ``loaded`` is
    recorded, as the files it will read when started are those just written."""

    kind: str
    netns: str | None  # None: the agent's own (a host-wide daemon)
    pid_file: Path
    marker: Path
    loaded: str
    if_running: bool = False


@dataclass(frozen=True)
class RefreshVrrp:
    """Run an HA instance's notify hook with ``REFRESH``: on the master (its state file says so,
    read under the hook's lock) it brings up the legs made since its MASTER transition and
    starts radvd if its config came later; on a backup it does nothing. The legs and radvd are
    the hook's, and it alone knows the state without a race. ``cause`` (the legs made, the
    radvd config written) tells one REFRESH from another: a pass applies an action once, and a
    leg made in a later round of the pass (a newer state taken up) needs its own."""

    netns: str
    hook: Path
    cause: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopDaemon:
    kind: str
    netns: str | None  # None: the agent's own (a host-wide daemon)
    pid_file: Path
    files: tuple[Path, ...]  # removed once it has stopped


@dataclass(frozen=True)
class RemoveDir:
    path: Path


@dataclass(frozen=True)
class PlugWorkload:
    """``bridges`` (tap, bridge): the plug enslaves and ups them at once, saving a round."""

    spec: WorkloadSpec
    digest: str
    bridges: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UnplugWorkload:
    namespace: str


@dataclass(frozen=True)
class LoadFirewall:
    """An ``nft -f`` script for the host namespace (the whole ruleset, or one transaction on
    the loaded tables), and what is loaded once it applied: the spec's digest and the spec.
    ``base``: the spec the agent's files hold (None: unknown), so that only the files of parts
    that differ from it are written."""

    script: str
    loaded: str
    spec: FirewallSpec = field(compare=False, repr=False)
    base: FirewallSpec | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RemoveFirewall:
    script: str


Action = (
    LinkOp
    | FdbOp
    | AddNamespace
    | DeleteNamespace
    | SetSysctls
    | WriteFile
    | RemoveFile
    | StartDaemon
    | ReloadDaemon
    | RefreshVrrp
    | StopDaemon
    | RemoveDir
    | PlugWorkload
    | UnplugWorkload
    | LoadFirewall
    | RemoveFirewall
)

# Fields that say what to write rather than which object: left out of an action's key.
_CONTENT_FIELDS = frozenset(
    {"values", "text", "loaded", "digest", "argv", "files", "restart", "mtu", "mac", "up"}
    | {"script", "spec", "base"}
    | {"master", "peer_mac", "interfaces", "log_file", "marker", "pid_file", "clear"}
    | {"if_running"}
)


def action_key(action: Action) -> tuple[object, ...]:
    """Which object an action is about (type and target, not content): a retry of a failed
    sysctl write with fewer keys, or a plug with a newer spec, is still the same object."""
    if isinstance(action, PlugWorkload):
        return ("PlugWorkload", action.spec.namespace)
    if isinstance(action, SetSysctls):  # the namespace's own keys, or those of its interfaces
        parts = [key.split(".") for key, _value in action.values]
        interfaces = {p[3] for p in parts if p[:3] == ["net", "ipv6", "conf"] and len(p) == 5}
        return ("SetSysctls", action.netns, frozenset(interfaces - {"all", "default"}))
    fields = [f for f in dataclasses.fields(action) if f.name not in _CONTENT_FIELDS]  # type: ignore[arg-type]
    return (type(action).__name__, *(getattr(action, f.name) for f in fields))
