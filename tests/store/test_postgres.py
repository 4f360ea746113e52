"""The store's contract on a real database: PostgreSQL, and SQLite with the very same tests.

- the migrations build the schema;
- every write bumps the global revision by exactly one, a failed write not at all;
- concurrent writers get distinct, consecutive revisions;
- the ``ip_allocations`` primary key refuses one address twice in a subnet.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from v6fabric.store.db import Database, WriteTxn, migrate
from v6fabric.store.tables import (
    fabric_revision,
    ip_allocations,
    metadata,
    networks,
    ports,
    projects,
    subnets,
)

PROJECT = "p" * 32


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate(database)
    try:
        yield database
    finally:
        database.dispose()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _new_id() -> str:
    return str(uuid.uuid4())


def _count(db: Database, table, *where) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _add_project(txn: WriteTxn, name: str) -> int:
    txn.conn.execute(insert(projects).values(id=_new_id(), name=name, domain_id="default"))
    return txn.revision


# --- migrations -------------------------------------------------------------------------------


def test_migrations_create_every_table(db: Database) -> None:
    names = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= names
    assert "alembic_version" in names
    assert db.revision() == 0


def test_migrate_twice_changes_nothing(db: Database) -> None:
    db.write(lambda txn: _add_project(txn, "kept"))
    migrate(db)
    assert db.revision() == 1
    assert _count(db, fabric_revision) == 1
    assert _count(db, projects) == 1


# --- the global revision ----------------------------------------------------------------------


def test_every_write_bumps_the_revision_by_one(db: Database) -> None:
    start = db.revision()
    seen = [db.write(lambda txn, i=i: _add_project(txn, f"p{i}")) for i in range(5)]
    assert seen == [start + 1, start + 2, start + 3, start + 4, start + 5]
    assert db.revision() == start + 5
    assert _count(db, projects) == 5


def test_a_failed_write_leaves_no_trace(db: Database) -> None:
    start = db.revision()

    def fail(txn: WriteTxn) -> None:
        _add_project(txn, "never")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        db.write(fail)
    assert db.revision() == start
    assert _count(db, projects) == 0
    assert db.write(lambda txn: txn.revision) == start + 1


def test_concurrent_writers_get_distinct_consecutive_revisions(db: Database) -> None:
    threads, writes = 8, 25
    start = db.revision()
    barrier = threading.Barrier(threads)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            results[n] = [
                db.write(lambda txn, i=i: _add_project(txn, f"t{n}-{i}")) for i in range(writes)
            ]
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "a writer hung"
    assert not errors, errors

    everything = sorted(rev for revs in results.values() for rev in revs)
    assert everything == list(range(start + 1, start + threads * writes + 1))
    for revs in results.values():
        assert revs == sorted(revs)  # one writer's writes are ordered
    assert db.revision() == start + threads * writes
    assert _count(db, projects) == threads * writes


# --- the last guard of IPAM -------------------------------------------------------------------


def _add_network_subnets_ports(txn: WriteTxn) -> dict[str, str]:
    now = _now()
    ids = {key: _new_id() for key in ("network", "subnet1", "subnet2", "port1", "port2")}
    standard = {"project_id": PROJECT, "created_at": now, "updated_at": now}
    txn.conn.execute(
        insert(networks).values(
            id=ids["network"],
            name="net1",
            mtu=1450,
            network_type="vxlan",
            segmentation_id=1001,
            **standard,
        )
    )
    for key, cidr in (("subnet1", "2001:db8:1::/64"), ("subnet2", "2001:db8:2::/64")):
        prefix = cidr.removesuffix("/64")
        txn.conn.execute(
            insert(subnets).values(
                id=ids[key],
                name=key,
                network_id=ids["network"],
                ip_version=6,
                cidr=cidr,
                gateway_ip=f"{prefix}1",
                ipv6_ra_mode="dhcpv6-stateful",
                ipv6_address_mode="dhcpv6-stateful",
                allocation_pools=[{"start": f"{prefix}2", "end": f"{prefix}ffff"}],
                dns_nameservers=[],
                host_routes=[],
                **standard,
            )
        )
    for n, key in enumerate(("port1", "port2"), start=1):
        txn.conn.execute(
            insert(ports).values(
                id=ids[key],
                name=key,
                network_id=ids["network"],
                mac_address=f"fa:16:3e:00:00:0{n}",
                binding_profile={},
                **standard,
            )
        )
    return ids


def _allocate(ids: dict[str, str], subnet: str, port: str, address: str):  # type: ignore[no-untyped-def]
    def operation(txn: WriteTxn) -> int:
        txn.conn.execute(
            insert(ip_allocations).values(
                subnet_id=ids[subnet],
                ip_address=address,
                port_id=ids[port],
                network_id=ids["network"],
            )
        )
        return txn.revision

    return operation


def test_ip_allocations_refuse_one_address_twice_in_a_subnet(db: Database) -> None:
    ids = db.write(_add_network_subnets_ports)
    address = "2001:db8:1::10"
    db.write(_allocate(ids, "subnet1", "port1", address))
    before = db.revision()

    with pytest.raises(IntegrityError):
        db.write(_allocate(ids, "subnet1", "port2", address))

    assert db.revision() == before
    with db.read() as conn:
        rows = conn.execute(
            select(ip_allocations.c.port_id).where(ip_allocations.c.ip_address == address)
        ).all()
    assert [row.port_id for row in rows] == [ids["port1"]]


def test_ip_allocations_key_is_per_subnet(db: Database) -> None:
    ids = db.write(_add_network_subnets_ports)
    db.write(_allocate(ids, "subnet1", "port1", "2001:db8:1::10"))
    # The same text in another subnet is another allocation (the key is the pair).
    db.write(_allocate(ids, "subnet2", "port2", "2001:db8:1::10"))
    assert _count(db, ip_allocations) == 2
