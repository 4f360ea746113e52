"""Migration 0007 on a store that already has scheduled routers (SQLite and PostgreSQL): their
placements survive the new (router, host) key, ``ha_state`` is null, a router may then have
several hosts but not one host twice, VRIDs are unique per project, and ``ha_networks`` goes
with its network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from tests.store.test_migration_0003 import _upgrade
from v6fabric.services.router_placement import ha_states, instances
from v6fabric.store.db import Database
from v6fabric.store.tables import ha_networks, router_hosts


def _router(conn, router_id: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        text(
            "INSERT INTO routers (id, project_id, name, description, revision_number, "
            "created_at, updated_at, admin_state_up, status, external_network_id, "
            "enable_snat, routes, distributed, ha) VALUES (:id, 'p1', '', '', 1, :now, "
            ":now, true, 'ACTIVE', NULL, true, '[]', false, false)"
        ),
        {"id": router_id, "now": now},
    )


def test_placements_survive_and_routers_may_then_have_several_hosts(db: Database) -> None:
    _upgrade(db, "0005")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.engine.begin() as conn:
        for router_id, host in (("r1", "h1"), ("r2", "h2"), ("r3", None)):
            _router(conn, router_id, now)
            if host:
                conn.execute(
                    text(
                        "INSERT INTO router_hosts (router_id, host, scheduled_at) "
                        "VALUES (:r, :h, :now)"
                    ),
                    {"r": router_id, "h": host, "now": now},
                )
    _upgrade(db, "head")
    with db.read() as conn:
        assert instances(conn) == {"r1": ("h1",), "r2": ("h2",)}
        assert ha_states(conn) == {("r1", "h1"): None, ("r2", "h2"): None}
    with db.engine.begin() as conn:
        conn.execute(insert(router_hosts).values(router_id="r1", host="h2", scheduled_at=now))
    with db.read() as conn:
        assert instances(conn)["r1"] == ("h1", "h2")
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(insert(router_hosts).values(router_id="r1", host="h2", scheduled_at=now))
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE routers SET ha = true, ha_vr_id = 1 WHERE id = 'r1'"))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:  # one VRID per project
        conn.execute(text("UPDATE routers SET ha = true, ha_vr_id = 1 WHERE id = 'r2'"))
    with db.engine.begin() as conn:  # a router's instances go with it
        conn.execute(text("DELETE FROM routers WHERE id = 'r1'"))
    with db.read() as conn:
        assert instances(conn) == {"r2": ("h2",)}


def test_an_ha_network_row_goes_with_its_network_and_the_downgrade_keeps_one_host(
    db: Database,
) -> None:
    _upgrade(db, "head")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO networks (id, project_id, name, description, revision_number, "
                "created_at, updated_at, admin_state_up, status, shared, external, mtu, "
                "port_security_enabled, network_type, physical_network, segmentation_id) "
                "VALUES ('n1', '', 'HA network tenant p1', '', 1, :now, :now, true, 'ACTIVE', "
                "false, false, 1450, false, 'vxlan', NULL, 1000)"
            ),
            {"now": now},
        )
        conn.execute(insert(ha_networks).values(project_id="p1", network_id="n1"))
        _router(conn, "r1", now)
        for host in ("h2", "h1"):
            conn.execute(insert(router_hosts).values(router_id="r1", host=host, scheduled_at=now))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM networks WHERE id = 'n1'"))
    with db.read() as conn:
        assert conn.execute(select(ha_networks)).all() == []
    _downgrade(db, "0005")
    with db.read() as conn:
        rows = conn.execute(text("SELECT router_id, host FROM router_hosts")).all()
    assert [tuple(row) for row in rows] == [("r1", "h1")]


def _downgrade(db: Database, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from v6fabric.store.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
