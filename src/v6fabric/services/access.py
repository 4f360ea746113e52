"""Who may read and change a row: one rule set for every resource table.

A resource the caller cannot see is a 404 (its existence is not revealed); one the caller can
see but does not own is a 403 on change; a reader-only caller gets a 403 on any change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Select,
    String,
    Table,
    select,
    type_coerce,
)

from v6fabric.domain.errors import FabricError, PolicyNotAuthorized
from v6fabric.identity.context import RequestContext
from v6fabric.services import common


@dataclass(frozen=True)
class ResourceAccess:
    table: Table
    not_found: Callable[[str], FabricError]
    # Extra rows a non-admin may read beside its own project's (shared, external, the rules
    # of its own security groups, ...).
    also_visible: Callable[[RequestContext], ColumnElement[bool]] | None = None

    @functools.cached_property
    def columns(self) -> list[ColumnElement[Any]]:
        return [
            type_coerce(col, String).label(col.name) if isinstance(col.type, DateTime) else col
            for col in self.table.c
        ]

    def visible(self, ctx: RequestContext) -> ColumnElement[bool] | None:
        """The WHERE clause limiting reads to what ``ctx`` may see; None for admins."""
        if ctx.is_admin:
            return None
        own = self.table.c.project_id == ctx.project_id
        return own if self.also_visible is None else own | self.also_visible(ctx)

    def select_visible(self, ctx: RequestContext) -> Select:
        """Every column, timestamps as stored (see ``common.timestamp``)."""
        stmt = select(*self.columns)
        if (clause := self.visible(ctx)) is not None:
            stmt = stmt.where(clause)
        return stmt

    def fetch_visible(self, conn: Connection, ctx: RequestContext, item_id: str) -> Any:
        row = conn.execute(self.select_visible(ctx).where(self.table.c.id == item_id)).first()
        if row is None:
            raise self.not_found(item_id)
        return row

    def fetch_owned(self, conn: Connection, ctx: RequestContext, item_id: str, action: str) -> Any:
        row = self.fetch_visible(conn, ctx, item_id)
        common.require_write(ctx, action)
        if not ctx.is_admin and row.project_id != ctx.project_id:
            raise PolicyNotAuthorized(action=action)
        return row
