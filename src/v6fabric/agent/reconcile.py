"""The pure diff: ``plan(desired, observed)`` lists the actions that make the host match.

Order (DESIGN.md, Agent rules): deletes first, in reverse (daemons -> workloads -> routes ->
addresses -> links -> namespaces), then adds (namespaces -> links -> addresses -> routes ->
workloads -> daemon files -> daemons). Interface sysctls sit between creating an interface and
setting it up, because per-interface values must be written after the interface exists and
before its link-local is configured (dataplane.md §3). Only objects of ours (``layout``) are ever
deleted. The result is sorted, so equal inputs in any order give the same plan, and
``plan(desired, observed-after-applying-it) == []``.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from v6fabric.agent import desired as want
from v6fabric.agent import (
    firewall_loaded,
    metadata_proxy,
    neighbors,
    overlay,
    physical,
    plan_daemons,
    routes,
    segments,
)
from v6fabric.agent import plan_order as order
from v6fabric.agent.actions import (
    Action,
    AddAddress,
    AddBridge,
    AddNamespace,
    AddVeth,
    DeleteAddress,
    DeleteLink,
    DeleteNamespace,
    LoadFirewall,
    PlugWorkload,
    RemoveFirewall,
    SetBridgeOptions,
    SetLink,
    SetSysctls,
    UnplugWorkload,
)
from v6fabric.agent.layout import is_our_bridge, is_our_ns_link
from v6fabric.agent.observe import Observed
from v6fabric.drivers.netlink import Link, normalise_cidr
from v6fabric.hoststate.model import HostState
from v6fabric.metadata.config import Backend
from v6fabric.render.nftables import render_removal, render_update

log = logging.getLogger(__name__)

# Phases: deletes (reverse order) run before adds.
STOP, RMDIR, UNPLUG, DEL_ROUTE, DEL_ADDR, DEL_LINK, DEL_NS, DEL_FIREWALL = range(8)
# The firewall is in place before any workload is plugged: its first frame is already guarded.
(ADD_NS, NS_SYSCTL, ADD_LINK, IF_SYSCTL, SET_LINK, ADD_ADDR, ADD_ROUTE, FIREWALL, PLUG, FILES,
 DAEMON) = range(10, 21)  # fmt: skip


@dataclass
class _Plan:
    desired: HostState
    observed: Observed
    backend: Backend | None = None
    steps: list[tuple[int, str, order.Tail]] = field(default_factory=list)
    created: set[tuple[str | None, str]] = field(default_factory=set)  # links (re)made here

    @property
    def host(self) -> str | None:
        return self.observed.layout.host_netns

    def add(self, phase: int, action: Action) -> None:
        head = order.head(action)
        self.steps.append((phase, head, order.Tail(action, head)))

    def link(self, netns: str | None, name: str) -> Link | None:
        """The link as it will be before SET_LINK: None if missing or being recreated."""
        if (netns, name) in self.created:
            return None
        return self.observed.view(netns).links.get(name)

    def sort(self) -> list[Action]:
        """By phase, then by ``repr`` (``order`` gives that order without the repr of a big
        file's text or nft script)."""
        seen, ordered = set(), []
        for *_order, tail in sorted(self.steps):
            if tail.action not in seen:
                seen.add(tail.action)
                ordered.append(tail.action)
        return ordered


def plan(
    desired: HostState,
    observed: Observed,
    *,
    renderers: want.Renderers | None = None,
    metadata_backend: Backend | None = None,
    physical_interfaces: Iterable[str] = (),
) -> list[Action]:
    """The actions that turn ``observed`` into ``desired`` (pure; renders daemon configs).
    ``metadata_backend`` and ``physical_interfaces`` (the interfaces of its
    ``--physical-network`` mappings) are the agent's own settings (``metadata_proxy``,
    ``physical``)."""
    p = _Plan(desired, observed, metadata_backend)
    namespaces = want.namespaces(desired)
    _namespaces(p, namespaces)
    _bridges(p)
    _overlays(p)
    _segments(p)
    for action in physical.plan(
        desired, observed.host.links, p.host, p.created, physical_interfaces
    ):
        p.add(SET_LINK, action)
    _ports(p)
    _stray_links(p, namespaces)
    _sysctls(p, namespaces)
    _addresses(p)
    route_replaces, route_deletes = routes.plan(namespaces, observed)
    for route_op in route_deletes:
        p.add(DEL_ROUTE, route_op)
    for route_op in route_replaces:
        p.add(ADD_ROUTE, route_op)
    replaces, deletes = neighbors.plan(namespaces, observed, p.created)
    for op in deletes:
        p.add(DEL_ROUTE, op)
    for op in replaces:  # after the links and their addresses: with the routes
        p.add(ADD_ROUTE, op)
    _workloads(p)
    _firewall(p)
    if (
        desired.radvd
        or desired.dnsmasq
        or desired.vrrp
        or desired.metadata.listeners
        or observed.daemons
        or observed.daemon_dirs
    ):
        _daemons(p, renderers or want.default_renderers())
    return p.sort()


def _namespaces(p: _Plan, namespaces: dict) -> None:
    for name in namespaces:
        if name not in p.observed.namespaces:
            p.add(ADD_NS, AddNamespace(name))
            p.created.add((name, "lo"))
    for name in p.observed.namespaces - set(namespaces):
        p.add(DEL_NS, DeleteNamespace(name))
    for name in namespaces:
        lo = p.link(name, "lo")
        if lo is None or not lo.up:
            p.add(SET_LINK, SetLink(name, "lo", up=True))


def _set_link(
    p: _Plan, netns: str | None, name: str, current: Link | None, **want_: object
) -> None:
    """SetLink with only the attributes that differ from ``current``."""
    changes = {k: v for k, v in want_.items() if v is not None and getattr(current, k, None) != v}
    if changes:
        p.add(SET_LINK, SetLink(netns, name, **changes))  # type: ignore[arg-type]


def _bridges(p: _Plan) -> None:
    for bridge, net in want.networks(p.desired).items():
        link = p.link(p.host, bridge)
        if link is not None and link.kind != "bridge":
            p.add(DEL_LINK, DeleteLink(p.host, bridge))
            link = None
        if link is None:
            p.add(ADD_LINK, AddBridge(p.host, bridge, net.mtu))
            p.created.add((p.host, bridge))
            # an MTU given at creation follows the ports; one set afterwards sticks
            link = Link(bridge, 0, "bridge", "", 0, up=False, stp=False, forward_delay=0)
        elif link.stp or link.forward_delay:
            p.add(SET_LINK, SetBridgeOptions(p.host, bridge))
        _set_link(p, p.host, bridge, link, mtu=net.mtu, up=True)


def _overlays(p: _Plan) -> None:
    """VXLAN devices on their bridges and their forwarding tables (``overlay``)."""
    phases = {overlay.DELETE: DEL_LINK, overlay.CREATE: ADD_LINK, overlay.SETUP: SET_LINK}
    host = p.observed.host
    steps, made = overlay.plan(p.desired, host.links, p.observed.fdb, p.host, p.created)
    p.created |= made
    for step, action in steps:
        p.add(phases[step], action)


def _segments(p: _Plan) -> None:
    """GRE taps and VLAN sub-interfaces on their bridges (``segments``)."""
    phases = {
        segments.DELETE: DEL_LINK,
        segments.CREATE: ADD_LINK,
        segments.SETUP: SET_LINK,
        segments.PORT: ADD_ADDR,  # after SET_LINK: the tap is a bridge port by then
    }
    steps, made = segments.plan(p.desired, p.observed.host.links, p.host, p.created)
    p.created |= made
    for step, action in steps:
        p.add(phases[step], action)


def _ports(p: _Plan) -> None:
    host, created = p.host, p.created
    host_links, bridges = p.observed.view(host).links, want.bridges(p.desired)
    for port in p.desired.ports:  # every port, every round: kept to a few lookups each
        bridge = bridges.get(port.network_id) or want.bridge_of(p.desired, port)
        tap = None if (host, port.tap) in created else host_links.get(port.tap)  # p.link
        if port.kind == "workload" or not (port.namespace and port.ifname):
            if tap is not None and not (  # plugged: enslave it, as Nova's tap
                tap.master == bridge and tap.mtu == port.mtu and tap.up == port.admin_up
            ):  # (what ``_set_link`` would find: in place, the common case, costs no call)
                _set_link(p, host, port.tap, tap, master=bridge, mtu=port.mtu, up=port.admin_up)
            continue
        inside = p.link(port.namespace, port.ifname)
        if port.namespace not in p.observed.namespaces:
            inside = None
        if not (tap and tap.kind == "veth" and inside and inside.kind == "veth"):
            if tap is not None:
                p.add(DEL_LINK, DeleteLink(host, port.tap))
            if inside is not None:
                p.add(DEL_LINK, DeleteLink(port.namespace, port.ifname))
            p.add(
                ADD_LINK,
                AddVeth(host, port.tap, port.mtu, port.ifname, port.namespace, port.mac),
            )
            p.created |= {(host, port.tap), (port.namespace, port.ifname)}
            tap = Link(port.tap, 0, "veth", "", port.mtu, up=False)
            inside = Link(port.ifname, 0, "veth", port.mac.lower(), port.mtu, up=False)
        _set_link(p, host, port.tap, tap, master=bridge, mtu=port.mtu, up=port.admin_up)
        up = None if port.vrrp_managed else True  # an HA leg's link state is the hook's
        _set_link(p, port.namespace, port.ifname, inside, mac=port.mac.lower(), mtu=port.mtu, up=up)


def _stray_links(p: _Plan, namespaces: dict) -> None:
    """Our links that no spec wants. Host-side taps are never deleted by name: a router or DHCP
    tap dies with its namespace end (``qr-``/``ns-``, ours by name; or its whole namespace), a
    workload's tap with its workload, as a VM's tap belongs to its hypervisor."""
    bridges = set(want.networks(p.desired))  # (overlay devices: ``overlay.plan``)
    for name in p.observed.host.links:
        if is_our_bridge(name) and name not in bridges:
            p.add(DEL_LINK, DeleteLink(p.host, name))
    inside: dict[str | None, set[str]] = {}
    for port in want.veth_ports(p.desired):
        inside.setdefault(port.namespace, set()).add(port.ifname or "")
    for name in p.observed.namespaces:  # also in namespaces about to go: their veth pairs
        for ifname in p.observed.view(name).links:  # then vanish at once, not when the kernel
            if is_our_ns_link(ifname) and ifname not in inside.get(name, set()):  # frees the ns
                p.add(DEL_LINK, DeleteLink(name, ifname))


def _sysctls(p: _Plan, namespaces: dict) -> None:
    for name, spec in namespaces.items():
        current = p.observed.sysctls.get(name, {}) if name in p.observed.namespaces else {}
        diff = {k: v for k, v in want.namespace_sysctls(spec).items() if current.get(k) != v}
        if diff:
            p.add(NS_SYSCTL, SetSysctls(name, tuple(sorted(diff.items()))))
    for netns, interfaces in want.interface_sysctl_keys(p.desired, p.host).items():
        current = p.observed.sysctls.get(netns, {})
        links = p.observed.view(netns).links
        diff = {}
        for ifname, values in interfaces:
            created = (netns, ifname) in p.created
            if not created and ifname not in links:
                continue  # not there (a workload not plugged yet): nothing to set
            for key, value in values:
                if created or current.get(key) != value:
                    diff[key] = value
        if diff:
            p.add(IF_SYSCTL, SetSysctls(netns, tuple(sorted(diff.items()))))


@functools.lru_cache(maxsize=1 << 14)  # every address of every link, on every plan
def _is_link_local(cidr: str) -> bool:
    return ipaddress.ip_interface(cidr).ip.is_link_local


def _addresses(p: _Plan) -> None:
    """The ports' addresses, and the metadata service's where it listens; the kernel's own
    link-local stays, the metadata one (ours) goes when the interface stops serving. An HA
    leg's other addresses are keepalived's (on the master only): neither added nor removed."""
    serving = metadata_proxy.addresses(p.desired.metadata)
    for port in want.veth_ports(p.desired):
        ifname = port.ifname or ""
        link = p.link(port.namespace, ifname)
        have = set(link.addresses) if link is not None else set()
        if port.vrrp_managed:
            have &= {metadata_proxy.IPV6_CIDR, metadata_proxy.IPV4_CIDR}
        wanted = {normalise_cidr(a) for a in port.addresses}
        wanted.update(serving.get((port.namespace or "", ifname), ()))
        for cidr in sorted(wanted - have):
            deprecated = cidr == metadata_proxy.IPV6_CIDR  # serves, is never a source
            p.add(ADD_ADDR, AddAddress(port.namespace, ifname, cidr, deprecated))
        for cidr in sorted(have - wanted):
            if not _is_link_local(cidr) or cidr == metadata_proxy.IPV6_CIDR:
                p.add(DEL_ADDR, DeleteAddress(port.namespace, ifname, cidr))


def _workloads(p: _Plan) -> None:
    wanted = want.workloads(p.desired)
    ports = want.ports(p.desired)
    plugged = p.observed.workloads
    for name, spec, spec_digest in want.workload_digests(p.desired):
        if plugged.get(name) != spec_digest:
            bridges = tuple(
                (nic.tap, want.bridge_of(p.desired, ports[nic.port_id]))
                for nic in spec.interfaces
                if nic.port_id in ports and ports[nic.port_id].admin_up
            )
            p.add(PLUG, PlugWorkload(spec, spec_digest, bridges))
    for name in plugged.keys() - wanted.keys():
        p.add(UNPLUG, UnplugWorkload(name))


def _firewall(p: _Plan) -> None:
    """Loaded is known by the digest of the spec it came from (rendering a big ruleset just to
    compare it costs more than the update). A change is one transaction on the loaded tables:
    elements and the chains that changed (``render_update``); the whole ruleset only for a first
    load or when the tables' shape changed. Established flows survive both."""
    spec, seen = p.desired.firewall, p.observed.firewall
    if not spec.ports:
        if seen.loaded is not None:
            p.add(DEL_FIREWALL, RemoveFirewall(render_removal()))
        return
    loaded = firewall_loaded.firewall_digest(spec)
    if seen.loaded == loaded:
        return
    try:
        script = None
        if seen.loaded is not None and seen.spec is not None:
            with contextlib.suppress(ValueError):  # the tables' shape changed: replace them
                script = render_update(seen.spec, spec)
        if script is None:
            script = firewall_loaded.firewall_ruleset(spec)
    except ValueError as exc:  # a compiler bug: keep what is loaded, say why, plan the rest
        log.error("firewall cannot be rendered, left as it is: %s", exc)
        return
    p.add(FIREWALL, LoadFirewall(script, loaded, spec, base=seen.spec))  # seen: what files hold


def _daemons(p: _Plan, renderers: want.Renderers) -> None:
    """The daemons, their files and run directories (``plan_daemons``)."""
    phases = {
        plan_daemons.STOP: STOP,
        plan_daemons.RMDIR: RMDIR,
        plan_daemons.FILES: FILES,
        plan_daemons.DAEMON: DAEMON,
    }
    for step, action in plan_daemons.plan(p.desired, p.observed, renderers, p.backend, p.created):
        p.add(phases[step], action)
