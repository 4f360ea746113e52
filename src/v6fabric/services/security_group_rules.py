"""Security group rules: create (one, or in bulk for one group), read, describe, delete.

Values are checked by ``domain.security_rules`` in Neutron's order; then the remote group and
the group must be the caller's (404 otherwise), and a rule that already exists is a 409. A
rule changes its group's revision, as in Neutron.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.errors import HTTPBadRequest
from v6fabric.domain.security_errors import (
    AddressGroupNotFound,
    DuplicateSecurityGroupRuleInPost,
    SecurityGroupNotSingleGroupRules,
    SecurityGroupRuleExists,
    SecurityGroupRulesNotSingleProject,
)
from v6fabric.domain.security_rules import Rule, parse_rule, rule_key
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
    GROUP_ACCESS,
    RULE_ACCESS,
    ListsWithDefaultGroup,
    insert_rule,
    rule_select,
    rule_to_wire,
)
from v6fabric.store.db import WriteTxn
from v6fabric.store.tables import security_group_rules, security_groups

r = security_group_rules.c
SPEC = ListSpec(
    resource="security_group_rules",
    columns={
        **standard_columns(security_group_rules),
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "normalized_cidr": r.normalized_cidr,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": r.remote_address_group_id,
    },
    converters={
        "port_range_min": parse_int,
        "port_range_max": parse_int,
        "revision_number": parse_int,
    },
)
UPDATABLE = ("description",)


def _belongs_to_default_filter(values: Sequence[str]):  # type: ignore[no-untyped-def]
    return security_groups.c.is_default.in_([parse_bool(v) for v in values])


def _parse_bulk(ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> tuple[str, list]:
    """The rules of one request: one group and one project (Neutron's native bulk create)."""
    rules = [parse_rule(body) for body in bodies]
    if len({rule.security_group_id for rule in rules}) > 1:
        raise SecurityGroupNotSingleGroupRules()
    projects = {common.owner_project(ctx, body, "security_group_rule") for body in bodies}
    if len(projects) > 1:
        raise SecurityGroupRulesNotSingleProject()
    for body in bodies:
        if body.get("remote_address_group_id"):  # no address groups exist here
            raise AddressGroupNotFound(address_group_id=body["remote_address_group_id"])
    return projects.pop(), rules


def _existing_same(conn: Connection, rule: Rule) -> str | None:
    """The id of a stored rule that is the same as ``rule``: SQL narrows by the columns that
    compare as they are, Neutron's key decides (protocol names and numbers, any-prefixes)."""
    candidates = select(security_group_rules).where(
        r.security_group_id == rule.security_group_id,
        r.direction == rule.direction,
        r.ethertype == rule.ethertype,
        r.port_range_min.is_not_distinct_from(rule.port_range_min),
        r.port_range_max.is_not_distinct_from(rule.port_range_max),
        r.remote_group_id.is_not_distinct_from(rule.remote_group_id),
    )
    wanted = rule_key(asdict(rule))
    for row in conn.execute(candidates):
        if rule_key(row._mapping) == wanted:
            return str(row.id)
    return None


def _check_new(conn: Connection, rules: Sequence[Rule]) -> None:
    keys = [rule_key(asdict(rule)) for rule in rules]
    if len(set(keys)) != len(keys):
        raise DuplicateSecurityGroupRuleInPost()
    for rule in rules:
        if (existing := _existing_same(conn, rule)) is not None:
            raise SecurityGroupRuleExists(rule_id=existing)


class SecurityGroupRuleService(ListsWithDefaultGroup):
    # --- reads ----------------------------------------------------------------------------

    @staticmethod
    def list_in(conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (a snapshot never creates groups)."""
        extra = {"belongs_to_default_sg": _belongs_to_default_filter}
        rows = apply_list(conn, SPEC, rule_select(ctx), query, extra)
        return [rule_to_wire(row._mapping) for row in rows]

    def get(self, ctx: RequestContext, rule_id: str) -> dict:
        with self.db.read() as conn:
            return rule_to_wire(self._fetch(conn, ctx, rule_id)._mapping)

    @staticmethod
    def _fetch(conn: Connection, ctx: RequestContext, rule_id: str) -> Any:
        row = conn.execute(rule_select(ctx).where(r.id == rule_id)).first()
        if row is None:
            raise RULE_ACCESS.not_found(rule_id)
        return row

    # --- writes ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_security_group_rule")
        project, rules = _parse_bulk(ctx, bodies)

        def operation(txn: WriteTxn) -> list[dict]:
            conn = txn.conn
            common.check_quota(
                conn, project, "security_group_rule", security_group_rules, adding=len(rules)
            )
            for rule in rules:
                if rule.remote_group_id is not None:
                    GROUP_ACCESS.fetch_visible(conn, ctx, rule.remote_group_id)
            group = GROUP_ACCESS.fetch_visible(conn, ctx, rules[0].security_group_id)
            _check_new(conn, rules)
            written = [
                insert_rule(conn, project, rule, body.get("description"))
                for rule, body in zip(rules, bodies, strict=True)
            ]
            common.touch_rows(conn, security_groups, [group.id])
            return [
                rule_to_wire({**row, "belongs_to_default_sg": group.is_default}) for row in written
            ]

        return self.db.write(operation)

    def update(self, ctx: RequestContext, rule_id: str, body: Mapping[str, Any]) -> dict:
        """Only the description changes (standard-attr-description); the rest is read-only."""
        for attr in body:
            if attr not in UPDATABLE:
                raise HTTPBadRequest(msg=f"Cannot update read-only attribute {attr}")

        def operation(txn: WriteTxn) -> dict:
            row = self._fetch(txn.conn, ctx, rule_id)
            common.require_write(ctx, "update_security_group_rule")
            values = common.touched(row)
            if body.get("description") is not None:
                values["description"] = body["description"]
            txn.conn.execute(update(security_group_rules).where(r.id == row.id).values(**values))
            return rule_to_wire(self._fetch(txn.conn, ctx, rule_id)._mapping)

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, rule_id: str) -> None:
        """The rule's writer or its group's owner (whoever sees it) may delete it."""

        def operation(txn: WriteTxn) -> None:
            row = self._fetch(txn.conn, ctx, rule_id)
            common.require_write(ctx, "delete_security_group_rule")
            txn.conn.execute(delete(security_group_rules).where(r.id == row.id))
            common.touch_rows(txn.conn, security_groups, [row.security_group_id])

        self.db.write(operation)
