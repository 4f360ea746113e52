"""Networks: create, read, update, delete, with tenancy and provider segments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.constants import DEVICE_OWNER_DHCP
from v6fabric.domain.errors import (
    InvalidInput,
    InvalidSharedSetting,
    NetworkInUse,
    NetworkMTUSubnetConflict,
    NetworkNotFound,
    PolicyNotAuthorized,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, ha_routers, router_gateway
from v6fabric.services.access import ResourceAccess
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.services.security_group_rows import ensure_default_group
from v6fabric.services.segments import max_mtu, requested_segment, reserve_segment, validate_segment
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import networks, ports, subnets

c = networks.c
SPEC = ListSpec(
    resource="networks",
    columns={
        **standard_columns(networks),
        "admin_state_up": c.admin_state_up,
        "status": c.status,
        "shared": c.shared,
        "router:external": c.external,
        "mtu": c.mtu,
        "port_security_enabled": c.port_security_enabled,
        "provider:network_type": c.network_type,
        "provider:physical_network": c.physical_network,
        "provider:segmentation_id": c.segmentation_id,
    },
    converters={
        "admin_state_up": parse_bool,
        "shared": parse_bool,
        "router:external": parse_bool,
        "port_security_enabled": parse_bool,
        "mtu": parse_int,
        "revision_number": parse_int,
        "provider:segmentation_id": parse_int,
    },
    ignored_filters=frozenset({"subnets", "tags", "availability_zone_hints", "is_default"}),
)
ACCESS = ResourceAccess(
    networks,
    lambda net_id: NetworkNotFound(net_id=net_id),
    lambda _ctx: c.shared.is_(True) | c.external.is_(True),  # readable by every project
)
fetch_visible = ACCESS.fetch_visible
fetch_owned = ACCESS.fetch_owned
ADMIN_ATTRIBUTES = (
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "router:external",
)


class NetworkService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # --- reads ----------------------------------------------------------------------------

    def to_wire(self, ctx: RequestContext, row: Any, subnet_ids: Sequence[str]) -> dict[str, Any]:
        out = common.standard_attributes(row._mapping)
        out.update(
            {
                "admin_state_up": row.admin_state_up,
                "status": row.status,
                "shared": row.shared,
                "router:external": row.external,
                "mtu": row.mtu,
                "port_security_enabled": row.port_security_enabled,
                "subnets": list(subnet_ids),
                "availability_zone_hints": [],
                "availability_zones": [],
                "ipv4_address_scope": None,
                "ipv6_address_scope": None,
                "l2_adjacency": True,
            }
        )
        if ctx.is_admin:
            out["provider:network_type"] = row.network_type
            out["provider:physical_network"] = row.physical_network
            out["provider:segmentation_id"] = row.segmentation_id
        return out

    def _render(self, conn: Connection, ctx: RequestContext, rows: Sequence[Any]) -> list[dict]:
        by_network: dict[str, list[str]] = defaultdict(list)
        ids = [r.id for r in rows]
        if ids:
            for net_id, sub_id in conn.execute(
                select(subnets.c.network_id, subnets.c.id)
                .where(subnets.c.network_id.in_(ids))
                .order_by(subnets.c.created_at, subnets.c.id)
            ):
                by_network[net_id].append(sub_id)
        return [self.to_wire(ctx, r, by_network[r.id]) for r in rows]

    def list(self, ctx: RequestContext, query: ListQuery) -> list[dict]:
        with self.db.read() as conn:
            return self.list_in(conn, ctx, query)

    def list_in(self, conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (the fabric's consistent snapshot)."""
        stmt = ACCESS.select_visible(ctx)
        return self._render(conn, ctx, apply_list(conn, SPEC, stmt, query))

    def get(self, ctx: RequestContext, network_id: str) -> dict:
        with self.db.read() as conn:
            return self._render(conn, ctx, [fetch_visible(conn, ctx, network_id)])[0]

    # --- writes ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_network")
        for body in bodies:
            common.require_admin_for(ctx, "create_network", body, *ADMIN_ATTRIBUTES)
            if body.get("shared") and not ctx.is_admin:
                raise PolicyNotAuthorized(action="create_network:shared")

        def operation(txn: WriteTxn) -> list[dict]:
            rows = [self._insert(txn.conn, ctx, body) for body in bodies]
            return self._render(txn.conn, ctx, rows)

        return self.db.write(operation)

    def _insert(self, conn: Connection, ctx: RequestContext, body: Mapping[str, Any]) -> Any:
        project = common.owner_project(ctx, body, "network")
        common.check_quota(conn, project, "network", networks)
        ensure_default_group(conn, project)  # as Neutron does before a network is created
        requested = requested_segment(body)
        if requested is not None:
            validate_segment(self.settings, requested)
        segment = reserve_segment(conn, self.settings, requested)
        limit = max_mtu(self.settings, segment.network_type)
        mtu = body.get("mtu")
        if mtu is None:
            mtu = limit
        _check_mtu(mtu, limit)
        values = {
            **common.new_standard_values(common.new_id(), project, body),
            "admin_state_up": body.get("admin_state_up") is not False,
            "status": "ACTIVE",
            "shared": bool(body.get("shared", False)),
            "external": bool(body.get("router:external", False)),
            "mtu": mtu,
            "port_security_enabled": body.get("port_security_enabled", True),
            "network_type": segment.network_type,
            "physical_network": segment.physical_network,
            "segmentation_id": segment.segmentation_id,
        }
        conn.execute(networks.insert().values(**values))
        return conn.execute(select(networks).where(c.id == values["id"])).one()

    def update(self, ctx: RequestContext, network_id: str, body: Mapping[str, Any]) -> dict:
        for attr in ADMIN_ATTRIBUTES:
            if attr.startswith("provider:") and attr in body:
                raise InvalidInput("Plugin does not support updating provider attributes")
        common.require_admin_for(ctx, "update_network", body, "router:external", "shared")

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = fetch_owned(conn, ctx, network_id, "update_network")
            values = common.touched(row)
            for attr in ("name", "description", "admin_state_up", "port_security_enabled"):
                if attr in body and body[attr] is not None:
                    values[attr] = body[attr]
            if "router:external" in body:
                if row.external and not body["router:external"]:
                    router_gateway.check_still_external(conn, row.id)
                values["external"] = bool(body["router:external"])
            if "shared" in body:
                if row.shared and not body["shared"]:
                    _check_unshare(conn, row)
                values["shared"] = bool(body["shared"])
            if body.get("mtu") is not None:
                _check_mtu(body["mtu"], max_mtu(self.settings, row.network_type))
                _check_mtu_fits_subnets(conn, row.id, body["mtu"])
                values["mtu"] = body["mtu"]
            conn.execute(update(networks).where(c.id == row.id).values(**values))
            fresh = conn.execute(select(networks).where(c.id == row.id)).one()
            return self._render(conn, ctx, [fresh])[0]

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, network_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = fetch_owned(conn, ctx, network_id, "delete_network")
            in_use = conn.execute(
                select(ports.c.id)
                .where(ports.c.network_id == row.id, ports.c.device_owner != DEVICE_OWNER_DHCP)
                .limit(1)
            ).first()
            if in_use is not None or ha_routers.in_use(conn, row.id):
                raise NetworkInUse(net_id=row.id)
            conn.execute(delete(ports).where(ports.c.network_id == row.id))
            conn.execute(delete(subnets).where(subnets.c.network_id == row.id))
            conn.execute(delete(networks).where(c.id == row.id))

        self.db.write(operation)


def _check_mtu(mtu: int, limit: int) -> None:
    if mtu < 68:
        raise InvalidInput(
            f"Invalid input for mtu. Reason: '{mtu}' is too small - must be at least '68'"
        )
    if mtu > limit:
        raise InvalidInput(f"Requested MTU is too big, maximum is {limit}")


def _check_mtu_fits_subnets(conn: Connection, network_id: str, mtu: int) -> None:
    if mtu >= 1280:
        return
    v6 = conn.execute(
        select(subnets.c.id).where(subnets.c.network_id == network_id, subnets.c.ip_version == 6)
    ).first()
    if v6 is not None:
        raise NetworkMTUSubnetConflict(net_id=network_id, subnet_id=v6.id)


def _check_unshare(conn: Connection, row: Any) -> None:
    foreign = conn.execute(
        select(ports.c.id)
        .where(ports.c.network_id == row.id, ports.c.project_id != row.project_id)
        .limit(1)
    ).first()
    if foreign is not None:
        raise InvalidSharedSetting(network=row.name or row.id)
