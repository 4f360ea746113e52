"""Extra routes of a router (extraroute): parsing and the check that each next hop is on one
of the router's subnets."""

from __future__ import annotations

from collections.abc import Sequence

from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_cidr, parse_ip
from v6fabric.domain.errors import (
    InvalidRoutes,
    RoutesExhausted,
    invalid_attribute,
)
from v6fabric.services.router_interfaces import Interface

MAX_ROUTES = 30  # Neutron's max_routes


def _parse_route(item: object) -> tuple[IPNetwork, IPAddress]:
    """neutron-lib's validate_hostroutes, for the router's ``routes`` attribute."""
    if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
        provided = set(item) if isinstance(item, dict) else item
        raise invalid_attribute(
            "routes",
            "Validation of dictionary's keys failed. Expected keys: "
            f"{{'destination', 'nexthop'}} Provided keys: {provided}",
        )
    destination = parse_cidr(item["destination"], strict=True)
    if destination is None:
        raise invalid_attribute("routes", f"'{item['destination']}' is not a valid CIDR")
    if destination.is_loopback:
        raise invalid_attribute("routes", f"'{item['destination']}' is not a routable CIDR")
    nexthop = parse_ip(item["nexthop"])
    if nexthop is None:
        raise invalid_attribute("routes", f"'{item['nexthop']}' is not a valid IP address")
    return destination, nexthop


def parse_routes(raw: object) -> list[dict[str, str]]:
    """Well-formed, normalised routes (None is the empty list, as in Neutron)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("routes", f"'{raw}' is not a list")
    routes: list[dict[str, str]] = []
    for item in raw:
        destination, nexthop = _parse_route(item)
        route = {"destination": str(destination), "nexthop": str(nexthop)}
        if route in routes:
            raise invalid_attribute("routes", f"Duplicate hostroute '{item}'")
        routes.append(route)
    return routes


def validated_routes(router_id: str, raw: object, existing: Sequence[Interface]) -> list[dict]:
    """The routes a router may have: each nexthop on one of its subnets, not its own address."""
    routes = parse_routes(raw)
    if len(routes) > MAX_ROUTES:
        raise RoutesExhausted(router_id=router_id, quota=MAX_ROUTES)
    cidrs = [parse_cidr(s.cidr) for iface in existing for s, _ in iface.fixed]
    own = {ip for iface in existing for _, ip in iface.fixed}
    for route in routes:
        nexthop = parse_ip(route["nexthop"])
        destination = parse_cidr(route["destination"])
        if nexthop.version != destination.version:  # type: ignore[union-attr]
            raise InvalidRoutes(
                routes=raw, reason="the nexthop and the destination are of different IP versions"
            )
        if not any(n.version == nexthop.version and nexthop in n for n in cidrs):  # type: ignore[union-attr,operator]
            raise InvalidRoutes(routes=raw, reason="the nexthop is not connected with router")
        if route["nexthop"] in own:
            raise InvalidRoutes(routes=raw, reason="the nexthop is used by router")
    return routes
