"""Security groups (Neutron's security-group and stateful-security-group extensions).

A group embeds its rules. The ``default`` group of a project cannot be renamed, nor deleted
by a non-admin; a group bound to a port cannot be deleted nor change ``stateful``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.security_errors import (
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupDefaultAlreadyExists,
    SecurityGroupInUse,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.services.security_group_rows import (
    DEFAULT_NAME,
    GROUP_ACCESS,
    ListsWithDefaultGroup,
    ensure_default_group,
    insert_group,
    rules_by_group,
)
from v6fabric.store.db import WriteTxn
from v6fabric.store.tables import port_security_groups, security_group_rules, security_groups

g = security_groups.c
r = security_group_rules.c
SPEC = ListSpec(
    resource="security_groups",
    columns={**standard_columns(security_groups), "stateful": g.stateful},
    converters={"stateful": parse_bool, "revision_number": parse_int},
    ignored_filters=frozenset({"tags", "shared"}),
)


def _check_name(name: object) -> None:
    """Neutron's name_not_default validator: no second `default`, in any case."""
    if isinstance(name, str) and name.lower() == DEFAULT_NAME:
        raise SecurityGroupDefaultAlreadyExists()


def _in_use(conn: Connection, group_id: str) -> bool:
    bound = select(port_security_groups.c.port_id).where(
        port_security_groups.c.security_group_id == group_id
    )
    return conn.execute(bound.limit(1)).first() is not None


def _render(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    rules = rules_by_group(conn, [row.id for row in rows])
    return [
        {
            **common.standard_attributes(row._mapping),
            "stateful": row.stateful,
            "security_group_rules": rules[row.id],
        }
        for row in rows
    ]


def _fresh(conn: Connection, group_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = conn.execute(select(*GROUP_ACCESS.columns).where(g.id.in_(list(group_ids)))).all()
    order = {group_id: i for i, group_id in enumerate(group_ids)}
    return _render(conn, sorted(rows, key=lambda row: order[row.id]))


class SecurityGroupService(ListsWithDefaultGroup):
    # --- reads ----------------------------------------------------------------------------

    @staticmethod
    def list_in(conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (a snapshot never creates groups)."""
        return _render(conn, apply_list(conn, SPEC, GROUP_ACCESS.select_visible(ctx), query))

    def get(self, ctx: RequestContext, group_id: str) -> dict:
        with self.db.read() as conn:
            return _render(conn, [GROUP_ACCESS.fetch_visible(conn, ctx, group_id)])[0]

    # --- writes ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_security_group")
        for body in bodies:
            _check_name(body.get("name"))

        def operation(txn: WriteTxn) -> list[dict]:
            created = []
            for body in bodies:
                project = common.owner_project(ctx, body, "security_group")
                ensure_default_group(txn.conn, project)
                common.check_quota(txn.conn, project, "security_group", security_groups)
                created.append(insert_group(txn.conn, project, body))
            return _fresh(txn.conn, created)

        return self.db.write(operation)

    def update(self, ctx: RequestContext, group_id: str, body: Mapping[str, Any]) -> dict:
        _check_name(body.get("name"))

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = GROUP_ACCESS.fetch_owned(conn, ctx, group_id, "update_security_group")
            values = common.touched(row)
            stateful = body.get("stateful")
            if stateful is not None and stateful != row.stateful:
                if _in_use(conn, row.id):
                    raise SecurityGroupInUse(id=row.id)
                values["stateful"] = stateful
            if row.is_default and "name" in body:
                raise SecurityGroupCannotUpdateDefault()
            for attr in ("name", "description"):
                if body.get(attr) is not None:
                    values[attr] = body[attr]
            conn.execute(update(security_groups).where(g.id == row.id).values(**values))
            return _fresh(conn, [row.id])[0]

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = GROUP_ACCESS.fetch_owned(conn, ctx, group_id, "delete_security_group")
            if _in_use(conn, row.id):
                raise SecurityGroupInUse(id=row.id)
            if row.is_default and not ctx.is_admin:
                raise SecurityGroupCannotRemoveDefault()
            # Rules of other groups that name this one as their remote go with it (Neutron's
            # cascade), and those groups change.
            naming = select(r.security_group_id).where(
                r.remote_group_id == row.id, r.security_group_id != row.id
            )
            common.touch_rows(conn, security_groups, set(conn.execute(naming).scalars()))
            conn.execute(
                delete(security_group_rules).where(
                    (r.security_group_id == row.id) | (r.remote_group_id == row.id)
                )
            )
            conn.execute(delete(security_groups).where(g.id == row.id))

        self.db.write(operation)
