"""What the host has, read through the drivers: the input of ``reconcile.plan`` besides the
``HostState``. Only our objects are read (see ``layout`` for the ownership rules), with one read
per namespace, so a resync of a busy host stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from v6fabric.agent import desired as want
from v6fabric.agent import overlay, physical, segments
from v6fabric.agent.actions import (
    AddFdb,
    AddNamespace,
    AddVeth,
    AddVxlan,
    DeleteFdb,
    DeleteNamespace,
    PlugWorkload,
    ReloadDaemon,
    RemoveDir,
    RemoveFile,
    SetSysctls,
    StartDaemon,
    StopDaemon,
    UnplugWorkload,
    WriteFile,
)
from v6fabric.agent.host import Drivers
from v6fabric.agent.layout import (
    DAEMON_KINDS,
    HOST_DAEMON_DIR,
    HOST_DAEMON_KINDS,
    Layout,
    is_our_namespace,
    is_our_workload_namespace,
)
from v6fabric.agent.observe_firewall import FirewallObserved, observe_firewall
from v6fabric.agent.observe_sysctls import refresh_sysctls, sysctl_ifname
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.fdb import FdbEntries
from v6fabric.drivers.files import digest
from v6fabric.drivers.netlink import NetnsView
from v6fabric.hoststate.model import HostState

CONFIG_SUFFIXES = ("conf", "hosts", "opts", "notify")  # "notify": keepalived's hook


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
    daemons: Mapping[tuple[str, str | None], DaemonObserved] = field(default_factory=dict)
    daemon_dirs: frozenset[str] = frozenset()
    workloads: Mapping[str, str | None] = field(default_factory=dict)
    firewall: FirewallObserved = field(default_factory=FirewallObserved)
    fdb: Mapping[str, FdbEntries] = field(default_factory=dict)  # overlay device -> our entries

    @property
    def host(self) -> NetnsView:
        return self.netns.get(self.layout.host_netns) or NetnsView()

    def view(self, netns: str | None) -> NetnsView:
        return self.netns.get(netns) or NetnsView()


@dataclass
class Stale:
    """What to read again since a previous ``Observed``: whole namespaces, and single links
    (with their interface sysctls) where a namespace is too big to re-read for one change."""

    namespaces: set[str | None] = field(default_factory=set)
    links: dict[str | None, set[str]] = field(default_factory=dict)
    daemons: set[str | None] = field(default_factory=set)  # whose daemon files changed
    workloads: set[str] = field(default_factory=set)  # workload claims written or removed
    fdb: set[str] = field(default_factory=set)  # overlay devices whose table changed

    def link(self, netns: str | None, name: str) -> None:
        self.links.setdefault(netns, set()).add(name)

    def merged(self, other: Stale) -> Stale:
        """Both: what either names is read again."""
        both = Stale(
            namespaces=self.namespaces | other.namespaces,
            daemons=self.daemons | other.daemons,
            workloads=self.workloads | other.workloads,
            fdb=self.fdb | other.fdb,
        )
        for netns, names in (*self.links.items(), *other.links.items()):
            if netns not in both.namespaces:
                both.links.setdefault(netns, set()).update(names)
        return both


def touched(actions: Iterable[object], host_netns: str | None) -> Stale:
    """What ``actions`` may have changed. In the host namespace, where every port of the host
    has its tap, only the links they name; elsewhere (a router's or DHCP's namespace, a handful
    of links) the whole namespace."""
    stale = Stale()
    for action in actions:
        if isinstance(action, StartDaemon | StopDaemon | ReloadDaemon):
            stale.daemons.add(action.netns)
            continue
        if isinstance(action, WriteFile | RemoveFile | RemoveDir):
            name = action.path.name if isinstance(action, RemoveDir) else action.path.parent.name
            stale.daemons.add(None if name == HOST_DAEMON_DIR else name)
            continue
        if isinstance(action, AddFdb | DeleteFdb):
            stale.fdb.add(action.device)
            continue
        if isinstance(action, AddVxlan):  # a new device: an empty table
            stale.fdb.add(action.name)
        if isinstance(action, AddNamespace | DeleteNamespace):
            stale.namespaces.add(action.name)
            stale.daemons.add(action.name)
        elif isinstance(action, PlugWorkload):
            stale.workloads.add(action.spec.namespace)
            for nic in action.spec.interfaces:  # its taps appear in the host namespace
                stale.link(host_netns, nic.tap)
        elif isinstance(action, UnplugWorkload):
            stale.workloads.add(action.namespace)
            stale.namespaces.add(host_netns)  # its taps leave; their names are not at hand
        elif isinstance(action, SetSysctls) and action.netns == host_netns:
            for key, _value in action.values:
                ifname = sysctl_ifname(key)
                if ifname is None:
                    stale.namespaces.add(host_netns)
                else:
                    stale.link(host_netns, ifname)
        elif getattr(action, "netns", 0) == host_netns and hasattr(action, "name"):
            stale.link(host_netns, action.name)  # type: ignore[attr-defined]
        elif hasattr(action, "netns"):
            stale.namespaces.add(action.netns)  # type: ignore[attr-defined]
        if isinstance(action, AddVeth):
            stale.namespaces.add(action.peer_netns)
    for netns in stale.namespaces:
        stale.links.pop(netns, None)
    return stale


def unsettled(state: HostState, previous: Observed) -> Stale:
    """The host-side links worth a look at the start of a pass: those of this state that were
    missing or not yet in place when last read. Someone else (a hypervisor) may have plugged a
    tap since; a tap that was in place is trusted until the next full read."""
    stale = Stale()
    links, host = previous.host.links, previous.layout.host_netns
    plugged = previous.workloads
    to_plug = {  # plugging them re-reads their taps anyway
        nic.tap
        for name, w, digest_ in want.workload_digests(state)
        if plugged.get(name) != digest_
        for nic in w.interfaces
    }
    for bridge in want.networks(state):
        link = links.get(bridge)
        if link is None or not link.up:
            stale.link(host, bridge)
    bridges = want.bridges(state)
    for port in state.ports:
        tap = links.get(port.tap)
        if port.tap in to_plug:
            continue
        bridge = bridges.get(port.network_id) or want.bridge_of(state, port)
        if tap is None or tap.up != port.admin_up or tap.master != bridge:
            stale.link(host, port.tap)
    for iface in physical.unsettled(state, links) + segments.unsettled(state, links):
        stale.link(host, iface)
    return stale


def _namespaces(drivers: Drivers, layout: Layout) -> frozenset[str]:
    names = {n for n in drivers.netlink.namespaces() if is_our_namespace(n)}
    if layout.scoped:
        names &= set(drivers.files.listdir(layout.namespace_claims))
    return frozenset(names)


def _daemons(
    drivers: Drivers, layout: Layout, previous: Observed | None, stale: Stale | None
) -> tuple[dict, frozenset[str]]:
    """Daemon files and pids. Pids are checked every time (a daemon may die by itself); files
    are written only by the agent, so incrementally only those of namespaces its actions
    touched, and of new ones, are read again. The host-wide daemons' directory is keyed None."""
    files, found = drivers.files, {}
    dirs = frozenset(n for n in files.listdir(layout.netns_root) if is_our_namespace(n))
    places: list[tuple[str | None, tuple[str, ...]]] = [(n, DAEMON_KINDS) for n in dirs]
    places.append((None, HOST_DAEMON_KINDS))
    for netns, kinds in places:
        if previous is not None and stale is not None and netns not in stale.daemons:
            kept = {k: v for k, v in previous.daemons.items() if k[1] == netns}
            if kept or netns in previous.daemon_dirs or netns is None:
                for (kind, _ns), seen in kept.items():
                    pid = drivers.processes.pid(layout.daemon_file(kind, netns, "pid"))
                    found[(kind, netns)] = dataclasses.replace(seen, pid=pid)
                continue
        names = files.listdir(layout.daemon_dir(netns))
        for kind in kinds:
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


def _workloads(
    drivers: Drivers, layout: Layout, previous: Observed | None, stale: Stale | None
) -> dict[str, str | None]:
    """Workload namespace -> the digest it was plugged with (None: not plugged). Claims are
    written only by the agent, so incrementally only those its actions touched are read."""
    plugged = {n for n in drivers.workloads.plugged() if is_our_workload_namespace(n)}
    known = previous.workloads if previous is not None and stale is not None else {}
    touched_claims = stale.workloads if stale is not None else set()

    def claim(name: str) -> str | None:
        text = drivers.files.read(layout.workload_claims / name)
        return text.strip() if text is not None else None

    claimed = set(drivers.files.listdir(layout.workload_claims))
    names = claimed if layout.scoped else plugged | claimed
    found: dict[str, str | None] = {}
    for name in names:  # every workload, every read: a lookup each when unchanged
        if name in claimed and name in plugged:
            kept = known.get(name)
            found[name] = kept if kept is not None and name not in touched_claims else claim(name)
        else:
            found[name] = None
    return found


def observe(
    drivers: Drivers,
    layout: Layout,
    state: HostState,
    *,
    previous: Observed | None = None,
    stale: Stale | None = None,
) -> Observed:
    """Read our part of the host; ``state`` only says which sysctls are worth reading.

    With ``previous`` and ``stale``, only what ``stale`` names (what the agent's own actions
    touched since ``previous``, or what was not in place then) is read again, and namespaces
    ``previous`` did not have: re-reading everything after each round was most of a pass.
    What is kept is not walked again: a round costs what it touched, plus a lookup per link,
    key and workload.
    """
    namespaces = _namespaces(drivers, layout)
    incremental = previous is not None and stale is not None
    whole = stale.namespaces if stale is not None else set()
    links_of = stale.links if stale is not None else {}
    seen_netns = previous.netns if previous is not None else {}
    seen_sysctls = previous.sysctls if previous is not None else {}
    netns: dict[str | None, NetnsView] = {}
    for name in [layout.host_netns, *sorted(namespaces)]:
        if incremental and name not in whole and name in seen_netns:
            netns[name] = _refresh_links(drivers, name, seen_netns[name], links_of.get(name))
            continue
        try:
            netns[name] = drivers.netlink.read(name)
        except CommandError:
            netns[name] = NetnsView()  # vanished while we looked: planned as missing
    sysctls: dict[str | None, Mapping[str, str]] = {}
    for name, keys in want.sysctl_keys(state, layout.host_netns).items():
        if name != layout.host_netns and name not in namespaces:
            continue
        seen = seen_sysctls.get(name)
        if incremental and name not in whole and seen is not None:
            touched_links = links_of.get(name, set())
            sysctls[name] = refresh_sysctls(
                drivers, name, keys, seen, touched_links, netns[name].links
            )
            continue
        try:
            fresh = drivers.sysctls.read(name, list(keys)) if keys else {}
        except CommandError:
            fresh = {}
        sysctls[name] = {k: fresh[k] for k in keys if k in fresh}  # a missing interface's: absent
    daemons, dirs = _daemons(drivers, layout, previous, stale)
    host = layout.host_netns  # tables change only by our actions: kept unless one touched them
    fdb = overlay.observe_fdb(
        drivers,
        host,
        netns[host],
        previous.fdb if previous is not None and incremental else None,
        stale.fdb if stale is not None else None,
    )
    return Observed(
        layout=layout,
        namespaces=namespaces,
        netns=netns,
        sysctls=sysctls,
        daemons=daemons,
        daemon_dirs=dirs,
        workloads=_workloads(drivers, layout, previous, stale),
        firewall=observe_firewall(drivers, layout, full=not incremental),
        fdb=fdb,
    )


def _refresh_links(
    drivers: Drivers, netns: str | None, seen: NetnsView, names: set[str] | None
) -> NetnsView:
    if not names:
        return seen
    try:
        fresh = drivers.netlink.read_links(netns, sorted(names))
    except CommandError:
        fresh = {}
    links = dict(seen.links)  # a copy, then the few names: not a walk of every link
    for name in names:
        links.pop(name, None)
    links.update(fresh)
    # A link that went (a bridge) took its ports' master with it, and those ports need not be
    # among the names (a still-plugged workload's tap whose port left this host): read them.
    gone = {name for name in names if name not in fresh}
    orphans = sorted(n for n, link in links.items() if link.master in gone) if gone else []
    if orphans:
        for name in orphans:
            links.pop(name, None)
        with contextlib.suppress(CommandError):
            links.update(drivers.netlink.read_links(netns, orphans))
    # the kernel flushes a link's neighbours with it (set down: only from our own actions,
    # which re-read the whole namespace)
    neighbors = tuple(n for n in seen.neighbors if n.ifname not in gone)
    return NetnsView(links=links, routes=seen.routes, neighbors=neighbors)
