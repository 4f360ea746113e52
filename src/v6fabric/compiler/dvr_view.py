"""Distributed routers (R20) as the rest of a host's state sees them: which routers are
distributed, where their instances are (``dvr_hosts``), which of their legs are on a network and
with which MAC (``dvr_legs_on``, for the overlay), and what the firewall keeps on the host
(``local_only``, ``uplinks``). Found once per compile (per ``Index`` object).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from v6fabric.compiler.index import Index, PortView
from v6fabric.compiler.links import gateway_ports
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.domain.constants import ROUTER_INTERFACE_OWNERS
from v6fabric.hoststate.dvr import central_leg_id, central_leg_mac, host_leg_mac
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.metadata import METADATA_IPV6
from v6fabric.hoststate.model import CENTRAL_IF_PREFIX, ID_CHARS, NetworkSpec, gre_name, vlan_name

HostsOf = Callable[[str], tuple[str, ...]]


@dataclass
class _Routers:
    """Every router's interface ports (on known networks), found once per index; the rest
    on demand."""

    interfaces: dict[str, tuple[PortView, ...]]
    hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gateways: dict[str, PortView] | None = None
    # the interfaces of the distributed routers that are up, by network
    running: dict[str, tuple[PortView, ...]] | None = None


_VIEWS = IdentityMemo(4)


def _view(index: Index) -> _Routers:
    return _VIEWS.get(index, lambda: _build(index))


def _build(index: Index) -> _Routers:
    found: dict[str, list[PortView]] = {}
    for port in index.ports:
        if port.device_owner in ROUTER_INTERFACE_OWNERS and port.network_id in index.networks:
            found.setdefault(port.device_id, []).append(port)
    return _Routers({router_id: tuple(ports) for router_id, ports in found.items()})


def any_distributed(index: Index) -> bool:
    return any(router.distributed for router in index.routers.values())


def is_distributed(index: Index, router_id: str) -> bool:
    router = index.routers.get(router_id)
    return router is not None and router.distributed


def is_dvr_leg(index: Index, port: PortView) -> bool:
    """An interface of a distributed router: its MAC is per host, never the API's."""
    return port.device_owner in ROUTER_INTERFACE_OWNERS and is_distributed(index, port.device_id)


def dvr_hosts(index: Index, router_id: str) -> tuple[str, ...]:
    """The hosts (sorted) with a bound workload port on one of the router's interface
    networks: where a distributed router has an instance."""
    view = _view(index)
    found = view.hosts.get(router_id)
    if found is None:
        networks = {port.network_id for port in view.interfaces.get(router_id, ())}
        found = tuple(
            sorted(
                {
                    port.host
                    for network_id in networks
                    for port in index.ports_by_network.get(network_id, ())
                    if port.host and not port.network_owned
                }
            )
        )
        view.hosts[router_id] = found
    return found


def distributed_gateways(index: Index) -> dict[str, PortView]:
    view = _view(index)
    if view.gateways is None:
        view.gateways = gateway_ports(index)
    return view.gateways


def central_networks(index: Index, router_id: str) -> dict[str, PortView]:
    """Network id -> the interface port holding the router's IPv6 subnets there, sorted by
    network id: the networks of the central instance's ``sg-`` legs."""
    found = {
        port.network_id: port
        for port in _view(index).interfaces.get(router_id, ())
        if any(subnet.ip_version == 6 for subnet in index.port_subnets(port))
    }
    return dict(sorted(found.items()))


def central_ifname(router_id: str, network_id: str) -> str:
    return CENTRAL_IF_PREFIX + central_leg_id(router_id, network_id)[:ID_CHARS]


def interface_ports(index: Index, router_id: str) -> tuple[PortView, ...]:
    """The router's interface ports on known networks, by id."""
    return _view(index).interfaces.get(router_id, ())


# --- what other hosts and the firewall see ------------------------------------------------


def _running_on(index: Index, network_id: str) -> tuple[PortView, ...]:
    """The interfaces on the network of the distributed routers that are up."""
    view = _view(index)
    if view.running is None:
        found: dict[str, list[PortView]] = {}
        for router_id, ports in view.interfaces.items():
            router = index.routers.get(router_id)
            if router is not None and router.distributed and router.admin_up:
                for port in ports:
                    found.setdefault(port.network_id, []).append(port)
        view.running = {key: tuple(ports) for key, ports in found.items()}
    return view.running.get(network_id, ())


def dvr_legs_on(index: Index, network_id: str, router_hosts: HostsOf) -> list[tuple[str, str]]:
    """``(host, MAC)`` of every distributed router leg on the network: each instance's
    interface (``host_leg_mac``) and each central leg on its router's scheduled host."""
    found = []
    ports = _running_on(index, network_id)
    for port in ports:
        found += [
            (where, host_leg_mac(where, port.id)) for where in dvr_hosts(index, port.device_id)
        ]
    gateways = distributed_gateways(index)
    for router_id in sorted({port.device_id for port in ports}):
        if router_id in gateways and network_id in central_networks(index, router_id):
            mac = central_leg_mac(router_id, network_id)
            found += [(where, mac) for where in router_hosts(router_id)]
    return found


def local_only(index: Index, network_id: str) -> tuple[str, ...]:
    """Addresses whose neighbour discovery must stay on the host (``FirewallNetwork``): the
    gateway addresses of the distributed routers (up) on the network, their legs' shared
    link-locals, and the metadata address they serve. Empty without one."""
    found: set[str] = set()
    for port in _running_on(index, network_id):
        found.update(str(ip.address) for ip in port.fixed_ips)
        if port.mac:
            found.add(str(eui64_link_local(port.mac)))
        found.add(METADATA_IPV6)
    return tuple(sorted(found))


def uplinks(spec: NetworkSpec) -> tuple[str, ...]:
    """The network's bridge ports that lead off the host, as the agent names them: the VXLAN
    device, a GRE tap per remote, a flat network's interface or a vlan one's sub-interface."""
    found = []
    overlay = spec.overlay
    if overlay is not None and overlay.kind == "gre":
        found += [gre_name(spec.network_id, remote) for remote in overlay.remotes]
    elif overlay is not None:
        found.append(overlay.device)
    if spec.physical_interface and spec.vlan is not None:
        found.append(vlan_name(spec.network_id))
    elif spec.physical_interface:
        found.append(spec.physical_interface)
    return tuple(sorted(found))
