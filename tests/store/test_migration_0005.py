"""Migration 0005 on a store that already has routers (SQLite and PostgreSQL): they are
unscheduled, and the scheduler places them on the first live L3 host."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from tests.store.test_migration_0003 import _upgrade
from v6fabric.services.l3_scheduler import L3Scheduler, placements
from v6fabric.settings import Settings
from v6fabric.store.db import Database
from v6fabric.store.tables import router_hosts


def test_existing_routers_are_placed_once_an_l3_host_is_live(db: Database) -> None:
    _upgrade(db, "0004")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.engine.begin() as conn:
        for router_id in ("r1", "r2", "r3"):
            conn.execute(
                text(
                    "INSERT INTO routers (id, project_id, name, description, revision_number, "
                    "created_at, updated_at, admin_state_up, status, external_network_id, "
                    "enable_snat, routes, distributed, ha) VALUES (:id, 'p1', '', '', 1, :now, "
                    ":now, true, 'ACTIVE', NULL, true, '[]', false, false)"
                ),
                {"id": router_id, "now": now},
            )
        for name in ("h2", "h1"):
            conn.execute(
                text(
                    "INSERT INTO hosts (name, roles, capabilities, registered_at, seen_at) "
                    "VALUES (:name, '[\"network\"]', '{}', :now, :now)"
                ),
                {"name": name, "now": now},
            )
    _upgrade(db, "head")
    with db.read() as conn:
        assert conn.execute(select(router_hosts)).all() == []
    with db.engine.begin() as conn:  # what ``migrate`` adds after the migrations
        if conn.execute(text("SELECT count(*) FROM fabric_revision")).scalar_one() == 0:
            conn.execute(text("INSERT INTO fabric_revision (id, value) VALUES (1, 0)"))
    report = L3Scheduler(db, Settings()).reschedule()
    assert report.placed == {"r1": "h1", "r2": "h2", "r3": "h1"}
    with db.read() as conn:
        assert placements(conn) == report.placed
    with db.engine.begin() as conn:  # a router's placement goes with it
        conn.execute(text("DELETE FROM routers WHERE id = 'r1'"))
    with db.read() as conn:
        assert placements(conn) == {"r2": "h2", "r3": "h1"}
