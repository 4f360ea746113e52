"""VXLAN overlays: which hosts share a network, and behind which host each port's MAC is.

A network of type ``vxlan`` is one VXLAN segment (VNI = its segmentation id) across the hosts
that have a port of it. Each such host gets a ``vx-`` device on the network's bridge, sending
from its own tunnel endpoint. The server knows where every port is, so no host learns from the
wire and no multicast underlay is needed: broadcast and unknown frames are copied to the other
hosts of the network (head-end replication), and every remote port's MAC is pinned to its
host's endpoint (``FdbEntry``). A port added on one host therefore changes the state of the
hosts that share its network by one entry, and of no other host.

Where a port is: a workload's where it is bound; a DHCP port on its network's DHCP host (the
DHCP scheduler's), a router interface and a router's gateway port on its router's hosts (the L3
scheduler's): a VXLAN external network so joins the router's host to its segment. An HA
router's legs are on each of its hosts (their MACs follow the VRRP master: learnt, not pinned),
its ``ha-`` ports where bound. A distributed router's interfaces are on every host of its
``dvr_hosts``, with a MAC per host, and its central legs on its scheduled host
(``compiler.dvr``): all pinned, nothing to learn. A host without an endpoint in the overlay's
family takes no part: its networks stay on its own bridges (a single host needs none).

A network of type ``gre`` (key = its segmentation id) has the same hosts and remotes, but GRE
has no multipoint device with a forwarding table: the agent makes one tap per remote
(``kind="gre"``), the bridges learn behind them, and no ``FdbEntry`` is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from v6fabric.compiler.dvr_view import any_distributed, dvr_legs_on, is_dvr_leg
from v6fabric.compiler.index import Index, PortView
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.domain.constants import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_GATEWAY,
    DEVICE_OWNER_ROUTER_HA_PORT,
    ROUTER_INTERFACE_OWNERS,
)
from v6fabric.hoststate.model import GRE_PREFIX, FdbEntry, NetworkSpec, OverlaySpec, vxlan_name

OVERLAY_TYPES = frozenset({"vxlan", "gre"})
NAMESPACE_OWNERS = ROUTER_INTERFACE_OWNERS | {DEVICE_OWNER_DHCP}  # send RAs
ROUTER_LEGS = ROUTER_INTERFACE_OWNERS | {DEVICE_OWNER_ROUTER_GATEWAY}  # on the router's hosts


def port_locations(
    port: PortView,
    network_host: str | None,
    router_hosts: Callable[[str], tuple[str, ...]] | None = None,
    dhcp_host: Callable[[str], str | None] | None = None,
) -> tuple[str, ...]:
    """The hosts whose bridges the port's interface is on; none: nowhere yet (unbound, or its
    router or network's DHCP not scheduled). A router's interfaces and gateway port are on its
    router's hosts (``router_hosts`` of its id: several for an HA router), a DHCP port on its
    network's DHCP host (``dhcp_host`` of its network id); without them, on the network host;
    an HA router's ``ha-`` port where it is bound."""
    if port.device_owner in ROUTER_LEGS and router_hosts is not None:
        return router_hosts(port.device_id)
    if port.device_owner == DEVICE_OWNER_DHCP and dhcp_host is not None:
        found = dhcp_host(port.network_id)
        return (found,) if found else ()
    if port.device_owner in NAMESPACE_OWNERS or port.device_owner in ROUTER_LEGS:
        return (network_host,) if network_host else ()
    if port.network_owned and port.device_owner != DEVICE_OWNER_ROUTER_HA_PORT:
        return ()  # floating IPs: no interface of their own on a bridge
    return (port.host,) if port.host else ()


def moving(index: Index, port: PortView) -> bool:
    """A leg of an HA router: its MAC is behind whichever instance is the VRRP master."""
    if port.device_owner not in ROUTER_LEGS:
        return False
    router = index.routers.get(port.device_id)
    return router is not None and router.ha


def overlays(
    index: Index,
    host: str,
    networks: list[NetworkSpec],
    network_host: str | None,
    endpoints: Mapping[str, str],
    router_hosts: Callable[[str], tuple[str, ...]] | None = None,
    dhcp_host: Callable[[str], str | None] | None = None,
) -> tuple[list[NetworkSpec], list[FdbEntry]]:
    """``networks`` (this host's bridges) with their overlays, and the forwarding entries of
    the ports other hosts have on them. The legs of HA routers get no entry: the VXLAN device
    of a network with one learns them (``OverlaySpec.learning``), from the new master's first
    frames after a failover, without the server in the way."""
    local = endpoints.get(host)
    if local is None:
        return networks, []
    specs, fdb = [], []
    distributed = any_distributed(index)
    hosts_of = router_hosts or (lambda _router: (network_host,) if network_host else ())
    for spec in networks:
        view = index.networks.get(spec.network_id)
        if view is None or view.network_type not in OVERLAY_TYPES or not view.segmentation_id:
            specs.append(spec)
            continue
        gre = view.network_type == "gre"
        device = GRE_PREFIX + spec.network_id[:6] if gre else vxlan_name(spec.network_id)
        remotes = set()
        learning = False
        located: list[tuple[str, str]] = []  # (host, MAC) of the ports pinned where they are
        for port in index.ports_by_network.get(spec.network_id, ()):
            if distributed and is_dvr_leg(index, port):
                continue  # below: one MAC per host
            moves = moving(index, port)
            learning = learning or moves
            for where in port_locations(port, network_host, router_hosts, dhcp_host):
                if moves and where != host and where in endpoints:
                    remotes.add(endpoints[where])
                elif not moves:
                    located.append((where, port.mac.lower()))
        if distributed:
            located += dvr_legs_on(index, spec.network_id, hosts_of)
        for where, mac in located:
            if where == host or where not in endpoints:
                continue
            remote = endpoints[where]
            remotes.add(remote)
            if not gre:
                fdb.append(FdbEntry(device=device, mac=mac, remote=remote))
        overlay = OverlaySpec(
            device=device,
            vni=view.segmentation_id,
            local=local,
            remotes=tuple(sorted(remotes)),
            kind="gre" if gre else "vxlan",
            learning=learning and not gre,
        )
        specs.append(NetworkSpec(spec.network_id, spec.bridge, spec.mtu, overlay))
    return specs, sorted(fdb, key=lambda entry: entry.entry_id)


def remote_ra_sources(index: Index, network: NetworkSpec) -> list[str]:
    """Link-locals that may send RAs into ``network`` over its overlay: its router and DHCP
    ports (radvd runs behind both), which live on the network host and the routers' hosts. The RA guard admits RAs
    from outside the host only from these (and a provider subnet's upstream gateway); a
    workload's RA never gets that far: its own host drops it at its tap. A distributed
    router's interfaces are left out: every host has its own instance, and a remote one's RAs
    must be dropped (its link-local is the local instance's too)."""
    if network.overlay is None:
        return []
    return sorted(
        {
            str(eui64_link_local(port.mac))
            for port in index.ports_by_network.get(network.network_id, ())
            if port.device_owner in NAMESPACE_OWNERS and port.mac and not is_dvr_leg(index, port)
        }
    )
