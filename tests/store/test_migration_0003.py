"""Migration 0003 on a store that already has ports (SQLite and PostgreSQL): address pairs move
into their table, network-owned ports lose port security, user ports get their project's
default security group with Neutron's four default rules."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select, text

from v6fabric.store.db import MIGRATIONS_DIR, Database
from v6fabric.store.tables import (
    allowed_address_pairs,
    port_security_groups,
    ports,
    security_group_rules,
    security_groups,
)

NET = "00000000-0000-0000-0000-00000000000a"


def _upgrade(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _old_port(conn: Connection, n: int, project: str, owner: str, pairs: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    conn.execute(
        text(
            "INSERT INTO ports (id, project_id, name, description, revision_number, created_at, "
            "updated_at, network_id, mac_address, admin_state_up, status, device_id, "
            "device_owner, port_security_enabled, allowed_address_pairs, binding_host_id, "
            "binding_vnic_type, binding_profile) VALUES (:id, :project, '', '', 1, :now, :now, "
            ":net, :mac, true, 'DOWN', '', :owner, true, :pairs, '', 'normal', '{}')"
        ),
        {
            "id": f"00000000-0000-0000-0000-00000000000{n}",
            "project": project,
            "now": now,
            "net": NET,
            "mac": f"fa:16:3e:00:00:0{n}",
            "owner": owner,
            "pairs": pairs,
        },
    )


def test_existing_ports_are_carried_over(db: Database) -> None:
    _upgrade(db, "0002")
    with db.engine.begin() as conn:
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(
            text(
                "INSERT INTO networks (id, project_id, name, description, revision_number, "
                "created_at, updated_at, admin_state_up, status, shared, external, mtu, "
                "port_security_enabled, network_type) VALUES (:id, 'p1', '', '', 1, :now, :now, "
                "true, 'ACTIVE', false, false, 1500, true, 'vxlan')"
            ),
            {"id": NET, "now": now},
        )
        pair = '[{"ip_address": "2001:db8::/64", "mac_address": "fa:16:3e:00:00:01"}]'
        _old_port(conn, 1, "p1", "compute:nova", pair)
        _old_port(conn, 2, "p1", "", "[]")
        _old_port(conn, 3, "p2", "compute:nova", "[]")
        _old_port(conn, 4, "p1", "network:router_interface", "[]")
    _upgrade(db, "head")

    with db.read() as conn:
        assert conn.execute(
            select(allowed_address_pairs.c.port_id, allowed_address_pairs.c.ip_address)
        ).all() == [("00000000-0000-0000-0000-000000000001", "2001:db8::/64")]
        security = dict(
            conn.execute(select(ports.c.mac_address, ports.c.port_security_enabled)).all()
        )
        assert security["fa:16:3e:00:00:04"] is False and security["fa:16:3e:00:00:01"] is True
        groups = conn.execute(select(security_groups)).all()
        assert sorted((g.project_id, g.name, g.is_default) for g in groups) == [
            ("p1", "default", True),
            ("p2", "default", True),
        ]
        bound = conn.execute(select(port_security_groups.c.port_id)).scalars().all()
        assert sorted(port_id[-1] for port_id in bound) == ["1", "2", "3"]
        rules = conn.execute(select(security_group_rules)).all()
        assert len(rules) == 8
        assert {
            (r.direction, r.ethertype, r.remote_group_id == r.security_group_id) for r in rules
        } == {
            ("egress", "IPv4", False),
            ("egress", "IPv6", False),
            ("ingress", "IPv4", True),
            ("ingress", "IPv6", True),
        }
