"""Migration 0006 on a store that already has networks (SQLite and PostgreSQL): none is placed,
and the DHCP scheduler places those with a DHCP port once a network host is live."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from tests.store.test_migration_0003 import _upgrade
from v6fabric.services.dhcp_scheduler import DhcpScheduler, placements
from v6fabric.settings import Settings
from v6fabric.store.db import Database
from v6fabric.store.tables import network_dhcp_hosts


def _network(n: int) -> str:
    return f"00000000-0000-0000-0000-0000000000a{n}"


def test_existing_networks_with_dhcp_are_placed_once_a_network_host_is_live(db: Database) -> None:
    _upgrade(db, "0005")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.engine.begin() as conn:
        for n in (1, 2, 3, 4):
            conn.execute(
                text(
                    "INSERT INTO networks (id, project_id, name, description, revision_number, "
                    "created_at, updated_at, admin_state_up, status, shared, external, mtu, "
                    "port_security_enabled, network_type) VALUES (:id, 'p1', '', '', 1, :now, "
                    ":now, true, 'ACTIVE', false, false, 1500, true, 'vxlan')"
                ),
                {"id": _network(n), "now": now},
            )
        for n in (1, 2, 3):  # network 4 has no DHCP port: nothing to place
            conn.execute(
                text(
                    "INSERT INTO ports (id, project_id, name, description, revision_number, "
                    "created_at, updated_at, network_id, mac_address, admin_state_up, status, "
                    "device_id, device_owner, port_security_enabled, binding_host_id, "
                    "binding_vnic_type, binding_profile) VALUES (:id, 'p1', '', '', 1, :now, "
                    ":now, :net, :mac, true, 'DOWN', :device, 'network:dhcp', false, '', "
                    "'normal', '{}')"
                ),
                {
                    "id": f"00000000-0000-0000-0000-0000000000b{n}",
                    "now": now,
                    "net": _network(n),
                    "mac": f"fa:16:3e:00:00:0{n}",
                    "device": f"dhcp-{_network(n)}",
                },
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
        assert conn.execute(select(network_dhcp_hosts)).all() == []
    with db.engine.begin() as conn:  # what ``migrate`` adds after the migrations
        if conn.execute(text("SELECT count(*) FROM fabric_revision")).scalar_one() == 0:
            conn.execute(text("INSERT INTO fabric_revision (id, value) VALUES (1, 0)"))
    report = DhcpScheduler(db, Settings()).reschedule()
    assert report.placed == {_network(1): "h1", _network(2): "h2", _network(3): "h1"}
    with db.read() as conn:
        assert placements(conn) == report.placed
    with db.engine.begin() as conn:  # a network's placement goes with it
        conn.execute(text(f"DELETE FROM networks WHERE id = '{_network(1)}'"))
    with db.read() as conn:
        assert placements(conn) == {_network(2): "h2", _network(3): "h1"}
