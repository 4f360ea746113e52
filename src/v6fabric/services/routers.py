"""Routers: CRUD, interfaces by subnet or by port, and extra routes (Neutron's l3, extraroute).

A router's interfaces are ports with device_owner ``network:router_interface`` and the router's
id as device_id; each holds the gateway addresses of the subnets it serves. As in Neutron, every
IPv6 subnet of one network goes onto one shared interface port (several prefixes on one link,
R17) while each IPv4 subnet gets a port of its own. External gateways, DVR and HA arrive with
the multi-host issue and are refused until then.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_cidr, parse_ip
from v6fabric.domain.constants import DEVICE_OWNER_ROUTER_INTERFACE, ROUTER_INTERFACE_OWNERS
from v6fabric.domain.errors import BadRequest, InUse, NotFound, PortNotFound, invalid_attribute
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, fixed_ips
from v6fabric.services import subnets as subnet_service
from v6fabric.services.access import ResourceAccess
from v6fabric.services.network_ports import insert_network_port
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import ip_allocations, networks, ports, routers, subnets

# --- Neutron's l3 and extraroute exceptions (their type names and texts) ----------------------


class RouterNotFound(NotFound):
    template = "Router {router_id} could not be found"


class RouterInUse(InUse):
    template = "Router {router_id} {reason}"


class RouterInterfaceNotFound(NotFound):
    template = "Router {router_id} does not have an interface with id {port_id}"


class RouterInterfaceNotFoundForSubnet(NotFound):
    template = "Router {router_id} has no interface on subnet {subnet_id}"


class RouterInterfaceInUseByRoute(InUse):
    template = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, "
        "as it is required by one or more routes."
    )


class InvalidRoutes(BadRequest):
    template = "Invalid format for routes: {routes}, {reason}"


class RoutesExhausted(BadRequest):
    template = (
        "Unable to complete operation for {router_id}. The number of routes exceeds the "
        "maximum {quota}."
    )


class PortInUse(InUse):
    template = (
        "Unable to complete operation on port {port_id} for network {net_id}. "
        "Port already has an attached device {device_id}."
    )


class ServicePortInUse(InUse):
    template = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class SubnetMismatchForPort(BadRequest):
    template = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."


def router_error(msg: str) -> BadRequest:
    """Neutron's ``BadRequest(resource='router', msg=...)``: "Bad router request: ...."."""
    return BadRequest(resource="router", msg=msg)


# --- tables, access, list spec ----------------------------------------------------------------

c = routers.c
a = ip_allocations.c
MAX_ROUTES = 30  # Neutron's max_routes
ADMIN_ATTRIBUTES = ("distributed", "ha")
SPEC = ListSpec(
    resource="routers",
    columns={
        **standard_columns(routers),
        "admin_state_up": c.admin_state_up,
        "status": c.status,
        "distributed": c.distributed,
        "ha": c.ha,
    },
    converters={
        "admin_state_up": parse_bool,
        "distributed": parse_bool,
        "ha": parse_bool,
        "revision_number": parse_int,
    },
    ignored_filters=frozenset({"tags"}),
)
ACCESS = ResourceAccess(routers, lambda router_id: RouterNotFound(router_id=router_id))
PORT_ACCESS = ResourceAccess(ports, lambda port_id: PortNotFound(port_id=port_id))


def to_wire(ctx: RequestContext, row: Any) -> dict[str, Any]:
    out = common.standard_attributes(row._mapping)
    out.update(
        {
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "external_gateway_info": None,
            "routes": list(row.routes),
        }
    )
    if ctx.is_admin:  # Neutron's policy: get_router:distributed and get_router:ha are admin only
        out["distributed"] = row.distributed
        out["ha"] = row.ha
    return out


# --- interfaces ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    """One interface port of a router with its (subnet row, address) pairs in port order."""

    port: Any
    fixed: list[tuple[Any, str]]

    @property
    def has_ipv6(self) -> bool:
        return any(subnet.ip_version == 6 for subnet, _ in self.fixed)

    @property
    def subnet_ids(self) -> list[str]:
        return list(dict.fromkeys(subnet.id for subnet, _ in self.fixed))

    def requested(self) -> list[dict[str, str]]:
        return [{"subnet_id": s.id, "ip_address": ip} for s, ip in self.fixed]


def _fixed_of(conn: Connection, port_ids: Sequence[str]) -> dict[str, list[tuple[Any, str]]]:
    out: dict[str, list[tuple[Any, str]]] = {port_id: [] for port_id in port_ids}
    if not port_ids:
        return out
    allocated = conn.execute(
        select(a.port_id, a.subnet_id, a.ip_address)
        .where(a.port_id.in_(list(port_ids)))
        .order_by(a.port_id, a.position)
    ).all()
    wanted = {row.subnet_id for row in allocated}
    by_id = {s.id: s for s in conn.execute(select(subnets).where(subnets.c.id.in_(wanted)))}
    for row in allocated:
        out[row.port_id].append((by_id[row.subnet_id], row.ip_address))
    return out


def _interfaces(conn: Connection, router_id: str, network_id: str | None = None) -> list[Interface]:
    stmt = select(ports).where(
        ports.c.device_id == router_id, ports.c.device_owner == DEVICE_OWNER_ROUTER_INTERFACE
    )
    if network_id is not None:
        stmt = stmt.where(ports.c.network_id == network_id)
    rows = conn.execute(stmt.order_by(ports.c.created_at, ports.c.id)).all()
    fixed = _fixed_of(conn, [r.id for r in rows])
    return [Interface(r, fixed[r.id]) for r in rows]


def _interface_info(
    router_id: str, port: Any, subnet_id: str | None, subnet_ids: list[str]
) -> dict[str, Any]:
    return {
        "id": router_id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_id,
        "subnet_ids": subnet_ids,
    }


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(uuid.UUID(value))
    except ValueError:
        return False


def _by_port(body: Mapping[str, Any], for_removal: bool) -> bool:
    """Neutron's _validate_interface_info: True for a port, False for a subnet."""
    by_port, by_subnet = "port_id" in body, "subnet_id" in body
    if not (by_port or by_subnet):
        raise router_error("Either subnet_id or port_id must be specified")
    for key in ("port_id", "subnet_id"):
        if key in body and not _is_uuid(body[key]):
            raise router_error(f"'{body[key]}' is not a valid UUID")
    if by_port and by_subnet and not for_removal:
        raise router_error("Cannot specify both subnet-id and port-id")
    return by_port


def _check_address_mode(subnet: Any) -> None:
    if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and subnet.ipv6_address_mode:
        raise router_error(
            f"IPv6 subnet {subnet.id} configured to receive RAs from an external router "
            "cannot be added to Neutron Router"
        )


def _check_new_subnets(existing: Sequence[Interface], new: Sequence[Any]) -> None:
    """No subnet twice on one router, and no two overlapping subnets on it."""
    new_ids = {s.id for s in new}
    attached = [subnet for iface in existing for subnet, _ in iface.fixed]
    for subnet in attached:
        if subnet.id in new_ids:
            raise router_error(f"Router already has a port on subnet {subnet.id}")
    for subnet in attached:
        for candidate in new:
            if subnet.ip_version == candidate.ip_version and parse_cidr(subnet.cidr).overlaps(  # type: ignore[union-attr]
                parse_cidr(candidate.cidr)  # type: ignore[arg-type]
            ):
                raise router_error(
                    f"Cidr {candidate.cidr} of subnet {candidate.id} overlaps with cidr "
                    f"{subnet.cidr} of subnet {subnet.id}"
                )


def _check_not_used_by_routes(router: Any, subnet: Any) -> None:
    cidr = parse_cidr(subnet.cidr)
    for route in router.routes:
        nexthop = parse_ip(route["nexthop"])
        if nexthop is not None and nexthop.version == cidr.version and nexthop in cidr:  # type: ignore[union-attr,operator]
            raise RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=subnet.id)


def _in_pools(subnet: Any, ip: str) -> bool:
    address = parse_ip(ip)
    return any(
        parse_ip(p["start"]) <= address <= parse_ip(p["end"])  # type: ignore[operator]
        for p in subnet.allocation_pools
    )


def _touch(conn: Connection, table: Any, row: Any) -> None:
    values = common.touched(row.revision_number, common.utcnow())
    conn.execute(update(table).where(table.c.id == row.id).values(**values))


def _readdress(conn: Connection, port: Any, requested: list[dict[str, str]]) -> None:
    """Replace a router port's addresses by ``requested`` (chosen addresses, in order)."""
    conn.execute(delete(ip_allocations).where(a.port_id == port.id))
    identity = fixed_ips.PortIdentity(port.id, port.network_id, port.mac_address, port.device_owner)
    fixed_ips.assign(conn, identity, requested)
    _touch(conn, ports, port)


def _delete_port(conn: Connection, port_id: str) -> None:
    conn.execute(delete(ip_allocations).where(a.port_id == port_id))
    conn.execute(delete(ports).where(ports.c.id == port_id))


def _create_interface_port(
    conn: Connection, router: Any, network_id: str, gateway: dict[str, str]
) -> Any:
    security = conn.execute(
        select(networks.c.port_security_enabled).where(networks.c.id == network_id)
    ).scalar_one()
    identity = insert_network_port(
        conn,
        network_id=network_id,
        project_id=router.project_id,
        device_owner=DEVICE_OWNER_ROUTER_INTERFACE,
        device_id=router.id,
        port_security=security,
    )
    fixed_ips.assign(conn, identity, [gateway])
    return conn.execute(select(ports).where(ports.c.id == identity.id)).one()


# --- extra routes -------------------------------------------------------------------------------


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


def _validated_routes(router_id: str, raw: object, existing: Sequence[Interface]) -> list[dict]:
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


# --- the port API's guard -----------------------------------------------------------------------


def prevent_router_port_deletion(conn: Connection, port: Any) -> None:
    """Neutron's prevent_l3_port_deletion: a live router's port goes only through the router API.

    ``port`` is the ports row about to be deleted via DELETE /v2.0/ports/{id}.
    """
    if port.device_owner not in ROUTER_INTERFACE_OWNERS or not port.device_id:
        return
    if conn.execute(select(c.id).where(c.id == port.device_id)).first() is None:
        return  # the router is gone: a stale port may be removed
    raise ServicePortInUse(port_id=port.id, reason=f"has device owner {port.device_owner}")


# --- the service --------------------------------------------------------------------------------


def _check_unsupported(body: Mapping[str, Any]) -> None:
    if body.get("external_gateway_info"):
        raise router_error(
            "External gateways are not supported yet: external_gateway_info must be null "
            "(gateways arrive with multi-host routing)"
        )
    if body.get("distributed"):
        raise router_error("Distributed routers are not supported yet")
    if body.get("ha"):
        raise router_error("HA routers are not supported yet")


class RouterService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # --- reads ----------------------------------------------------------------------------

    def list(self, ctx: RequestContext, query: ListQuery) -> list[dict]:
        with self.db.read() as conn:
            return self.list_in(conn, ctx, query)

    @staticmethod
    def list_in(conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (the fabric's consistent snapshot)."""
        rows = apply_list(conn, SPEC, ACCESS.select_visible(ctx), query)
        return [to_wire(ctx, r) for r in rows]

    def get(self, ctx: RequestContext, router_id: str) -> dict:
        with self.db.read() as conn:
            return to_wire(ctx, ACCESS.fetch_visible(conn, ctx, router_id))

    # --- writes ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_router")
        for body in bodies:
            common.require_admin_for(ctx, "create_router", body, *ADMIN_ATTRIBUTES)
            _check_unsupported(body)

        def operation(txn: WriteTxn) -> list[dict]:
            return [to_wire(ctx, self._insert(txn.conn, ctx, body)) for body in bodies]

        return self.db.write(operation)

    @staticmethod
    def _insert(conn: Connection, ctx: RequestContext, body: Mapping[str, Any]) -> Any:
        project = common.owner_project(ctx, body, "router")
        common.check_quota(conn, project, "router", routers)
        now = common.utcnow()
        router_id = common.new_id()
        conn.execute(
            routers.insert().values(
                id=router_id,
                project_id=project,
                name=body.get("name") or "",
                description=body.get("description") or "",
                revision_number=1,
                created_at=now,
                updated_at=now,
                admin_state_up=body.get("admin_state_up") is not False,
                status="ACTIVE",
                external_network_id=None,
                enable_snat=True,
                routes=[],
                distributed=False,
                ha=False,
            )
        )
        return conn.execute(select(routers).where(c.id == router_id)).one()

    def update(self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]) -> dict:
        common.require_admin_for(ctx, "update_router", body, *ADMIN_ATTRIBUTES)

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, router_id, "update_router")
            _check_unsupported(body)
            values = common.touched(row.revision_number, common.utcnow())
            for attr in ("name", "description", "admin_state_up"):
                if body.get(attr) is not None:
                    values[attr] = body[attr]
            if "routes" in body:
                values["routes"] = _validated_routes(
                    row.id, body["routes"], _interfaces(conn, row.id)
                )
            conn.execute(update(routers).where(c.id == row.id).values(**values))
            return to_wire(ctx, conn.execute(select(routers).where(c.id == row.id)).one())

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, router_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, router_id, "delete_router")
            attached = [iface.port.id for iface in _interfaces(conn, row.id)]
            if attached:
                reason = "has ports still attached: " + ", ".join(attached)
                raise RouterInUse(router_id=row.id, reason=reason)
            conn.execute(delete(routers).where(c.id == row.id))

        self.db.write(operation)

    # --- extraroute-atomic ----------------------------------------------------------------

    def add_routes(self, ctx: RequestContext, router_id: str, raw: object) -> dict:
        """PUT .../add_extraroutes: the union of the router's routes and ``raw``."""

        def merge(old: list[dict], new: list[dict]) -> list[dict]:
            return old + [r for r in new if r not in old]

        return self._edit_routes(ctx, router_id, raw, merge, "add_extraroutes")

    def remove_routes(self, ctx: RequestContext, router_id: str, raw: object) -> dict:
        """PUT .../remove_extraroutes: routes not there are not an error (the end state counts)."""

        def remove(old: list[dict], gone: list[dict]) -> list[dict]:
            return [r for r in old if r not in gone]

        return self._edit_routes(ctx, router_id, raw, remove, "remove_extraroutes")

    def _edit_routes(
        self, ctx: RequestContext, router_id: str, raw: object, combine: Any, action: str
    ) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, router_id, action)
            routes = combine(list(row.routes), parse_routes(raw))
            values = common.touched(row.revision_number, common.utcnow())
            values["routes"] = _validated_routes(row.id, routes, _interfaces(conn, row.id))
            conn.execute(update(routers).where(c.id == row.id).values(**values))
            return to_wire(ctx, conn.execute(select(routers).where(c.id == row.id)).one())

        return self.db.write(operation)

    # --- interfaces -----------------------------------------------------------------------

    def add_interface(self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            router = ACCESS.fetch_owned(conn, ctx, router_id, "add_router_interface")
            existing = _interfaces(conn, router.id)
            if _by_port(body, for_removal=False):
                port, subnet_ids = self._attach_port(conn, ctx, router, existing, body["port_id"])
            else:
                port, subnet_ids = self._attach_subnet(
                    conn, ctx, router, existing, body["subnet_id"]
                )
            _touch(conn, routers, router)
            return _interface_info(router.id, port, subnet_ids[-1], subnet_ids)

        return self.db.write(operation)

    @staticmethod
    def _attach_subnet(
        conn: Connection, ctx: RequestContext, router: Any, existing: list[Interface], sid: str
    ) -> tuple[Any, list[str]]:
        subnet = subnet_service.ACCESS.fetch_visible(conn, ctx, sid)
        if not subnet.gateway_ip:
            raise router_error("Subnet for router interface must have a gateway IP")
        if not ctx.is_admin and subnet.project_id != ctx.project_id:
            # Neutron (LP-1757482): not even a subnet of a shared network
            raise router_error(
                f"Cannot add interface to router because subnet {subnet.id} is not owned by "
                "project making the request"
            )
        _check_address_mode(subnet)
        _check_new_subnets(existing, [subnet])
        gateway = {"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}
        if subnet.ip_version == 6:
            for iface in existing:
                if iface.port.network_id == subnet.network_id and iface.has_ipv6:
                    _readdress(conn, iface.port, [*iface.requested(), gateway])
                    return iface.port, [subnet.id]
        return _create_interface_port(conn, router, subnet.network_id, gateway), [subnet.id]

    @staticmethod
    def _attach_port(
        conn: Connection, ctx: RequestContext, router: Any, existing: list[Interface], pid: str
    ) -> tuple[Any, list[str]]:
        port = PORT_ACCESS.fetch_owned(conn, ctx, pid, "add_router_interface")
        if port.device_id:
            raise PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id)
        fixed = _fixed_of(conn, [port.id])[port.id]
        if not fixed:
            raise router_error("Router port must have at least one fixed IP")
        for subnet, _ in fixed:
            _check_address_mode(subnet)
        candidate = Interface(port, fixed)
        if candidate.has_ipv6:
            for iface in existing:
                if iface.port.network_id == port.network_id and iface.has_ipv6:
                    raise router_error(
                        f"Router already contains IPv6 port {iface.port.id} belonging to "
                        f"network id {port.network_id}. Only one IPv6 port from the same "
                        "network subnet can be connected to a router"
                    )
        _check_new_subnets(existing, list({s.id: s for s, _ in fixed}.values()))
        if sum(1 for subnet, _ in fixed if subnet.ip_version == 4) > 1:
            raise router_error("Cannot have multiple IPv4 subnets on router port")
        if not ctx.is_admin:
            for subnet, ip in fixed:
                if subnet.project_id != ctx.project_id and not _in_pools(subnet, ip):
                    raise router_error(
                        f"Cannot add interface to router because specified port {port.id} has "
                        f"an IP address out of the allocation pool of subnet {subnet.id}, which "
                        "is not owned by the project making the request"
                    )
        values = common.touched(port.revision_number, common.utcnow())
        values.update(device_id=router.id, device_owner=DEVICE_OWNER_ROUTER_INTERFACE)
        conn.execute(update(ports).where(ports.c.id == port.id).values(**values))
        return port, candidate.subnet_ids

    def remove_interface(
        self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]
    ) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            router = ACCESS.fetch_owned(conn, ctx, router_id, "remove_router_interface")
            if _by_port(body, for_removal=True):
                info = self._detach_port(conn, router, body["port_id"], body.get("subnet_id"))
            else:
                info = self._detach_subnet(conn, ctx, router, body["subnet_id"])
            _touch(conn, routers, router)
            return info

        return self.db.write(operation)

    @staticmethod
    def _detach_port(conn: Connection, router: Any, port_id: str, subnet_id: str | None) -> dict:
        iface = next((i for i in _interfaces(conn, router.id) if i.port.id == port_id), None)
        if iface is None:
            raise RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
        subnet_ids = iface.subnet_ids
        if subnet_id and subnet_id not in subnet_ids:
            raise SubnetMismatchForPort(port_id=port_id, subnet_id=subnet_id)
        for subnet in {s.id: s for s, _ in iface.fixed}.values():
            _check_not_used_by_routes(router, subnet)
        _delete_port(conn, iface.port.id)
        return _interface_info(
            router.id, iface.port, subnet_ids[0] if subnet_ids else None, subnet_ids
        )

    @staticmethod
    def _detach_subnet(conn: Connection, ctx: RequestContext, router: Any, sid: str) -> dict:
        subnet = subnet_service.ACCESS.fetch_visible(conn, ctx, sid)
        ifaces = _interfaces(conn, router.id, subnet.network_id)
        if ifaces:
            _check_not_used_by_routes(router, subnet)
        for iface in ifaces:
            if subnet.id not in iface.subnet_ids:
                continue
            remaining = [r for r in iface.requested() if r["subnet_id"] != subnet.id]
            if remaining:  # a multi-prefix port: only this subnet's address goes
                conn.execute(
                    delete(ip_allocations).where(a.port_id == iface.port.id, a.subnet_id == sid)
                )
                _touch(conn, ports, iface.port)
            else:
                _delete_port(conn, iface.port.id)
            return _interface_info(router.id, iface.port, subnet.id, [subnet.id])
        raise RouterInterfaceNotFoundForSubnet(router_id=router.id, subnet_id=subnet.id)
