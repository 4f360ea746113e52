"""What the security group, rule, network and port services share: who sees which group and
rule, the project's ``default`` group, rule rows and their wire form.

Neutron's default group (created on first use: listing or creating groups or rules, creating a
network or a port) allows egress anywhere and ingress from its own members; every other group
starts with the egress rules only. Both come from Neutron's default rule template.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Select, select

from v6fabric.domain.security_errors import SecurityGroupNotFound, SecurityGroupRuleNotFound
from v6fabric.domain.security_rules import Rule
from v6fabric.identity.context import RequestContext
from v6fabric.services import common
from v6fabric.services.access import ResourceAccess
from v6fabric.services.query import ListQuery
from v6fabric.settings import Settings
from v6fabric.store.db import Database
from v6fabric.store.tables import security_group_rules, security_groups

g = security_groups.c
r = security_group_rules.c

GROUP_ACCESS = ResourceAccess(security_groups, lambda group_id: SecurityGroupNotFound(id=group_id))
RULE_ACCESS = ResourceAccess(
    security_group_rules,
    lambda rule_id: SecurityGroupRuleNotFound(id=rule_id),
    # The rules of the caller's own groups, whoever wrote them (Neutron's sg_owner policy).
    lambda ctx: r.security_group_id.in_(select(g.id).where(g.project_id == ctx.project_id)),
)
DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
TEMPLATE_EGRESS = ("IPv4", "IPv6")  # to anywhere, in every new group
TEMPLATE_INGRESS_FROM_SELF = ("IPv4", "IPv6")  # from the group's members, default group only
RULE_ATTRIBUTES = (
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "normalized_cidr",
    "remote_group_id",
    "remote_address_group_id",
)


# --- rules: rows and wire ----------------------------------------------------------------------


def rule_to_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` holds the rule's columns and ``belongs_to_default_sg`` (its group's is_default)."""
    out = common.standard_attributes(row, named=False)
    out.update({attribute: row[attribute] for attribute in RULE_ATTRIBUTES})
    out["belongs_to_default_sg"] = bool(row["belongs_to_default_sg"])
    return out


def rule_select(ctx: RequestContext | None = None) -> Select:
    """Rules (those ``ctx`` may see; all without a context) with their group's is_default."""
    stmt = RULE_ACCESS.select_visible(ctx) if ctx is not None else select(*RULE_ACCESS.columns)
    return stmt.join_from(
        security_group_rules, security_groups, r.security_group_id == g.id
    ).add_columns(g.is_default.label("belongs_to_default_sg"))


def rules_by_group(conn: Connection, group_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every rule of each group, as a group embeds them (whoever wrote them); oldest first, and
    within one second egress before ingress, IPv4 before IPv6."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if group_ids:
        stmt = rule_select().where(r.security_group_id.in_(list(group_ids)))
        order = (r.created_at, r.direction, r.ethertype, r.id)
        for row in conn.execute(stmt.order_by(*order)):
            found[row.security_group_id].append(rule_to_wire(row._mapping))
    return found


def insert_rule(
    conn: Connection, project_id: str, rule: Rule, description: str | None = None
) -> dict[str, Any]:
    """Write one validated rule; the answer is the row's values."""
    values = {
        **common.new_standard_values(
            common.new_id(), project_id, {"description": description}, named=False
        ),
        **asdict(rule),
        "normalized_cidr": rule.normalized_cidr,
        "remote_address_group_id": None,
    }
    conn.execute(security_group_rules.insert().values(**values))
    return values


# --- groups ------------------------------------------------------------------------------------


def insert_group(
    conn: Connection, project_id: str, body: Mapping[str, Any], is_default: bool = False
) -> str:
    """A group with the template's rules; its id."""
    group_id = common.new_id()
    stateful = body.get("stateful")
    conn.execute(
        security_groups.insert().values(
            **common.new_standard_values(group_id, project_id, body),
            stateful=True if stateful is None else bool(stateful),
            is_default=is_default,
        )
    )
    rules = [Rule(group_id, "egress", ethertype) for ethertype in TEMPLATE_EGRESS]
    if is_default:
        rules += [
            Rule(group_id, "ingress", ethertype, remote_group_id=group_id)
            for ethertype in TEMPLATE_INGRESS_FROM_SELF
        ]
    for rule in rules:
        insert_rule(conn, project_id, rule)
    return group_id


def default_group_id(conn: Connection, project_id: str) -> str | None:
    return conn.execute(
        select(g.id).where(g.project_id == project_id, g.is_default.is_(True))
    ).scalar()


def ensure_default_group(conn: Connection, project_id: str) -> str:
    """The project's default group, created now if it has none (writers are serialised, so
    two requests cannot both create one)."""
    found = default_group_id(conn, project_id)
    if found is not None:
        return found
    body = {"name": DEFAULT_NAME, "description": DEFAULT_DESCRIPTION}
    return insert_group(conn, project_id, body, is_default=True)


class ListsWithDefaultGroup:
    """The reads of groups and rules: listing either creates the listed project's default
    group first, as in Neutron (the caller's own, or, for admins only, the one a project_id
    filter names). A write happens only when that group is missing."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def list(self, ctx: RequestContext, query: ListQuery) -> list[dict]:
        named = query.filters.get("project_id") or query.filters.get("tenant_id")
        project = named[0] if named else ctx.project_id
        if project == ctx.project_id or ctx.is_admin:
            with self.db.read() as conn:
                missing = default_group_id(conn, project) is None
            if missing:
                self.db.write(lambda txn: ensure_default_group(txn.conn, project))
        with self.db.read() as conn:
            return self.list_in(conn, ctx, query)

    @staticmethod
    def list_in(conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (a snapshot never creates groups)."""
        raise NotImplementedError
