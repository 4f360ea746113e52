"""Migration 0004 on a store that already has workloads (SQLite and PostgreSQL): they get no
user data, no keys and no properties, and read back through the service as such."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from tests.store.test_migration_0003 import _upgrade
from v6fabric.services.workloads import to_wire
from v6fabric.store.db import Database
from v6fabric.store.tables import workloads


def test_existing_workloads_get_empty_metadata(db: Database) -> None:
    _upgrade(db, "0003")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workloads (id, project_id, name, description, revision_number, "
                "created_at, updated_at, host, port_ids, status) VALUES ('w1', 'p1', 'vm1', '', 1, "
                ":now, :now, 'h1', :ports, 'ACTIVE')"
            ),
            {"now": datetime.now(UTC).replace(tzinfo=None), "ports": '["p1"]'},
        )
    _upgrade(db, "head")
    with db.read() as conn:
        row = conn.execute(select(workloads)).one()
    # the stored values themselves (to_wire would read a NULL as empty too)
    assert (row.user_data, row.public_keys, row.properties) == (None, [], {})
    wire = to_wire(row._mapping)
    assert (wire["user_data"], wire["public_keys"], wire["properties"]) == (None, [], {})
    assert wire["port_ids"] == ["p1"]
