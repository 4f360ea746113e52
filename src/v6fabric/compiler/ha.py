"""L3 HA (issue 7): what an instance of an HA router adds to, and changes in, its host's state.

An HA router runs on each of its hosts (``Snapshot.router_hosts``, several pairs) with the same
``v6r-`` namespace and the same ``qr-``/``qg-`` legs (same ports, same MACs), as any router,
except that keepalived owns the legs' link state and global addresses (``vrrp_managed``: up
with the addresses only on the VRRP master) and starts radvd on the master only
(``RadvdSpec.vrrp``). keepalived speaks VRRP on the instance's ``ha-`` leg, its port on the
project's HA network bound to this host, unicast to the other instances' ``ha-`` link-locals.
An instance without its ``ha-`` port (not written by the server, but a snapshot may have it)
gets no ``VrrpSpec``: its legs stay down, a backup that never speaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from v6fabric.compiler.index import Index, PortView
from v6fabric.compiler.links import effective_up
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.domain.constants import DEVICE_OWNER_ROUTER_HA_PORT
from v6fabric.hoststate.model import ID_CHARS, PortSpec, RadvdSpec, router_namespace, tap_name
from v6fabric.hoststate.vrrp import HA_IF_PREFIX, VirtualAddress, VrrpSpec


def ha_ifname(port: PortView) -> str:
    return HA_IF_PREFIX + port.id[:ID_CHARS]


def ha_router_ids(index: Index, routers: Iterable[str]) -> set[str]:
    """The HA routers among ``routers``."""
    return {r for r in routers if (view := index.routers.get(r)) is not None and view.ha}


HaPorts = dict[str, list[PortView]]  # router id -> its ``ha-`` ports, by port id


def ha_ports(index: Index, ha: set[str]) -> HaPorts:
    """The ``ha-`` ports on a known network of the routers in ``ha`` (one scan of the ports,
    only when this host runs an HA router)."""
    found: HaPorts = {}
    if not ha:
        return found
    for port in index.ports:
        if (
            port.device_owner == DEVICE_OWNER_ROUTER_HA_PORT
            and port.device_id in ha
            and port.network_id in index.networks
        ):
            found.setdefault(port.device_id, []).append(port)
    return found


def local_ha_port(by_router: HaPorts, router_id: str, host: str) -> PortView | None:
    """The instance's ``ha-`` port here: the router's first bound to ``host``."""
    return next((p for p in by_router.get(router_id, ()) if p.host == host), None)


def ha_legs(index: Index, by_router: HaPorts, ha: set[str], host: str) -> list[PortSpec]:
    """The ``ha-`` leg of each HA router instance on ``host``: a router port on the HA
    network's bridge, no addresses (its EUI-64 link-local is the VRRP source)."""
    specs = []
    for router_id in sorted(ha):
        port = local_ha_port(by_router, router_id, host)
        if port is None:
            continue
        specs.append(
            PortSpec(
                port_id=port.id,
                network_id=port.network_id,
                kind="router",
                tap=tap_name(port.id),
                mac=port.mac,
                mtu=index.networks[port.network_id].mtu,
                admin_up=effective_up(index, port),
                namespace=router_namespace(router_id),
                ifname=ha_ifname(port),
            )
        )
    return specs


def vrrp_managed(specs: list[PortSpec], ha: set[str]) -> list[PortSpec]:
    """``specs`` with the ``qr-``/``qg-`` legs of HA routers handed to keepalived."""
    namespaces = {router_namespace(r) for r in ha}
    return [
        replace(spec, vrrp_managed=True, addresses=())
        if spec.kind == "router" and spec.namespace in namespaces
        else spec
        for spec in specs
    ]


def vrrp_radvd(specs: list[RadvdSpec], ha: set[str]) -> list[RadvdSpec]:
    namespaces = {router_namespace(r) for r in ha}
    return [replace(spec, vrrp=True) if spec.namespace in namespaces else spec for spec in specs]


def vrrp_specs(
    snapshot: Snapshot, by_router: HaPorts, ha: set[str], legs: list[PortSpec], host: str
) -> list[VrrpSpec]:
    """One ``VrrpSpec`` per HA router instance on ``host`` that has its ``ha-`` leg and a VRID.

    ``legs`` are this host's port specs before ``vrrp_managed`` (with their addresses); the
    legs that are up become the instance's ``legs`` and their addresses its virtual ones."""
    specs = []
    for router_id in sorted(ha):
        own = local_ha_port(by_router, router_id, host)
        vrid = snapshot.vrids.get(router_id)
        if own is None or vrid is None:
            continue
        namespace = router_namespace(router_id)
        up = [
            spec
            for spec in legs
            if spec.namespace == namespace
            and spec.kind == "router"
            and spec.admin_up
            and spec.ifname is not None
            and not spec.ifname.startswith(HA_IF_PREFIX)
        ]
        others = set(snapshot.router_hosts_of(router_id)) - {host}
        peers = {
            str(eui64_link_local(port.mac))
            for port in by_router.get(router_id, ())
            if port.host in others and port.mac
        }
        addresses = {
            VirtualAddress(cidr=cidr, ifname=spec.ifname)
            for spec in up
            for cidr in spec.addresses
            if spec.ifname is not None
        }
        specs.append(
            VrrpSpec(
                namespace=namespace,
                router_id=router_id,
                vrid=vrid,
                interface=ha_ifname(own),
                legs=tuple(sorted(spec.ifname for spec in up if spec.ifname is not None)),
                addresses=tuple(sorted(addresses, key=lambda a: (a.ifname, a.cidr))),
                peers=tuple(sorted(peers)),
                advert_interval=snapshot.ha_advert_interval,
            )
        )
    return specs
