"""What every resource service shares: ids, timestamps, ownership and write permission."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, case, func, select, update

from v6fabric.domain.constants import DEFAULT_QUOTAS
from v6fabric.domain.errors import BadRequest, HTTPBadRequest, OverQuota, PolicyNotAuthorized
from v6fabric.identity.context import RequestContext
from v6fabric.store.tables import quotas


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(value: object) -> bool:
    """The schemas take ids in bodies as Any, so that the services refuse a malformed one with
    Neutron's own "'x' is not a valid UUID" in the resource's error."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def utcnow() -> datetime:
    """Naive UTC with whole seconds, as Neutron reports them."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def timestamp(value: datetime | str) -> str:
    """Neutron's form, e.g. 2026-11-28T00:10:08Z.

    Lists read SQLite's stored text ("2026-11-28 00:10:08.000000") unparsed: parsing and
    reformatting 20,000 timestamps was a fifth of a 10,000-port list.
    """
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    return value.isoformat(timespec="seconds") + "Z"


def standard_attributes(row: Mapping[str, Any], named: bool = True) -> dict[str, Any]:
    """The attributes every Neutron resource carries (``row`` is a mapping of columns).

    Security group rules are the exception: no name and no tags (``named=False``)."""
    out = {
        "id": row["id"],
        "description": row["description"],
        "project_id": row["project_id"],
        "tenant_id": row["project_id"],
        "revision_number": row["revision_number"],
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
    }
    if named:
        out["name"] = row["name"]
        out["tags"] = []
    return out


def new_standard_values(
    item_id: str, project_id: str, body: Mapping[str, Any] | None = None, named: bool = True
) -> dict[str, Any]:
    """The standard columns of a new row (the counterpart of ``standard_attributes``)."""
    now = utcnow()
    body = body or {}
    values = {
        "id": item_id,
        "project_id": project_id,
        "description": body.get("description") or "",
        "revision_number": 1,
        "created_at": now,
        "updated_at": now,
    }
    if named:
        values["name"] = body.get("name") or ""
    return values


def require_write(ctx: RequestContext, action: str) -> None:
    if not ctx.can_write:
        raise PolicyNotAuthorized(action=action)


def require_admin_for(
    ctx: RequestContext, action: str, body: Mapping[str, Any], *attrs: str
) -> None:
    """Admin-only attributes: naming them at all (unless at their default) needs admin."""
    if ctx.is_admin:
        return
    for attr in attrs:
        if attr in body:
            raise PolicyNotAuthorized(action=f"{action}:{attr}")


def owner_project(ctx: RequestContext, body: Mapping[str, Any], resource: str) -> str:
    """The project a new resource belongs to; only admins may name another project."""
    project = body.get("project_id") or body.get("tenant_id")
    tenant = body.get("tenant_id")
    if project and tenant and project != tenant:
        raise HTTPBadRequest(msg="project_id and tenant_id do not match")
    if not project or project == ctx.project_id:
        return ctx.project_id
    if not ctx.is_admin:
        raise BadRequest(
            resource=resource,
            msg="Specifying 'project_id' or 'tenant_id' other than the authenticated project "
            "in request requires admin privileges",
        )
    return str(project)


def check_quota(
    conn: Connection, project_id: str, resource: str, table: Table, adding: int = 1
) -> None:
    """One round trip; rows are counted only when the limit is not unlimited (-1)."""
    limit_column = func.coalesce(
        select(quotas.c.limit)
        .where(quotas.c.project_id == project_id, quotas.c.resource == resource)
        .scalar_subquery(),
        DEFAULT_QUOTAS.get(resource, -1),
    )
    count = select(func.count()).select_from(table).where(table.c.project_id == project_id)
    used_column = case((limit_column < 0, 0), else_=count.scalar_subquery())
    limit, used = conn.execute(select(limit_column, used_column)).one()
    if 0 <= limit < used + adding:
        raise OverQuota(overs=[resource])


def touched(row: Any, now: datetime | None = None) -> dict[str, Any]:
    """What an update of ``row`` writes beside its own changes: the next revision number (of
    ``row`` as read in this transaction) and the update time. A bump alone is ``touch_rows``."""
    return {"revision_number": row.revision_number + 1, "updated_at": now or utcnow()}


def touch_rows(conn: Connection, table: Table, ids: Collection[str]) -> None:
    """A child changed (a rule, an interface): its parents get the next revision, as Neutron's
    ``revises_on_change`` does."""
    if ids:
        conn.execute(
            update(table)
            .where(table.c.id.in_(list(ids)))
            .values(revision_number=table.c.revision_number + 1, updated_at=utcnow())
        )
