"""What a ``HostState`` asks of this host, spelled in the agent's terms (pure).

Namespaces with their sysctls, interface sysctls, and the daemons with the exact files they
need. The renderers are passed in (``Renderers``) so that tests can use stand-ins.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from v6fabric.agent import segments
from v6fabric.agent.layout import Layout
from v6fabric.drivers.files import digest
from v6fabric.hoststate import codec
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import (
    DnsmasqSpec,
    HostState,
    NamespaceSpec,
    NetworkSpec,
    PortSpec,
    RadvdSpec,
    WorkloadSpec,
    bridge_name,
)
from v6fabric.render.dnsmasq import needs_restart

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Renderers:
    radvd: Callable[[RadvdSpec], str]
    dnsmasq_conf: Callable[
        ..., str
    ]  # (spec, *, pid_file, lease_file, hosts_file, opts_file, log_file)
    dnsmasq_hosts: Callable[[DnsmasqSpec], str]
    dnsmasq_opts: Callable[[DnsmasqSpec], str]


def default_renderers() -> Renderers:
    """The ``render`` package's functions (imported here, when first needed)."""
    from v6fabric import render

    return Renderers(
        radvd=render.render_radvd,
        dnsmasq_conf=render.render_dnsmasq_conf,
        dnsmasq_hosts=render.render_dnsmasq_hosts,
        dnsmasq_opts=render.render_dnsmasq_opts,
    )


# What plans and observes derive from a state, kept per state *object*: a plan asks on every
# round and observe on every read of one pass, and the agent holds the very same state object
# through it. The values are shared: callers must not change them.
_DERIVED = IdentityMemo(4)


def _derived(state: HostState, key: object, make: Callable[[], T]) -> T:
    found: dict[object, Any] = _DERIVED.get(state, dict)
    if key not in found:
        found[key] = make()
    return found[key]  # type: ignore[no-any-return]


def networks(state: HostState) -> dict[str, NetworkSpec]:
    """Bridges by name; a port's network missing from ``networks`` still gets its bridge."""
    return _derived(state, "networks", lambda: _networks(state))


def _networks(state: HostState) -> dict[str, NetworkSpec]:
    found = {net.bridge: net for net in state.networks}
    by_id = {net.network_id for net in state.networks}
    for port in state.ports:
        if port.network_id not in by_id:
            bridge = bridge_name(port.network_id)
            found.setdefault(bridge, NetworkSpec(port.network_id, bridge, port.mtu))
    return found


def bridge_of(state: HostState, port: PortSpec) -> str:
    bridge = bridges(state).get(port.network_id)
    return bridge if bridge is not None else bridge_name(port.network_id)


def bridges(state: HostState) -> dict[str, str]:
    """Network id -> the bridge of its first spec (``bridge_of`` for the networks listed)."""
    return _derived(state, "bridges", lambda: _bridges(state))


def _bridges(state: HostState) -> dict[str, str]:
    found: dict[str, str] = {}
    for net in state.networks:
        found.setdefault(net.network_id, net.bridge)
    return found


def ports(state: HostState) -> dict[str, PortSpec]:
    """By port id."""
    return _derived(state, "ports", lambda: {port.port_id: port for port in state.ports})


def workloads(state: HostState) -> dict[str, WorkloadSpec]:
    """By namespace."""
    return _derived(state, "workloads", lambda: {w.namespace: w for w in state.workloads})


def workload_digests(state: HostState) -> tuple[tuple[str, WorkloadSpec, str], ...]:
    """(namespace, spec, ``workload_digest``) of each workload, one per namespace (the last)."""
    return _derived(
        state,
        "workload digests",
        lambda: tuple((name, w, workload_digest(w)) for name, w in workloads(state).items()),
    )


def veth_ports(state: HostState) -> tuple[PortSpec, ...]:
    """Router and DHCP ports: the agent creates their veth pair."""
    return _derived(
        state,
        "veth ports",
        lambda: tuple(p for p in state.ports if p.kind != "workload" and p.namespace and p.ifname),
    )


def namespaces(state: HostState) -> dict[str, NamespaceSpec]:
    """Every router/DHCP namespace the state mentions, with its spec (a default when only a
    port or a daemon names it)."""
    return _derived(state, "namespaces", lambda: _namespaces(state))


def _namespaces(state: HostState) -> dict[str, NamespaceSpec]:
    found = {ns.name: ns for ns in state.namespaces}
    mentioned = [p.namespace for p in veth_ports(state)]
    mentioned += [r.namespace for r in state.radvd] + [d.namespace for d in state.dnsmasq]
    mentioned += [v.namespace for v in state.vrrp]
    for name in mentioned:
        if name:
            found.setdefault(name, NamespaceSpec(name))
    return found


def namespace_sysctls(spec: NamespaceSpec) -> dict[str, str]:
    """Set right after the namespace is created, before any interface exists in it, so that
    ``default`` values reach every interface created later (dataplane.md §3)."""
    forwarding = "1" if spec.forwarding else "0"
    return {
        "net.ipv6.conf.all.forwarding": forwarding,
        "net.ipv4.ip_forward": forwarding,
        "net.ipv6.conf.default.accept_ra": "0",
        "net.ipv6.conf.default.accept_dad": "0",
        "net.ipv6.conf.all.keep_addr_on_down": "1",
    }


def interface_sysctls(
    state: HostState, host_netns: str | None
) -> dict[str | None, dict[str, dict[str, str]]]:
    """Per namespace, per interface: router/DHCP interfaces take no RA and skip DAD (their
    link-locals must be usable before radvd/dnsmasq start: dataplane.md §1-3), except a
    router's ``ra_uplink``, which takes its default route from the upstream's RAs
    (``accept_ra=2``: the namespace forwards) but no SLAAC address (``autoconf=0``: one the API
    does not know would be deleted by the agent and re-added by the kernel at every RA); bridges
    and host-side taps, overlay devices and physical interfaces have IPv6 disabled so they
    neither send RS nor take addresses (§2). An HA router's legs (``vrrp_managed``) send
    unsolicited NAs when they come up on a new master (``ndisc_notify``: the hook sets it too,
    before it raises them)."""
    return _derived(
        state, ("interface sysctls", host_netns), lambda: _if_sysctls(state, host_netns)
    )


def _if_sysctls(
    state: HostState, host_netns: str | None
) -> dict[str | None, dict[str, dict[str, str]]]:
    found: dict[str | None, dict[str, dict[str, str]]] = {host_netns: {}}
    host = found[host_netns]
    for bridge in networks(state):
        host[bridge] = {"disable_ipv6": "1"}
    for net in state.networks:  # an overlay device is a bridge port as the taps
        if net.overlay is not None and net.overlay.kind == "vxlan":  # GRE's: ``segments``
            host[net.overlay.device] = {"disable_ipv6": "1"}
        if net.physical_interface and net.vlan is None:  # a bridge port too: no IPv6 on it
            host[net.physical_interface] = {"disable_ipv6": "1"}
    for name in segments.desired(state):  # GRE taps, VLAN sub-interfaces: bridge ports
        host[name] = {"disable_ipv6": "1"}
    for port in state.ports:
        host[port.tap] = {"disable_ipv6": "1"}
    for workload in state.workloads:
        for nic in workload.interfaces:
            host[nic.tap] = {"disable_ipv6": "1"}
    uplinks = {(ns.name, ns.ra_uplink) for ns in state.namespaces if ns.ra_uplink}
    for port in veth_ports(state):
        ifname = port.ifname or ""
        values = (
            {"accept_ra": "2", "autoconf": "0", "accept_dad": "0"}
            if (port.namespace, ifname) in uplinks
            else {"accept_ra": "0", "accept_dad": "0"}
        )
        if port.vrrp_managed:
            values["ndisc_notify"] = "1"
        found.setdefault(port.namespace, {})[ifname] = values
    return found


def interface_sysctl_keys(
    state: HostState, host_netns: str | None
) -> dict[str | None, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]:
    """``interface_sysctls`` with the keys spelled: per namespace, (interface, ((key, value),
    ...)) in the same order."""
    return _derived(
        state,
        ("interface sysctl keys", host_netns),
        lambda: {
            netns: tuple(
                (ifname, tuple((sysctl_key(ifname, attr), v) for attr, v in attrs.items()))
                for ifname, attrs in interfaces.items()
            )
            for netns, interfaces in interface_sysctls(state, host_netns).items()
        },
    )


def sysctl_key(ifname: str, attr: str) -> str:
    return f"net.ipv6.conf.{ifname}.{attr}"


def sysctl_keys(state: HostState, host_netns: str | None) -> dict[str | None, list[str]]:
    """The keys ``observe`` reads: exactly those the plan compares."""
    return _derived(state, ("sysctl keys", host_netns), lambda: _sysctl_keys(state, host_netns))


def _sysctl_keys(state: HostState, host_netns: str | None) -> dict[str | None, list[str]]:
    keys: dict[str | None, list[str]] = {}
    for name, spec in namespaces(state).items():
        keys[name] = sorted(namespace_sysctls(spec))
    for netns, interfaces in interface_sysctls(state, host_netns).items():
        keys.setdefault(netns, []).extend(
            sysctl_key(ifname, attr) for ifname, attrs in interfaces.items() for attr in attrs
        )
    return keys


@dataclass(frozen=True)
class DaemonDesired:
    """One daemon: its files (written only when their text changes) and how to run it.

    ``conf_digest`` changes need a restart (dnsmasq) or SIGHUP (radvd); ``data_digest``
    (dnsmasq hosts and options files) only ever needs SIGHUP."""

    kind: str
    netns: str | None  # None: the agent's own namespace (a host-wide daemon)
    files: tuple[tuple[Path, str], ...]
    argv: tuple[str, ...]
    pid_file: Path
    log_file: Path
    marker: Path
    conf_digest: str
    data_digest: str
    interfaces: tuple[str, ...]
    clear: tuple[Path, ...] = ()  # stale files removed before a start (keepalived's pid files)
    # started and killed by an HA router's notify hook, never by the agent (an HA router's
    # radvd runs on the VRRP master only): the agent writes its files and SIGHUPs it if it runs
    hooked: bool = False

    @property
    def loaded(self) -> str:
        return f"{self.conf_digest} {self.data_digest}".strip()


@functools.lru_cache(maxsize=256)  # asked on every plan; changes only with its spec
def _radvd(spec: RadvdSpec, layout: Layout, render: Renderers) -> DaemonDesired:
    def path(suffix: str) -> Path:
        return layout.daemon_file("radvd", spec.namespace, suffix)

    conf = render.radvd(spec)
    argv = ("radvd", "-C", str(path("conf")), "-p", str(path("pid")))
    return DaemonDesired(
        kind="radvd",
        netns=spec.namespace,
        files=((path("conf"), conf),),
        argv=(*argv, "-m", "logfile", "-l", str(path("log"))),
        pid_file=path("pid"),
        log_file=path("log"),
        marker=path("loaded"),
        conf_digest=digest(conf),
        data_digest="",
        interfaces=tuple(i.ifname for i in spec.interfaces),
        hooked=spec.vrrp,
    )


@functools.lru_cache(maxsize=256)  # asked on every plan; changes only with its spec
def _dnsmasq(spec: DnsmasqSpec, layout: Layout, render: Renderers) -> DaemonDesired:
    def path(suffix: str) -> Path:
        return layout.daemon_file("dnsmasq", spec.namespace, suffix)

    conf = render.dnsmasq_conf(
        spec,
        pid_file=path("pid"),
        lease_file=path("leases"),
        hosts_file=path("hosts"),
        opts_file=path("opts"),
        log_file=path("log"),
    )
    hosts, opts = render.dnsmasq_hosts(spec), render.dnsmasq_opts(spec)
    return DaemonDesired(
        kind="dnsmasq",
        netns=spec.namespace,
        files=((path("conf"), conf), (path("hosts"), hosts), (path("opts"), opts)),
        argv=("dnsmasq", f"--conf-file={path('conf')}"),
        pid_file=path("pid"),
        log_file=path("log"),
        marker=path("loaded"),
        # a hosts file that sets tags is part of what needs a restart (``needs_restart``)
        conf_digest=digest(conf + hosts) if needs_restart(hosts) else digest(conf),
        data_digest=digest(hosts + "\0" + opts),
        interfaces=(spec.interface,),
    )


def daemons(
    state: HostState, layout: Layout, render: Renderers
) -> dict[tuple[str, str | None], DaemonDesired | str]:
    """Each daemon the state wants, or the reason its config cannot be rendered (a renderer's
    ValueError): such a daemon is left as it is, neither rewritten nor stopped. A new dict of
    shared values (the caller may add to it)."""
    return dict(
        _derived(state, ("daemons", layout, render), lambda: _daemons(state, layout, render))
    )


def _daemons(
    state: HostState, layout: Layout, render: Renderers
) -> dict[tuple[str, str | None], DaemonDesired | str]:
    found: dict[tuple[str, str | None], DaemonDesired | str] = {}
    for kind, specs, build in (
        ("radvd", state.radvd, _radvd),
        ("dnsmasq", state.dnsmasq, _dnsmasq),
    ):
        for spec in specs:
            try:
                found[(kind, spec.namespace)] = build(spec, layout, render)  # type: ignore[operator]
            except ValueError as exc:
                log.error("cannot render %s for %s: %s", kind, spec.namespace, exc)
                found[(kind, spec.namespace)] = str(exc)
    return found


# a plan asks for every workload on every round, and an unchanged state section keeps its
# objects, where a lookup by value hashes every spec each time
_WORKLOAD_DIGESTS = IdentityMemo(8192)
# a section decoded anew holds new objects equal to the old: by namespace, compared (cheaper
# than hashing them for a lookup by value)
_WORKLOAD_DIGESTS_BY_NAMESPACE: dict[str, tuple[WorkloadSpec, str]] = {}


def workload_digest(spec: WorkloadSpec) -> str:
    """What a workload was plugged with: a changed spec is plugged again (plug is idempotent)."""
    return _WORKLOAD_DIGESTS.get(spec, lambda: _workload_digest(spec))


def _workload_digest(spec: WorkloadSpec) -> str:
    known = _WORKLOAD_DIGESTS_BY_NAMESPACE.get(spec.namespace)
    if known is not None and known[0] == spec:
        return known[1]
    found = digest(json.dumps(codec.to_dict(spec), sort_keys=True))
    if len(_WORKLOAD_DIGESTS_BY_NAMESPACE) >= 8192:
        _WORKLOAD_DIGESTS_BY_NAMESPACE.clear()
    _WORKLOAD_DIGESTS_BY_NAMESPACE[spec.namespace] = (spec, found)
    return found
