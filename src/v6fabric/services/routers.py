"""Routers: CRUD, interfaces by subnet or by port, and extra routes (Neutron's l3, extraroute).

A router's interfaces are ports with device_owner ``network:router_interface`` and the router's
id as device_id; each holds the gateway addresses of the subnets it serves. As in Neutron, every
IPv6 subnet of one network goes onto one shared interface port (several prefixes on one link,
R17) while each IPv4 subnet gets a port of its own. The external gateway (R4) is a port of its
own too (``router_gateway``); its router goes to an L3 host that can carry the external network
(``l3_scheduler.follow_gateway``). An HA router (``ha``, admin only, default
``Settings.l3_ha``) runs on several L3 hosts with VRRP between them (``ha_routers``); its ``ha``
changes only while it is administratively down, as in Neutron; so does ``distributed`` (R20,
default ``Settings.router_distributed``, rules in ``dvr_routers``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.constants import DEVICE_OWNER_ROUTER_INTERFACE
from v6fabric.domain.errors import (
    PortInUse,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    RouterInUse,
    RouterNotFound,
    SubnetMismatchForPort,
    router_error,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, dvr_routers, ha_routers, l3_scheduler, router_gateway
from v6fabric.services import subnets as subnet_service
from v6fabric.services.access import ResourceAccess
from v6fabric.services.ports import ACCESS as PORT_ACCESS
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.services.router_interfaces import (
    Interface,
    by_port,
    check_address_mode,
    check_new_subnets,
    check_not_used_by_routes,
    create_interface_port,
    delete_port,
    fixed_of,
    in_pools,
    interface_info,
    interfaces,
    readdress,
)
from v6fabric.services.router_routes import parse_routes, validated_routes
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import ip_allocations, ports, routers

# --- tables, access, list spec ----------------------------------------------------------------

c = routers.c
a = ip_allocations.c
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


def to_wire(ctx: RequestContext, row: Any, gateway: dict[str, Any] | None = None) -> dict[str, Any]:
    """``gateway``: the router's ``external_gateway_info`` (``router_gateway.infos``)."""
    out = common.standard_attributes(row._mapping)
    out.update(
        {
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "external_gateway_info": gateway,
            "routes": list(row.routes),
        }
    )
    if ctx.is_admin:  # Neutron's policy: get_router:distributed and get_router:ha are admin only
        out["distributed"] = row.distributed
        out["ha"] = row.ha
    return out


# --- the service --------------------------------------------------------------------------------


def rendered(conn: Connection, ctx: RequestContext, rows: Sequence[Any]) -> list[dict]:
    gateways = router_gateway.infos(conn, rows)
    return [to_wire(ctx, row, gateways.get(row.id)) for row in rows]


def fresh(conn: Connection, ctx: RequestContext, router_id: str) -> dict:
    """The router as it is now, inside the caller's transaction."""
    return rendered(conn, ctx, [conn.execute(select(routers).where(c.id == router_id)).one()])[0]


ACTIVE_HA_CHANGE = (
    "Cannot change HA attribute of active routers. Please set router admin_state_up to False "
    "prior to upgrade"
)


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
        return rendered(conn, ctx, rows)

    def get(self, ctx: RequestContext, router_id: str) -> dict:
        with self.db.read() as conn:
            return rendered(conn, ctx, [ACCESS.fetch_visible(conn, ctx, router_id)])[0]

    # --- writes ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_router")
        gateways = [router_gateway.parse(body.get("external_gateway_info")) for body in bodies]
        for body in bodies:
            common.require_admin_for(ctx, "create_router", body, *ADMIN_ATTRIBUTES)
            router_gateway.check_policy(ctx, "create_router", body)
        modes = [dvr_routers.new_modes(self.settings, body) for body in bodies]

        def operation(txn: WriteTxn) -> list[dict]:
            conn = txn.conn
            rows = [self._insert(conn, ctx, b, *m) for b, m in zip(bodies, modes, strict=True)]
            for row in rows:
                if row.ha:  # the project's HA network comes with its first HA router
                    ha_routers.ensure_network(conn, self.settings, row.project_id)
            for row, gateway in zip(rows, gateways, strict=True):
                if gateway is not None:
                    self._set_gateway(conn, row, gateway)
            l3_scheduler.place(conn, self.settings, [row.id for row in rows])
            for row, gateway in zip(rows, gateways, strict=True):
                if gateway is not None:
                    l3_scheduler.follow_gateway(conn, self.settings, row.id, gateway.network_id)
            return [fresh(conn, ctx, row.id) for row in rows]

        return self.db.write(operation)

    @staticmethod
    def _insert(
        conn: Connection, ctx: RequestContext, body: Mapping[str, Any], distributed: bool, ha: bool
    ) -> Any:
        project = common.owner_project(ctx, body, "router")
        common.check_quota(conn, project, "router", routers)
        router_id = common.new_id()
        conn.execute(
            routers.insert().values(
                **common.new_standard_values(router_id, project, body),
                admin_state_up=body.get("admin_state_up") is not False,
                status="ACTIVE",
                external_network_id=None,
                enable_snat=True,
                routes=[],
                distributed=distributed,
                ha=False,
            )
        )
        row = conn.execute(select(routers).where(c.id == router_id)).one()
        if ha:
            vrid = ha_routers.allocate_vrid(conn, row)
            conn.execute(update(routers).where(c.id == router_id).values(ha=True, ha_vr_id=vrid))
            row = conn.execute(select(routers).where(c.id == router_id)).one()
        return row

    def update(self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]) -> dict:
        changes_gateway = "external_gateway_info" in body
        gateway = router_gateway.parse(body.get("external_gateway_info"))
        common.require_admin_for(ctx, "update_router", body, *ADMIN_ATTRIBUTES)
        router_gateway.check_policy(ctx, "update_router", body)

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, router_id, "update_router")
            changes_dvr = dvr_routers.changes_distributed(row, body)
            changes_ha = body.get("ha") is not None and bool(body["ha"]) != row.ha
            if changes_ha:
                self._change_ha(conn, row, body)
            if changes_gateway:
                self._set_gateway(conn, row, gateway)
                if gateway is not None:
                    l3_scheduler.follow_gateway(conn, self.settings, row.id, gateway.network_id)
            if changes_ha and body["ha"]:  # its instances on as many hosts as it should have
                l3_scheduler.top_up(conn, self.settings, [row.id])
                l3_scheduler.place(conn, self.settings, self._unplaced(conn, row.id))
            values = common.touched(row)
            for attr in ("name", "description", "admin_state_up"):
                if body.get(attr) is not None:
                    values[attr] = body[attr]
            if changes_dvr:
                values["distributed"] = bool(body["distributed"])
            if "routes" in body:
                values["routes"] = validated_routes(
                    row.id, body["routes"], interfaces(conn, row.id, with_gateway=True)
                )
            elif changes_gateway:  # the routes must still have an on-link next hop
                validated_routes(row.id, row.routes, interfaces(conn, row.id, with_gateway=True))
            conn.execute(update(routers).where(c.id == row.id).values(**values))
            return fresh(conn, ctx, row.id)

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, router_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, router_id, "delete_router")
            attached = [iface.port.id for iface in interfaces(conn, row.id)]
            if attached:
                reason = "has ports still attached: " + ", ".join(attached)
                raise RouterInUse(router_id=row.id, reason=reason)
            router_gateway.set_gateway(conn, row, None)  # Neutron removes the gateway with it
            ha_routers.forget(conn, row)
            conn.execute(delete(routers).where(c.id == row.id))
            ha_routers.release_network(conn, row.project_id)

        self.db.write(operation)

    def _change_ha(self, conn: Connection, row: Any, body: Mapping[str, Any]) -> None:
        """Neutron's rule: only a router that is (or is being set) administratively down."""
        admin_up = (
            row.admin_state_up if body.get("admin_state_up") is None else body["admin_state_up"]
        )
        if admin_up:
            raise router_error(ACTIVE_HA_CHANGE)
        if body["ha"]:
            ha_routers.make_ha(conn, self.settings, row)
        else:
            ha_routers.make_plain(conn, row)

    @staticmethod
    def _unplaced(conn: Connection, router_id: str) -> list[str]:
        return [r for r in l3_scheduler.unplaced_routers(conn) if r == router_id]

    @staticmethod
    def _set_gateway(
        conn: Connection, row: Any, gateway: router_gateway.GatewayRequest | None
    ) -> None:
        """Set or clear the gateway; its subnets may overlap none of the interfaces'."""
        router_gateway.set_gateway(conn, row, gateway)
        RouterService._check_gateway_apart(conn, row.id)

    @staticmethod
    def _check_gateway_apart(conn: Connection, router_id: str) -> None:
        """No interface subnet may be on or overlap the gateway's (Neutron's
        _check_for_dup_router_subnets): the router could not tell the two links apart."""
        legs = interfaces(conn, router_id, with_gateway=True)
        internal = [leg for leg in legs if leg.port.device_owner == DEVICE_OWNER_ROUTER_INTERFACE]
        external = [subnet for leg in legs if leg not in internal for subnet, _ in leg.fixed]
        check_new_subnets(internal, list({s.id: s for s in external}.values()))

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
            values = common.touched(row)
            legs = interfaces(conn, row.id, with_gateway=True)
            values["routes"] = validated_routes(row.id, routes, legs)
            conn.execute(update(routers).where(c.id == row.id).values(**values))
            return fresh(conn, ctx, row.id)

        return self.db.write(operation)

    # --- interfaces -----------------------------------------------------------------------

    def add_interface(self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            router = ACCESS.fetch_owned(conn, ctx, router_id, "add_router_interface")
            existing = interfaces(conn, router.id)
            if by_port(body, for_removal=False):
                port, subnet_ids = self._attach_port(conn, ctx, router, existing, body["port_id"])
            else:
                port, subnet_ids = self._attach_subnet(
                    conn, ctx, router, existing, body["subnet_id"]
                )
            self._check_gateway_apart(conn, router.id)
            common.touch_rows(conn, routers, [router.id])
            return interface_info(router.id, port, subnet_ids[-1], subnet_ids)

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
        check_address_mode(subnet)
        check_new_subnets(existing, [subnet])
        gateway = {"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}
        if subnet.ip_version == 6:
            for iface in existing:
                if iface.port.network_id == subnet.network_id and iface.has_ipv6:
                    readdress(conn, iface.port, [*iface.requested(), gateway])
                    return iface.port, [subnet.id]
        return create_interface_port(conn, router, subnet.network_id, gateway), [subnet.id]

    @staticmethod
    def _attach_port(
        conn: Connection, ctx: RequestContext, router: Any, existing: list[Interface], pid: str
    ) -> tuple[Any, list[str]]:
        port = PORT_ACCESS.fetch_owned(conn, ctx, pid, "add_router_interface")
        if port.device_id:
            raise PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id)
        fixed = fixed_of(conn, [port.id])[port.id]
        if not fixed:
            raise router_error("Router port must have at least one fixed IP")
        for subnet, _ in fixed:
            check_address_mode(subnet)
        candidate = Interface(port, fixed)
        if candidate.has_ipv6:
            for iface in existing:
                if iface.port.network_id == port.network_id and iface.has_ipv6:
                    raise router_error(
                        f"Router already contains IPv6 port {iface.port.id} belonging to "
                        f"network id {port.network_id}. Only one IPv6 port from the same "
                        "network subnet can be connected to a router"
                    )
        check_new_subnets(existing, list({s.id: s for s, _ in fixed}.values()))
        if sum(1 for subnet, _ in fixed if subnet.ip_version == 4) > 1:
            raise router_error("Cannot have multiple IPv4 subnets on router port")
        if not ctx.is_admin:
            for subnet, ip in fixed:
                if subnet.project_id != ctx.project_id and not in_pools(subnet, ip):
                    raise router_error(
                        f"Cannot add interface to router because specified port {port.id} has "
                        f"an IP address out of the allocation pool of subnet {subnet.id}, which "
                        "is not owned by the project making the request"
                    )
        values = common.touched(port)
        values.update(device_id=router.id, device_owner=DEVICE_OWNER_ROUTER_INTERFACE)
        conn.execute(update(ports).where(ports.c.id == port.id).values(**values))
        return port, candidate.subnet_ids

    def remove_interface(
        self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]
    ) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            router = ACCESS.fetch_owned(conn, ctx, router_id, "remove_router_interface")
            if by_port(body, for_removal=True):
                info = self._detach_port(conn, router, body["port_id"], body.get("subnet_id"))
            else:
                info = self._detach_subnet(conn, ctx, router, body["subnet_id"])
            common.touch_rows(conn, routers, [router.id])
            return info

        return self.db.write(operation)

    @staticmethod
    def _detach_port(conn: Connection, router: Any, port_id: str, subnet_id: str | None) -> dict:
        iface = next((i for i in interfaces(conn, router.id) if i.port.id == port_id), None)
        if iface is None:
            raise RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
        subnet_ids = iface.subnet_ids
        if subnet_id and subnet_id not in subnet_ids:
            raise SubnetMismatchForPort(port_id=port_id, subnet_id=subnet_id)
        for subnet in {s.id: s for s, _ in iface.fixed}.values():
            check_not_used_by_routes(router, subnet)
        delete_port(conn, iface.port.id)
        return interface_info(
            router.id, iface.port, subnet_ids[0] if subnet_ids else None, subnet_ids
        )

    @staticmethod
    def _detach_subnet(conn: Connection, ctx: RequestContext, router: Any, sid: str) -> dict:
        subnet = subnet_service.ACCESS.fetch_visible(conn, ctx, sid)
        ifaces = interfaces(conn, router.id, subnet.network_id)
        if ifaces:
            check_not_used_by_routes(router, subnet)
        for iface in ifaces:
            if subnet.id not in iface.subnet_ids:
                continue
            remaining = [r for r in iface.requested() if r["subnet_id"] != subnet.id]
            if remaining:  # a multi-prefix port: only this subnet's address goes
                conn.execute(
                    delete(ip_allocations).where(a.port_id == iface.port.id, a.subnet_id == sid)
                )
                common.touch_rows(conn, ports, [iface.port.id])
            else:
                delete_port(conn, iface.port.id)
            return interface_info(router.id, iface.port, subnet.id, [subnet.id])
        raise RouterInterfaceNotFoundForSubnet(router_id=router.id, subnet_id=subnet.id)
