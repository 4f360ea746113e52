"""Subnet pools: prefixes subnets are carved from, and the carving at subnet create."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.addresses import IPNetwork, parse_cidr
from v6fabric.domain.errors import (
    BadRequest,
    DefaultSubnetPoolExists,
    IllegalSubnetPoolPrefixUpdate,
    InvalidInput,
    PolicyNotAuthorized,
    SubnetAllocationError,
    SubnetPoolInUse,
    SubnetPoolNotFound,
    invalid_attribute,
)
from v6fabric.identity.context import RequestContext
from v6fabric.ipam.subnetpools import allocate_prefix, collapse, within_pool
from v6fabric.services import common
from v6fabric.services.access import ResourceAccess
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
from v6fabric.store.tables import subnetpools, subnets

c = subnetpools.c
SPEC = ListSpec(
    resource="subnetpools",
    columns={
        **standard_columns(subnetpools),
        "ip_version": c.ip_version,
        "default_prefixlen": c.default_prefixlen,
        "min_prefixlen": c.min_prefixlen,
        "max_prefixlen": c.max_prefixlen,
        "shared": c.shared,
        "is_default": c.is_default,
    },
    converters={
        "ip_version": parse_int,
        "default_prefixlen": parse_int,
        "min_prefixlen": parse_int,
        "max_prefixlen": parse_int,
        "shared": parse_bool,
        "is_default": parse_bool,
    },
    ignored_filters=frozenset({"prefixes", "tags", "address_scope_id", "default_quota"}),
)


ACCESS = ResourceAccess(
    subnetpools,
    lambda pool_id: SubnetPoolNotFound(subnetpool_id=pool_id),
    lambda _ctx: c.shared.is_(True),
)
fetch_visible = ACCESS.fetch_visible


def to_wire(row: Any) -> dict[str, Any]:
    out = common.standard_attributes(row._mapping)
    out.update(
        {
            "ip_version": row.ip_version,
            "prefixes": row.prefixes,
            "default_prefixlen": row.default_prefixlen,
            "min_prefixlen": row.min_prefixlen,
            "max_prefixlen": row.max_prefixlen,
            "shared": row.shared,
            "is_default": row.is_default,
            "default_quota": row.default_quota,
            "address_scope_id": None,
        }
    )
    return out


def _parse_prefixes(raw: object) -> list[IPNetwork]:
    if not isinstance(raw, list) or not raw:
        raise invalid_attribute("prefixes", f"'{raw}' is not a non-empty list")
    parsed = []
    for item in raw:
        net = parse_cidr(item)
        if net is None:
            raise invalid_attribute("prefixes", f"'{item}' is not a valid IP subnet")
        parsed.append(net)
    if len({n.version for n in parsed}) != 1:
        raise InvalidInput("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
    return collapse(parsed)


def choose_cidr_from_pool(
    conn: Connection,
    ctx: RequestContext,
    body: Mapping[str, Any],
    ip_version: int,
    cidr: IPNetwork | None,
) -> tuple[str | None, IPNetwork | None]:
    """The pool a new subnet comes from (if any) and its CIDR, given or carved from the pool."""
    pool_id = body.get("subnetpool_id")
    if body.get("use_default_subnetpool"):
        if pool_id:
            raise BadRequest(
                resource="subnets",
                msg="subnetpool_id and use_default_subnetpool cannot both be specified",
            )
        pool = conn.execute(
            select(subnetpools).where(c.is_default.is_(True), c.ip_version == ip_version)
        ).first()
        if pool is None:
            raise BadRequest(
                resource="subnets", msg=f"No default subnetpool found for IPv{ip_version}"
            )
    elif pool_id:
        pool = fetch_visible(conn, ctx, pool_id)
    else:
        return None, cidr
    if pool.ip_version != ip_version:
        raise InvalidInput(
            f"Cannot allocate IPv{ip_version} subnet from IPv{pool.ip_version} subnet pool"
        )
    prefixes = [parse_cidr(p) for p in pool.prefixes]
    used = [
        parse_cidr(x)
        for x in conn.execute(
            select(subnets.c.cidr).where(subnets.c.subnetpool_id == pool.id)
        ).scalars()
    ]
    if cidr is not None:
        if not within_pool(prefixes, cidr):  # type: ignore[arg-type]
            raise SubnetAllocationError(
                reason="Cannot allocate requested subnet from the available set of prefixes"
            )
        if any(u.overlaps(cidr) for u in used):  # type: ignore[union-attr,arg-type]
            raise SubnetAllocationError(
                reason=f"Cannot allocate requested subnet {cidr}: it overlaps an allocated subnet"
            )
        return pool.id, cidr
    prefixlen = body.get("prefixlen") or pool.default_prefixlen
    if not pool.min_prefixlen <= int(prefixlen) <= pool.max_prefixlen:
        raise SubnetAllocationError(
            reason=f"Unable to allocate subnet with prefix length {prefixlen}, allowed range is "
            f"{pool.min_prefixlen}-{pool.max_prefixlen}"
        )
    chosen = allocate_prefix(prefixes, used, int(prefixlen))  # type: ignore[arg-type]
    if chosen is None:
        raise SubnetAllocationError(
            reason=f"Insufficient prefix space to allocate subnet size /{prefixlen}"
        )
    return pool.id, chosen


class SubnetPoolService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def list(self, ctx: RequestContext, query: ListQuery) -> list[dict]:
        stmt = ACCESS.select_visible(ctx)
        with self.db.read() as conn:
            return [to_wire(r) for r in apply_list(conn, SPEC, stmt, query)]

    def get(self, ctx: RequestContext, pool_id: str) -> dict:
        with self.db.read() as conn:
            return to_wire(fetch_visible(conn, ctx, pool_id))

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_subnetpool")
        for body in bodies:
            if body.get("shared") and not ctx.is_admin:
                raise PolicyNotAuthorized(action="create_subnetpool:shared")
            if body.get("is_default") and not ctx.is_admin:
                raise PolicyNotAuthorized(action="create_subnetpool:is_default")

        def operation(txn: WriteTxn) -> list[dict]:
            return [to_wire(self._insert(txn.conn, ctx, body)) for body in bodies]

        return self.db.write(operation)

    def _insert(self, conn: Connection, ctx: RequestContext, body: Mapping[str, Any]) -> Any:
        project = common.owner_project(ctx, body, "subnetpool")
        common.check_quota(conn, project, "subnetpool", subnetpools)
        prefixes = _parse_prefixes(body.get("prefixes"))
        version = prefixes[0].version
        width = prefixes[0].max_prefixlen
        shortest = min(p.prefixlen for p in prefixes)
        min_len = body.get("min_prefixlen") or shortest
        max_len = body.get("max_prefixlen") or width
        default_len = body.get("default_prefixlen") or min_len
        if not (0 <= min_len <= default_len <= max_len <= width) or min_len < shortest:
            raise InvalidInput(
                f"Illegal prefix bounds: min_prefixlen={min_len}, "
                f"default_prefixlen={default_len}, max_prefixlen={max_len}"
            )
        if body.get("is_default"):
            _check_single_default(conn, version, None)
        pool_id = common.new_id()
        conn.execute(
            subnetpools.insert().values(
                **common.new_standard_values(pool_id, project, body),
                ip_version=version,
                prefixes=[str(p) for p in prefixes],
                default_prefixlen=default_len,
                min_prefixlen=min_len,
                max_prefixlen=max_len,
                shared=bool(body.get("shared", False)),
                is_default=bool(body.get("is_default", False)),
                default_quota=body.get("default_quota"),
            )
        )
        return conn.execute(select(subnetpools).where(c.id == pool_id)).one()

    def update(self, ctx: RequestContext, pool_id: str, body: Mapping[str, Any]) -> dict:
        if "is_default" in body and not ctx.is_admin:
            raise PolicyNotAuthorized(action="update_subnetpool:is_default")

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, pool_id, "update_subnetpool")
            values = common.touched(row)
            for attr in (
                "name",
                "description",
                "default_prefixlen",
                "min_prefixlen",
                "max_prefixlen",
            ):
                if body.get(attr) is not None:
                    values[attr] = body[attr]
            if body.get("prefixes") is not None:
                new = _parse_prefixes(body["prefixes"])
                old = [parse_cidr(p) for p in row.prefixes]
                if not all(within_pool(new, o) for o in old):  # type: ignore[arg-type]
                    raise IllegalSubnetPoolPrefixUpdate(
                        msg="Existing prefixes must be a subset of the new prefixes"
                    )
                values["prefixes"] = [str(p) for p in new]
            if body.get("is_default"):
                _check_single_default(conn, row.ip_version, row.id)
            if "is_default" in body:
                values["is_default"] = bool(body["is_default"])
            conn.execute(update(subnetpools).where(c.id == row.id).values(**values))
            return to_wire(conn.execute(select(subnetpools).where(c.id == row.id)).one())

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, pool_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, pool_id, "delete_subnetpool")
            used = conn.execute(
                select(subnets.c.id).where(subnets.c.subnetpool_id == row.id).limit(1)
            ).first()
            if used is not None:
                raise SubnetPoolInUse(subnet_pool_id=row.id)
            conn.execute(delete(subnetpools).where(c.id == row.id))

        self.db.write(operation)


def _check_single_default(conn: Connection, version: int, except_id: str | None) -> None:
    stmt = select(c.id).where(c.is_default.is_(True), c.ip_version == version)
    if except_id:
        stmt = stmt.where(c.id != except_id)
    if conn.execute(stmt).first() is not None:
        raise DefaultSubnetPoolExists()
