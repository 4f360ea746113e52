"""``compile_host``: a snapshot of the store in, the ``HostState`` of one host out.

Pure and deterministic: no I/O, no clock, no randomness, and every tuple of the result is
sorted by a stable key, so the same snapshot in any input order gives an equal ``HostState``
(and the same ``content_hash``).
"""

from __future__ import annotations

from v6fabric.compiler.dhcp import dnsmasq_specs
from v6fabric.compiler.dvr import (
    central_gateways,
    central_namespaces,
    central_ports,
    dvr_instances,
    dvr_namespaces,
    dvr_ports,
    is_distributed,
)
from v6fabric.compiler.firewall import firewall_spec
from v6fabric.compiler.ha import (
    ha_legs,
    ha_ports,
    ha_router_ids,
    vrrp_managed,
    vrrp_radvd,
    vrrp_specs,
)
from v6fabric.compiler.index import PortView, build_index
from v6fabric.compiler.links import (
    dhcp_ports,
    gateway_ports,
    namespace_ports,
    network_specs,
    router_ports,
    serving_dhcp_ports,
    workload_ports,
    workload_specs,
)
from v6fabric.compiler.metadata import metadata_spec
from v6fabric.compiler.overlay import overlays
from v6fabric.compiler.physical import attach_physical, host_mappings
from v6fabric.compiler.ra import isolated_radvd, routed_subnet_ids, router_radvd
from v6fabric.compiler.routing import dhcp_namespaces, router_namespaces
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.model import DnsmasqSpec, HostState, NamespaceSpec, PortSpec, RadvdSpec
from v6fabric.hoststate.vrrp import VrrpSpec


def compile_host(snapshot: Snapshot, host: str) -> HostState:
    """Everything ``host`` should have at ``snapshot.revision``.

    Every host gets the workload ports bound to it, the workloads it runs and a bridge per
    network it has a port of. Each network's DHCP namespace, its ports, dnsmasq and the RAs of
    its isolated subnets go to its DHCP host (``snapshot.dhcp_host``); each router goes to its
    scheduled host (``snapshot.router_hosts_of``) with its interfaces, radvd and its external
    gateway's leg (a router with only a gateway too, as Neutron's); an HA router to each of its
    hosts, with keepalived in charge of its legs (``compiler.ha``); a distributed router to
    every host with a workload on one of its networks, and its central instance to its
    scheduled host (``compiler.dvr``). A host running either gets the metadata proxy's
    listeners on those namespaces' legs with the ports and instances it answers for. A host
    with a tunnel endpoint joins the VXLAN segments of its networks (``overlay``); a host with
    an interface on a flat network's physical network puts it on that network's bridge
    (``physical``).
    """
    index = build_index(snapshot)
    ports: list[PortSpec] = workload_ports(index, host)
    namespaces: list[NamespaceSpec] = []
    radvd: list[RadvdSpec] = []
    dnsmasq: list[DnsmasqSpec] = []
    metadata = MetadataSpec()
    every_router = router_ports(index) if host else {}
    every_gateway = gateway_ports(index) if host else {}
    routers = {
        r: every_router.get(r, ())
        for r in sorted(every_router.keys() | every_gateway.keys())
        if host in snapshot.router_hosts_of(r) and not is_distributed(index, r)
    }
    instances = dvr_instances(index, host, every_router) if host else {}
    central = central_gateways(index, host, every_gateway, snapshot.router_hosts_of)
    ha = ha_router_ids(index, routers)
    by_router = ha_ports(index, ha)
    gateways = {r: port for r, port in every_gateway.items() if r in routers}
    dhcp: dict[str, tuple[PortView, ...]] = {}
    serving: dict[str, PortView] = {}
    if snapshot.runs_dhcp(host):
        dhcp = {
            network_id: legs
            for network_id, legs in dhcp_ports(index).items()
            if snapshot.dhcp_host(network_id) == host
        }
        serving = serving_dhcp_ports(index, dhcp)
        namespaces += dhcp_namespaces(dhcp)
        radvd += isolated_radvd(index, serving, routed_subnet_ids(index, every_router))
        dnsmasq += dnsmasq_specs(index, serving)
    vrrp: list[VrrpSpec] = []
    if dhcp or routers or instances or central:
        legs = namespace_ports(index, dhcp, routers, gateways)
        vrrp = vrrp_specs(snapshot, by_router, ha, legs, host)
        ports += vrrp_managed(legs, ha) + ha_legs(index, by_router, ha, host)
        ports += dvr_ports(index, host, instances) + central_ports(index, central)
        namespaces += router_namespaces(index, routers, gateways, snapshot.ipv6_gateway)
        namespaces += dvr_namespaces(index, instances)
        namespaces += central_namespaces(index, central, snapshot.ipv6_gateway)
        answering = dict(sorted({**routers, **instances}.items()))  # radvd and metadata
        radvd += vrrp_radvd(router_radvd(index, answering), ha)
        metadata = metadata_spec(index, serving, answering)
    networks, fdb = overlays(
        index,
        host,
        network_specs(index, ports),
        snapshot.network_host,
        dict(snapshot.tunnel_endpoints),
        snapshot.router_hosts_of,
        snapshot.dhcp_host,
    )
    networks = attach_physical(index, networks, host_mappings(snapshot.physical_interfaces, host))
    return HostState(
        host=host,
        revision=snapshot.revision,
        networks=tuple(networks),
        ports=tuple(sorted(ports, key=lambda port: port.port_id)),
        namespaces=tuple(sorted(namespaces, key=lambda namespace: namespace.name)),
        radvd=tuple(sorted(radvd, key=lambda spec: spec.namespace)),
        dnsmasq=tuple(sorted(dnsmasq, key=lambda spec: spec.namespace)),
        workloads=tuple(sorted(workload_specs(index, host), key=lambda w: w.workload_id)),
        firewall=firewall_spec(snapshot, index, ports, networks),
        metadata=metadata,
        fdb=tuple(fdb),
        vrrp=tuple(sorted(vrrp, key=lambda spec: spec.namespace)),
    )
