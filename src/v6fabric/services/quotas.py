"""Per-project quotas with Neutron's defaults; -1 means unlimited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, select

from v6fabric.domain.constants import DEFAULT_QUOTAS
from v6fabric.domain.errors import InvalidInput, PolicyNotAuthorized, invalid_attribute
from v6fabric.identity.context import RequestContext
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import (
    networks,
    ports,
    quotas,
    routers,
    security_group_rules,
    security_groups,
    subnetpools,
    subnets,
)

COUNTED = {
    "network": networks,
    "subnet": subnets,
    "port": ports,
    "subnetpool": subnetpools,
    "router": routers,
    "security_group": security_groups,
    "security_group_rule": security_group_rules,
}


class QuotaService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @staticmethod
    def _limits(conn: Connection, project_id: str) -> dict[str, int]:
        limits = dict(DEFAULT_QUOTAS)
        for resource, limit in conn.execute(
            select(quotas.c.resource, quotas.c.limit).where(quotas.c.project_id == project_id)
        ):
            limits[resource] = limit
        return limits

    @staticmethod
    def _authorize(ctx: RequestContext, project_id: str) -> None:
        if not ctx.is_admin and project_id != ctx.project_id:
            raise PolicyNotAuthorized(action="get_quota")

    def get(self, ctx: RequestContext, project_id: str) -> dict[str, int]:
        self._authorize(ctx, project_id)
        with self.db.read() as conn:
            return self._limits(conn, project_id)

    def defaults(self, ctx: RequestContext, project_id: str) -> dict[str, int]:
        self._authorize(ctx, project_id)
        return dict(DEFAULT_QUOTAS)

    def details(self, ctx: RequestContext, project_id: str) -> dict[str, dict[str, int]]:
        self._authorize(ctx, project_id)
        with self.db.read() as conn:
            return {
                resource: {
                    "limit": limit,
                    "used": _usage(conn, project_id, resource),
                    "reserved": 0,
                }
                for resource, limit in self._limits(conn, project_id).items()
            }

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """Projects with non-default quotas (admins see all, others only their own)."""
        with self.db.read() as conn:
            stmt = select(quotas.c.project_id).distinct()
            if not ctx.is_admin:
                stmt = stmt.where(quotas.c.project_id == ctx.project_id)
            projects = list(conn.execute(stmt).scalars())
            return [{"project_id": p, "tenant_id": p, **self._limits(conn, p)} for p in projects]

    def update(
        self, ctx: RequestContext, project_id: str, body: Mapping[str, Any]
    ) -> dict[str, int]:
        """Set limits. ``force`` and ``check_limit`` are flags, as in Neutron, not resources:
        with ``check_limit`` a limit below current usage is refused."""
        if not ctx.is_admin:
            raise PolicyNotAuthorized(action="update_quota")
        check_limit = bool(body.get("check_limit", False)) and not body.get("force", False)
        limits = {k: _quota_int(k, v) for k, v in body.items() if k not in ("force", "check_limit")}
        for resource in limits:
            if resource not in DEFAULT_QUOTAS:
                raise invalid_attribute("quota", f"Unrecognized quota resource '{resource}'")

        def operation(txn: WriteTxn) -> dict[str, int]:
            for resource, limit in limits.items():
                used = _usage(txn.conn, project_id, resource)
                if check_limit and limit != -1 and limit < used:
                    raise InvalidInput(
                        f"Quota limit {limit} for {resource} must be greater than or equal to "
                        f"already used {used}"
                    )
                txn.conn.execute(
                    delete(quotas).where(
                        quotas.c.project_id == project_id, quotas.c.resource == resource
                    )
                )
                txn.conn.execute(
                    quotas.insert().values(project_id=project_id, resource=resource, limit=limit)
                )
            return self._limits(txn.conn, project_id)

        return self.db.write(operation)

    def reset(self, ctx: RequestContext, project_id: str) -> None:
        if not ctx.is_admin:
            raise PolicyNotAuthorized(action="delete_quota")
        self.db.write(
            lambda txn: txn.conn.execute(delete(quotas).where(quotas.c.project_id == project_id))
        )


def _usage(conn: Connection, project_id: str, resource: str) -> int:
    table = COUNTED.get(resource)
    if table is None:
        return 0
    return conn.execute(
        select(func.count()).select_from(table).where(table.c.project_id == project_id)
    ).scalar_one()


def _quota_int(resource: str, value: object) -> int:
    """Neutron converts limits with convert_to_int: "6" is 6."""
    try:
        limit = int(value) if not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        limit = None
    if limit is None or limit < -1:
        raise invalid_attribute(resource, f"'{value}' should be an integer >= -1")
    return limit
