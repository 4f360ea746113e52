"""What the host has, read through the drivers: the input of ``reconcile.plan`` besides the
``HostState``. Only our objects are read (see ``layout`` for the ownership rules), with one read
per namespace, so a resync of a busy host stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from v6fabric.agent import desired as want
from v6fabric.agent.actions import (
    AddNamespace,
    DeleteNamespace,
    PlugWorkload,
    ReloadDaemon,
    StartDaemon,
    StopDaemon,
    UnplugWorkload,
)
from v6fabric.agent.host import Drivers
from v6fabric.agent.layout import (
    DAEMON_KINDS,
    Layout,
    is_our_namespace,
    is_our_workload_namespace,
)
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.files import digest
from v6fabric.drivers.netlink import NetnsView
from v6fabric.hoststate.model import HostState

CONFIG_SUFFIXES = ("conf", "hosts", "opts")


@dataclass(frozen=True)
class DaemonObserved:
    """A daemon's files in its namespace's run directory and whether it runs."""

    pid: int | None
    files: frozenset[str] = frozenset()  # names in the directory that belong to this daemon
    digests: Mapping[str, str] = field(default_factory=dict)  # config file name -> digest
    loaded: str | None = None  # what the running daemon was started or reloaded with


@dataclass(frozen=True)
class Observed:
    """Our part of the host. ``netns`` has the host namespace (key ``layout.host_netns``, None
    for the root namespace) and each namespace of ours; ``namespaces`` lists only the latter."""

    layout: Layout
    namespaces: frozenset[str] = frozenset()
    netns: Mapping[str | None, NetnsView] = field(default_factory=dict)
    sysctls: Mapping[str | None, Mapping[str, str]] = field(default_factory=dict)
    daemons: Mapping[tuple[str, str], DaemonObserved] = field(default_factory=dict)
    daemon_dirs: frozenset[str] = frozenset()
    workloads: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def host(self) -> NetnsView:
        return self.netns.get(self.layout.host_netns) or NetnsView()

    def view(self, netns: str | None) -> NetnsView:
        return self.netns.get(netns) or NetnsView()


def touched(actions: Iterable[object], host_netns: str | None) -> set[str | None]:
    """The namespaces whose links, addresses, routes or sysctls ``actions`` may have changed."""
    names: set[str | None] = set()
    for action in actions:
        if isinstance(action, AddNamespace | DeleteNamespace):
            names.add(action.name)
        elif isinstance(action, PlugWorkload | UnplugWorkload):
            names.add(host_netns)  # the workload's tap appears in (or leaves) the host side
        for attr in ("netns", "peer_netns"):
            if hasattr(action, attr) and not isinstance(
                action, StartDaemon | StopDaemon | ReloadDaemon
            ):
                names.add(getattr(action, attr))
    return names


def _namespaces(drivers: Drivers, layout: Layout) -> frozenset[str]:
    names = {n for n in drivers.netlink.namespaces() if is_our_namespace(n)}
    if layout.scoped:
        names &= set(drivers.files.listdir(layout.namespace_claims))
    return frozenset(names)


def _daemons(drivers: Drivers, layout: Layout) -> tuple[dict, frozenset[str]]:
    files, found = drivers.files, {}
    dirs = frozenset(n for n in files.listdir(layout.netns_root) if is_our_namespace(n))
    for netns in dirs:
        names = files.listdir(layout.netns_dir(netns))
        for kind in DAEMON_KINDS:
            own = frozenset(n for n in names if n.startswith(f"{kind}."))
            if not own:
                continue
            digests = {}
            for suffix in CONFIG_SUFFIXES:
                text = files.read(layout.daemon_file(kind, netns, suffix))
                if text is not None:
                    digests[f"{kind}.{suffix}"] = digest(text)
            loaded = files.read(layout.daemon_file(kind, netns, "loaded"))
            found[(kind, netns)] = DaemonObserved(
                pid=drivers.processes.pid(layout.daemon_file(kind, netns, "pid")),
                files=own,
                digests=digests,
                loaded=loaded.strip() if loaded is not None else None,
            )
    return found, dirs


def _workloads(drivers: Drivers, layout: Layout) -> dict[str, str | None]:
    plugged = {n for n in drivers.workloads.plugged() if is_our_workload_namespace(n)}
    claims = {
        n: drivers.files.read(layout.workload_claims / n)
        for n in drivers.files.listdir(layout.workload_claims)
    }
    names = set(claims) if layout.scoped else plugged | set(claims)
    found: dict[str, str | None] = {}
    for name in names:
        claim = claims.get(name)
        found[name] = claim.strip() if claim is not None and name in plugged else None
    return found


def observe(
    drivers: Drivers,
    layout: Layout,
    state: HostState,
    *,
    previous: Observed | None = None,
    changed: set[str | None] | None = None,
) -> Observed:
    """Read our part of the host; ``state`` only says which sysctls are worth reading.

    With ``previous`` and ``changed``, only the namespaces in ``changed`` (those the agent's
    own actions touched since ``previous``) are read again: each read forks ``ip`` and
    ``sysctl``, and re-reading every namespace after each round was most of a pass.
    """
    namespaces = _namespaces(drivers, layout)

    def stale(name: str | None, seen: Mapping) -> bool:
        return previous is None or changed is None or name in changed or name not in seen

    netns: dict[str | None, NetnsView] = {}
    for name in [layout.host_netns, *sorted(namespaces)]:
        if not stale(name, previous.netns if previous else {}):
            netns[name] = previous.netns[name]  # type: ignore[union-attr]
            continue
        try:
            netns[name] = drivers.netlink.read(name)
        except CommandError:
            netns[name] = NetnsView()  # vanished while we looked: planned as missing
    sysctls = {}
    for name, keys in want.sysctl_keys(state, layout.host_netns).items():
        if name == layout.host_netns or name in namespaces:
            seen = previous.sysctls if previous else {}
            if not stale(name, seen) and set(keys) <= set(seen[name]):
                sysctls[name] = {k: seen[name][k] for k in keys}
                continue
            try:
                sysctls[name] = drivers.sysctls.read(name, keys)
            except CommandError:
                sysctls[name] = {}
    daemons, dirs = _daemons(drivers, layout)
    return Observed(
        layout=layout,
        namespaces=namespaces,
        netns=netns,
        sysctls=sysctls,
        daemons=daemons,
        daemon_dirs=dirs,
        workloads=_workloads(drivers, layout),
    )
