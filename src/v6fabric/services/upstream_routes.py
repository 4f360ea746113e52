"""The routes the upstream router needs (R4): each tenant prefix behind a router's gateway.

IPv6 is routed, not translated, so the upstream must send a router's tenant prefixes to that
router's gateway: its IPv6 address on the external network, or, on an external network
without an IPv6 subnet, its link-local (the EUI-64 of the gateway port's MAC, which the
gateway leg keeps) on the external link. Neutron has no such view (its BGP speaker computes
the same pairs); v6fabric shows them at ``GET /v2.0/upstream_routes`` and in
``v6fabric router routes``. IPv4 prefixes are listed only for routers with ``enable_snat``
off: otherwise the upstream has nothing to route to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from v6fabric.domain.addresses import eui64_link_local, parse_cidr, parse_ip
from v6fabric.identity.context import RequestContext
from v6fabric.services.router_gateway import gateway_port
from v6fabric.services.router_interfaces import fixed_of, interfaces
from v6fabric.services.routers import ACCESS
from v6fabric.store.db import Database
from v6fabric.store.tables import routers


class UpstreamRouteService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self,
        ctx: RequestContext,
        router_ids: Sequence[str] = (),
        external_network_ids: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """For the routers ``ctx`` sees (all, or only these), with a gateway (on one of these
        external networks), one entry per internal prefix, sorted by router then prefix."""
        with self.db.read() as conn:
            stmt = ACCESS.select_visible(ctx).where(routers.c.external_network_id.is_not(None))
            if router_ids:
                stmt = stmt.where(routers.c.id.in_(list(router_ids)))
            if external_network_ids:
                stmt = stmt.where(routers.c.external_network_id.in_(list(external_network_ids)))
            found = []
            for row in conn.execute(stmt.order_by(routers.c.id)):
                found += _of_router(conn, row)
            return found


def _of_router(conn: Connection, row: Any) -> list[dict[str, Any]]:
    port = gateway_port(conn, row.id)
    if port is None:
        return []
    own = [parse_ip(ip) for _subnet, ip in fixed_of(conn, [port.id])[port.id]]
    nexthops = {
        6: next(
            (str(ip) for ip in own if ip and ip.version == 6),
            str(eui64_link_local(port.mac_address)),
        ),
        4: next((str(ip) for ip in own if ip and ip.version == 4), None),
    }
    prefixes = {
        subnet.id: subnet
        for leg in interfaces(conn, row.id)
        for subnet, _ip in leg.fixed
        if subnet.ip_version == 6 or not row.enable_snat
    }
    entries = []
    for subnet in sorted(prefixes.values(), key=lambda s: (s.ip_version, parse_cidr(s.cidr))):
        nexthop = nexthops[subnet.ip_version]
        if nexthop is None:
            continue  # an IPv4 prefix behind a gateway without an IPv4 address: unreachable
        entries.append(
            {
                "router_id": row.id,
                "project_id": row.project_id,
                "external_network_id": port.network_id,
                "subnet_id": subnet.id,
                "destination": str(parse_cidr(subnet.cidr)),
                "nexthop": nexthop,
            }
        )
    return entries
