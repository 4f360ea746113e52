"""Which resources each write changed: what lets the compiler's input follow the store by
reading only changed rows instead of the whole store per revision.

Every statement of a revision-bumping write is inspected as it runs (SQLAlchemy events), so no
service has to remember to report what it touched. A statement on a tracked table names the
resource ids it affects: an INSERT by its values, an UPDATE or DELETE by a ``key == x`` or
``key IN (...)`` condition of its WHERE clause (possibly inside an AND). Any other statement on a
tracked table marks the whole kind changed, so the journal may over-report, never miss. Child
tables report their parent (a fixed IP changes its port). Deletes that cascade in the database
(a subnet's fixed IPs) are expanded by the reader, which knows the relations.

The journal lives in this process. A revision it has no entry for (written by another process,
or older than ``KEEP`` revisions) makes ``since`` answer None: the reader then reads everything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Delete, Engine, Insert, Update, event
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

KEEP = 4096  # revisions remembered

# table -> (kind it changes, the column naming that kind's id)
TRACKED: dict[str, tuple[str, str]] = {
    "networks": ("networks", "id"),
    "subnets": ("subnets", "id"),
    "ports": ("ports", "id"),
    "routers": ("routers", "id"),
    "workloads": ("workloads", "id"),
    "security_groups": ("security_groups", "id"),
    "hosts": ("hosts", "name"),
    "router_hosts": ("routers", "router_id"),  # a router moved: its record is read again
    "network_dhcp_hosts": ("networks", "network_id"),  # a network's DHCP moved
    "ip_allocations": ("ports", "port_id"),
    "port_security_groups": ("ports", "port_id"),
    "allowed_address_pairs": ("ports", "port_id"),
    "security_group_rules": ("security_groups", "security_group_id"),
}
ALL = None  # in Changes.ids: every resource of the kind may have changed
_CHANGES = "v6fabric.journal.changes"  # Connection.info key during a recorded write


@dataclass
class Changes:
    """What one write changed: ids per kind (``ALL`` for a whole kind)."""

    ids: dict[str, set[str] | None] = field(default_factory=dict)

    def add(self, kind: str, ids: set[str] | None) -> None:
        if kind in self.ids and self.ids[kind] is ALL:
            return
        if ids is ALL:
            self.ids[kind] = ALL
        else:
            self.ids.setdefault(kind, set()).update(ids)

    def merge(self, other: Changes) -> None:
        for kind, ids in other.ids.items():
            self.add(kind, ids)


class WriteJournal:
    def __init__(self) -> None:
        self._entries: OrderedDict[int, Changes] = OrderedDict()
        self._lock = threading.Lock()

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_execute", _before_execute)
        event.listen(engine, "after_cursor_execute", _after_cursor_execute)

    @staticmethod
    def begin(conn: Connection) -> None:
        """Start recording the statements of the write running on ``conn``."""
        conn.info[_CHANGES] = Changes()

    def commit(self, conn: Connection, revision: int) -> None:
        """Keep what the write recorded, under the revision it produced. Called before the
        commit, so a reader that sees the revision always finds its entry; a write that then
        fails to commit leaves an entry for a revision the next write overwrites."""
        changes = conn.info.pop(_CHANGES, None) or Changes()
        with self._lock:
            self._entries[revision] = changes
            self._entries.move_to_end(revision)
            while len(self._entries) > KEEP:
                self._entries.popitem(last=False)

    @staticmethod
    def end(conn: Connection) -> None:
        """Stop recording (the pooled connection's ``info`` outlives the write)."""
        conn.info.pop(_CHANGES, None)

    def since(self, old: int, new: int) -> Changes | None:
        """Everything revisions ``old + 1 .. new`` changed, or None when one is unknown."""
        total = Changes()
        with self._lock:
            for revision in range(old + 1, new + 1):
                entry = self._entries.get(revision)
                if entry is None:
                    return None
                total.merge(entry)
        return total


def _before_execute(
    conn: Connection, statement: Any, multiparams: Any, params: Any, options: Any
) -> None:
    """UPDATE and DELETE: their WHERE clause, with its real values, names the ids."""
    changes = conn.info.get(_CHANGES)
    if changes is None or not isinstance(statement, Update | Delete):
        return
    tracked = TRACKED.get(statement.table.name)
    if tracked is not None:
        kind, key = tracked
        changes.add(kind, _keyed(statement.whereclause, statement.table.c[key]))


def _after_cursor_execute(
    conn: Connection, cursor: Any, sql: str, parameters: Any, context: Any, many: bool
) -> None:
    """INSERT: the compiled parameters of every row carry the key column by its name."""
    changes = conn.info.get(_CHANGES)
    compiled = getattr(context, "compiled", None)
    if changes is None or compiled is None or not isinstance(compiled.statement, Insert):
        return
    tracked = TRACKED.get(compiled.statement.table.name)
    if tracked is not None:
        kind, key = tracked
        values = [row.get(key) for row in context.compiled_parameters]
        changes.add(kind, ALL if None in values else set(values))


def _keyed(where: Any, column: Any) -> set[str] | None:
    """The ids a WHERE clause restricts ``column`` to, or ALL when it does not."""
    if isinstance(where, BinaryExpression) and where.left is column:
        right = where.right
        if isinstance(right, BindParameter):
            value = right.effective_value
            if where.operator is operators.eq:
                return {value}
            if where.operator is operators.in_op:
                return set(value or ())
        return ALL
    if isinstance(where, BooleanClauseList) and where.operator is operators.and_:
        for clause in where.clauses:
            ids = _keyed(clause, column)
            if ids is not ALL:
                return ids
    return ALL
