"""The compiler's input: one consistent read of the store, as Neutron wire dicts.

The dicts are exactly what the API returns to an admin (``binding:host_id``, ``provider:*`` and
the other admin-only attributes included), so that the compiler and the API agree on one shape.
Ids are unique per resource kind. The compiler never mutates the dicts, and a caller must not
change one after handing it over: parsing is memoized per dict object (``IdentityMemo``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from v6fabric.hoststate.firewall import RemoteGroup
from v6fabric.hoststate.vrrp import VRRP_ADVERT_INTERVAL

Wire = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Everything ``compile_host`` reads, at one store revision.

    ``workloads`` are ``{id, name, host, port_ids, project_id, user_data, public_keys,
    properties}`` dicts (the API's wire form), ``port_ids`` in NIC order.
    ``network_hosts`` are the hosts with the network role; each network's ``v6d-`` objects are
    placed on its host in ``dhcp_hosts`` (the DHCP scheduler's), each router on its host in
    ``router_hosts`` (the L3 scheduler's); without a scheduler, on the first network host.
    ``dns_domain`` is sent as DNSSL in RAs and as the DHCP domain search.

    The tuples hold dicts, so a ``Snapshot`` compares by value but is not hashable.
    """

    revision: int
    networks: tuple[Wire, ...]
    subnets: tuple[Wire, ...]
    ports: tuple[Wire, ...]
    routers: tuple[Wire, ...]
    workloads: tuple[Wire, ...]
    network_hosts: tuple[str, ...]
    dns_domain: str | None
    security_groups: tuple[Wire, ...] = ()  # with their ``security_group_rules`` embedded
    # Remote groups' members when known without scanning ``ports`` (``compiler.live``): then
    # ``ports`` may hold only what one host needs. None: computed from ``ports``.
    remote_members: Mapping[str, RemoteGroup] | None = None
    # Each host's tunnel endpoint in the overlay's family (``Settings.overlay_ip_version``),
    # sorted by host; a host without one has no overlay (its networks stay on its bridges).
    tunnel_endpoints: tuple[tuple[str, str], ...] = ()
    # Each host's interfaces on physical networks ``(host, physnet, iface)``, sorted, as its
    # agent registered them (``--physical-network``): flat networks' bridges take them.
    physical_interfaces: tuple[tuple[str, str, str], ...] = ()
    # Where the L3 scheduler placed each router (router id, host), sorted: one pair per
    # instance (several for an HA router); a router not in it runs nowhere. None: no
    # scheduler, every router on the network host.
    router_hosts: tuple[tuple[str, str], ...] | None = None
    # The upstream next hop of routers' external gateways (Neutron's l3 agent ``ipv6_gateway``,
    # typically a link-local), used where the external network has no IPv6 gateway of its own;
    # None: such a router learns its default route from the upstream's RAs.
    ipv6_gateway: str | None = None
    # Where the DHCP scheduler placed each network's DHCP (network id, host), sorted by network;
    # a network not in it has its DHCP nowhere. None: no scheduler, all on the network host.
    dhcp_hosts: tuple[tuple[str, str], ...] | None = None
    # Each HA router's VRRP virtual router id (router id, vrid), sorted (issue 7), and the
    # adverts' interval in seconds (``Settings.ha_advert_interval``).
    ha_vrids: tuple[tuple[str, int], ...] = ()
    ha_advert_interval: float = VRRP_ADVERT_INTERVAL

    @classmethod
    def build(
        cls,
        *,
        revision: int = 1,
        networks: Iterable[Wire] = (),
        subnets: Iterable[Wire] = (),
        ports: Iterable[Wire] = (),
        routers: Iterable[Wire] = (),
        workloads: Iterable[Wire] = (),
        network_hosts: Iterable[str] = (),
        dns_domain: str | None = None,
        security_groups: Iterable[Wire] = (),
        remote_members: Mapping[str, RemoteGroup] | None = None,
        tunnel_endpoints: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        physical_interfaces: Iterable[tuple[str, str, str]] = (),
        router_hosts: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        ipv6_gateway: str | None = None,
        dhcp_hosts: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        ha_vrids: Mapping[str, int] | Iterable[tuple[str, int]] = (),
        ha_advert_interval: float = VRRP_ADVERT_INTERVAL,
    ) -> Snapshot:
        """A snapshot from any iterables (lists from a query, generators), as tuples."""
        return cls(
            revision=revision,
            networks=tuple(networks),
            subnets=tuple(subnets),
            ports=tuple(ports),
            routers=tuple(routers),
            workloads=tuple(workloads),
            network_hosts=tuple(network_hosts),
            dns_domain=dns_domain,
            security_groups=tuple(security_groups),
            remote_members=remote_members,
            tunnel_endpoints=tuple(
                sorted(
                    tunnel_endpoints.items()
                    if isinstance(tunnel_endpoints, Mapping)
                    else tunnel_endpoints
                )
            ),
            physical_interfaces=tuple(sorted(tuple(item) for item in physical_interfaces)),
            router_hosts=None if router_hosts is None else _sorted_pairs(router_hosts),
            ipv6_gateway=ipv6_gateway or None,
            dhcp_hosts=None if dhcp_hosts is None else _sorted_pairs(dhcp_hosts),
            ha_vrids=tuple(sorted(ha_vrids.items() if isinstance(ha_vrids, Mapping) else ha_vrids)),
            ha_advert_interval=ha_advert_interval,
        )

    @property
    def network_host(self) -> str | None:
        """The host of every DHCP namespace when ``dhcp_hosts`` is None, and of every router
        when ``router_hosts`` is None."""
        return self.network_hosts[0] if self.network_hosts else None

    @cached_property
    def router_placement(self) -> dict[str, tuple[str, ...]] | None:
        if self.router_hosts is None:
            return None
        found: dict[str, list[str]] = {}
        for router_id, host in self.router_hosts:
            found.setdefault(router_id, []).append(host)
        return {router_id: tuple(sorted(set(hosts))) for router_id, hosts in found.items()}

    def router_hosts_of(self, router_id: str) -> tuple[str, ...]:
        """The hosts running the router (several for an HA router); none: not scheduled."""
        placement = self.router_placement
        if placement is None:
            return (self.network_host,) if self.network_host else ()
        return placement.get(router_id, ())

    def router_host(self, router_id: str) -> str | None:
        """The host running the router (an HA router's first); None: nowhere."""
        return next(iter(self.router_hosts_of(router_id)), None)

    @cached_property
    def vrids(self) -> dict[str, int]:
        return dict(self.ha_vrids)

    @cached_property
    def dhcp_placement(self) -> dict[str, str] | None:
        return None if self.dhcp_hosts is None else dict(self.dhcp_hosts)

    def dhcp_host(self, network_id: str) -> str | None:
        """The host running the network's DHCP namespace; None: nowhere (not placed)."""
        placement = self.dhcp_placement
        return self.network_host if placement is None else placement.get(network_id)

    def runs_dhcp(self, host: str) -> bool:
        """Whether ``host`` runs the DHCP namespace of any network."""
        placement = self.dhcp_placement
        if placement is None:
            return bool(host) and host == self.network_host
        return bool(host) and host in placement.values()


def _sorted_pairs(
    pairs: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items() if isinstance(pairs, Mapping) else pairs))
