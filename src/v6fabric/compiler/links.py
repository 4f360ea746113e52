"""Bridges, ports and workloads: which links a host has and what they are called.

Workload ports live where they are bound (``binding:host_id``). DHCP ports live on the network
host, a router's interfaces (``qr-``) and its gateway port (``qg-``) on its router's host,
whatever their binding says: the compiler places them, the binding follows.
"""

from __future__ import annotations

from v6fabric.compiler.index import Index, PortView
from v6fabric.domain.constants import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_GATEWAY,
    ROUTER_INTERFACE_OWNERS,
)
from v6fabric.hoststate.model import (
    DHCP_IF_PREFIX,
    GATEWAY_IF_PREFIX,
    ID_CHARS,
    ROUTER_IF_PREFIX,
    NetworkSpec,
    PortSpec,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    dhcp_namespace,
    router_namespace,
    tap_name,
    workload_namespace,
)

MAX_NAMESPACE_NAME = 64


def effective_up(index: Index, port: PortView) -> bool:
    """A port passes traffic only if it and its network are administratively up."""
    network = index.networks.get(port.network_id)
    return port.admin_up and network is not None and network.admin_up


def dhcp_ifname(port: PortView) -> str:
    return DHCP_IF_PREFIX + port.id[:ID_CHARS]


def router_ifname(port: PortView) -> str:
    return ROUTER_IF_PREFIX + port.id[:ID_CHARS]


def gateway_ifname(port: PortView) -> str:
    return GATEWAY_IF_PREFIX + port.id[:ID_CHARS]


def workload_ports(index: Index, host: str) -> list[PortSpec]:
    """Ports bound to ``host`` that are not network-owned: the NICs of workloads (or VMs)."""
    specs = []
    for port in index.ports:
        network = index.networks.get(port.network_id)
        if port.host != host or port.network_owned or network is None:
            continue
        specs.append(
            PortSpec(
                port_id=port.id,
                network_id=port.network_id,
                kind="workload",
                tap=tap_name(port.id),
                mac=port.mac,
                mtu=network.mtu,
                admin_up=effective_up(index, port),
            )
        )
    return specs


def workload_specs(index: Index, host: str) -> list[WorkloadSpec]:
    """Workloads run by ``host``. A NIC keeps the position of its port in ``port_ids``
    (``eth2`` stays ``eth2`` when the port before it is gone), so no veth is renamed or
    recreated because another one went away; unknown ports leave a gap."""
    specs = []
    for workload in index.workloads:
        if workload.host != host:
            continue
        interfaces = []
        for position, port_id in enumerate(workload.port_ids):
            port = index.ports_by_id.get(port_id)
            network = index.networks.get(port.network_id) if port is not None else None
            if port is None or network is None:
                continue
            interfaces.append(
                WorkloadInterface(
                    port_id=port.id,
                    ifname=f"eth{position}",
                    tap=tap_name(port.id),
                    mac=port.mac,
                    mtu=network.mtu,
                )
            )
        specs.append(
            WorkloadSpec(
                workload_id=workload.id,
                name=workload.name,
                namespace=workload_namespace(workload.id)[:MAX_NAMESPACE_NAME],
                interfaces=tuple(interfaces),
            )
        )
    return specs


def dhcp_ports(index: Index) -> dict[str, tuple[PortView, ...]]:
    """DHCP ports of existing networks, by network id, each tuple sorted by port id."""
    found: dict[str, list[PortView]] = {}
    for port in index.ports:
        if port.device_owner == DEVICE_OWNER_DHCP and port.network_id in index.networks:
            found.setdefault(port.network_id, []).append(port)
    return {network_id: tuple(ports) for network_id, ports in found.items()}


def serving_dhcp_ports(
    index: Index, by_network: dict[str, tuple[PortView, ...]]
) -> dict[str, PortView]:
    """The one DHCP port per network that dnsmasq and radvd listen on: the first (by id) that is
    up. Neutron may give a network several DHCP ports (one per DHCP agent); they are all plumbed
    into the one namespace, the daemons serve on one."""
    serving = {}
    for network_id, ports in by_network.items():
        up = [port for port in ports if effective_up(index, port)]
        if up:
            serving[network_id] = up[0]
    return serving


def router_ports(index: Index) -> dict[str, tuple[PortView, ...]]:
    """Router interface ports, by router id, of routers that exist and are administratively up
    (a router that is down has no namespace at all, as Neutron's L3 agent removes it)."""
    found: dict[str, list[PortView]] = {}
    for port in index.ports:
        if port.device_owner not in ROUTER_INTERFACE_OWNERS:
            continue
        router = index.routers.get(port.device_id)
        if router is None or not router.admin_up or port.network_id not in index.networks:
            continue
        found.setdefault(router.id, []).append(port)
    return {router_id: tuple(ports) for router_id, ports in found.items()}


def gateway_ports(index: Index) -> dict[str, PortView]:
    """Each router's gateway port (its external leg), by router id, of routers that are up and
    whose ``external_gateway_info`` names the port's network (the first port by id, should
    there be two). Kept apart from ``router_ports``, which are the router's interfaces: the
    gateway leg gets no RAs, no metadata listener, and its subnets are not advertised."""
    found: dict[str, PortView] = {}
    for port in index.ports:
        if port.device_owner != DEVICE_OWNER_ROUTER_GATEWAY:
            continue
        router = index.routers.get(port.device_id)
        if router is None or not router.admin_up or router.gateway_network != port.network_id:
            continue
        if port.network_id in index.networks:
            found.setdefault(router.id, port)
    return found


def namespace_ports(
    index: Index,
    dhcp: dict[str, tuple[PortView, ...]],
    routers: dict[str, tuple[PortView, ...]],
    gateways: dict[str, PortView] | None = None,
) -> list[PortSpec]:
    """The veth pairs of DHCP (``ns-``), router (``qr-``) and gateway (``qg-``) ports, with
    their addresses (a gateway port's on the external subnets, possibly none)."""
    specs = []
    for network_id, ports in dhcp.items():
        for port in ports:
            specs.append(
                _namespace_port(index, port, "dhcp", dhcp_namespace(network_id), dhcp_ifname(port))
            )
    for router_id, ports in routers.items():
        for port in ports:
            specs.append(
                _namespace_port(
                    index, port, "router", router_namespace(router_id), router_ifname(port)
                )
            )
    for router_id, port in (gateways or {}).items():
        specs.append(
            _namespace_port(
                index, port, "router", router_namespace(router_id), gateway_ifname(port)
            )
        )
    return specs


def _namespace_port(
    index: Index, port: PortView, kind: str, namespace: str, ifname: str
) -> PortSpec:
    return PortSpec(
        port_id=port.id,
        network_id=port.network_id,
        kind=kind,
        tap=tap_name(port.id),
        mac=port.mac,
        mtu=index.networks[port.network_id].mtu,
        admin_up=effective_up(index, port),
        namespace=namespace,
        ifname=ifname,
        addresses=index.interface_addresses(port),
    )


def network_specs(index: Index, ports: list[PortSpec]) -> list[NetworkSpec]:
    """One bridge for every network that has at least one port on this host."""
    network_ids = sorted({port.network_id for port in ports})
    return [
        NetworkSpec(network_id=nid, bridge=bridge_name(nid), mtu=index.networks[nid].mtu)
        for nid in network_ids
    ]
