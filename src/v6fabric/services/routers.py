"""Routers: CRUD, interfaces by subnet or by port, and extra routes (Neutron's l3, extraroute).

A router's interfaces are ports with the device_owner of the router's mode
(``router_interfaces.interface_owner``, changed with it) and the router's id as device_id; each
holds the gateway addresses of the subnets it serves. As in Neutron, every IPv6 subnet of one
network goes onto one shared interface port (several prefixes on one link, R17) while each IPv4
subnet gets a port of its own. The external gateway (R4) is a port of its own too
(``router_gateway``); its router goes to an L3 host that can carry the external network
(``l3_scheduler.follow_gateway``). An HA router (``ha``, admin only, default
``Settings.l3_ha``) runs on several L3 hosts with VRRP between them (``ha_routers``); its ``ha``
changes only while it is administratively down, as in Neutron; so does ``distributed`` (R20,
default ``Settings.router_distributed``, rules in ``dvr_routers``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.constants import ROUTER_INTERFACE_OWNERS
from v6fabric.domain.errors import (
    RouterInUse,
    RouterNotFound,
    router_error,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import (
    common,
    dvr_routers,
    ha_routers,
    l3_scheduler,
    router_attach,
    router_gateway,
)
from v6fabric.services.access import ResourceAccess
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.services.router_interfaces import (
    by_port,
    check_new_subnets,
    interface_info,
    interface_owner,
    interfaces,
    reown_interfaces,
)
from v6fabric.services.router_routes import parse_routes, validated_routes
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import routers

# --- tables, access, list spec ----------------------------------------------------------------

c = routers.c
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
            if changes_dvr or changes_ha:  # the interfaces' owner follows the mode
                ha = bool(body["ha"]) if changes_ha else row.ha
                owner = interface_owner(values.get("distributed", row.distributed), ha)
                reown_interfaces(conn, row.id, owner)
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
        internal = [leg for leg in legs if leg.port.device_owner in ROUTER_INTERFACE_OWNERS]
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
                port, subnet_ids = router_attach.attach_port(
                    conn, ctx, router, existing, body["port_id"]
                )
            else:
                port, subnet_ids = router_attach.attach_subnet(
                    conn, ctx, router, existing, body["subnet_id"]
                )
            self._check_gateway_apart(conn, router.id)
            common.touch_rows(conn, routers, [router.id])
            return interface_info(router.id, port, subnet_ids[-1], subnet_ids)

        return self.db.write(operation)

    def remove_interface(
        self, ctx: RequestContext, router_id: str, body: Mapping[str, Any]
    ) -> dict:
        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            router = ACCESS.fetch_owned(conn, ctx, router_id, "remove_router_interface")
            if by_port(body, for_removal=True):
                info = router_attach.detach_port(
                    conn, router, body["port_id"], body.get("subnet_id")
                )
            else:
                info = router_attach.detach_subnet(conn, ctx, router, body["subnet_id"])
            common.touch_rows(conn, routers, [router.id])
            return info

        return self.db.write(operation)
