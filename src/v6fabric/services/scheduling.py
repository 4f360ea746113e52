"""Scheduling on the network hosts, whatever is placed: the hosts that are live, which of
them can carry a network, least-loaded placement, and the periodic task that moves things off
hosts that stopped reporting.

A host is live while its agent reported within ``Settings.l3_agent_down_seconds`` (Neutron's
``agent_down_time``); the agent's heartbeat (``agent.reporter``) keeps ``seen_at`` fresh even
when nothing changes. ``Scheduler`` places the things of one single-placement table (a
network's DHCP: ``services.dhcp_scheduler``; routers: ``services.l3_scheduler``, which adds HA
instances) on the least-loaded live network host that can carry the network they need, ties
broken by name, and its ``reschedule`` moves them off hosts that are not live, one guarded
write per move. ``Rescheduler`` runs every scheduler's pass on one thread of the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Table, insert, select, update

from v6fabric.services import common
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import hosts

log = logging.getLogger(__name__)

L3_ROLE = "network"


def is_alive(seen_at: datetime | None, now: datetime, settings: Settings) -> bool:
    return seen_at is not None and now - seen_at <= timedelta(
        seconds=settings.l3_agent_down_seconds
    )


def l3_hosts(conn: Connection) -> dict[str, datetime]:
    """Every host with the network role, with when its agent last reported."""
    return {
        row.name: row.seen_at
        for row in conn.execute(select(hosts.c.name, hosts.c.roles, hosts.c.seen_at))
        if L3_ROLE in (row.roles or ())
    }


def live_l3_hosts(conn: Connection, settings: Settings, now: datetime) -> list[str]:
    return sorted(name for name, seen in l3_hosts(conn).items() if is_alive(seen, now, settings))


def least_loaded(candidates: Iterable[str], load: dict[str, int]) -> str | None:
    """The candidate running the fewest (router instances, or networks' DHCP); the first by
    name among equals."""
    return min(candidates, key=lambda host: (load.get(host, 0), host), default=None)


def placements_in(conn: Connection, table: Table) -> dict[str, str]:
    """Id -> host of every row of a single-placement table (``network_dhcp_hosts``; for
    routers, whose HA ones have several rows, see ``router_placement.instances``)."""
    return {row[0]: row[1] for row in conn.execute(select(_key(table), table.c.host))}


def _key(table: Table) -> Column[Any]:
    """The placed thing's id column (the primary key's column that is not ``host``)."""
    return next(column for column in table.primary_key.columns if column.name != "host")


def loads_in(conn: Connection, table: Table) -> dict[str, int]:
    """Host -> how many rows of the placement table it has (router instances, networks)."""
    load: dict[str, int] = {}
    for host in conn.execute(select(table.c.host)).scalars():
        load[host] = load.get(host, 0) + 1
    return load


def place_in(
    conn: Connection,
    settings: Settings,
    table: Table,
    ids: Iterable[str],
    carried: Callable[[str], str | None],
) -> dict[str, str]:
    """Single placement for any placement table: each id on the least-loaded live network
    host that can carry the network ``carried(id)`` names (any live one for None)."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    placed: dict[str, str] = {}
    if not live:
        return placed
    load = loads_in(conn, table)
    for thing_id in sorted(ids):
        host = least_loaded(carriers(conn, settings, carried(thing_id), live)[0], load)
        if host is None:
            continue
        row = {_key(table).name: thing_id, "host": host, "scheduled_at": now}
        conn.execute(insert(table).values(row))
        load[host] = load.get(host, 0) + 1
        placed[thing_id] = host
    return placed


def carriers(
    conn: Connection, settings: Settings, network_id: str | None, candidates: Iterable[str]
) -> tuple[list[str], dict[str, str]]:
    """The candidates that can carry ``network_id`` (all of them when None), and why each
    other one cannot."""
    from v6fabric.services import bindings  # not at the top: bindings -> fabric -> this module

    able, refused = [], {}
    for host in candidates:
        found = bindings.refusal(conn, settings, network_id, host) if network_id else None
        if found is None:
            able.append(host)
        else:
            refused[host] = found[1]
    return able, refused


@dataclass
class RescheduleReport:
    """What one pass did: routers moved (router -> (from, to)), routers newly placed, and
    routers left on a host that is not live because no L3 host is; for HA routers also the
    instances moved (router, from, to) and added (router -> hosts)."""

    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    placed: dict[str, str] = field(default_factory=dict)
    stranded: dict[str, str] = field(default_factory=dict)
    ha_moved: list[tuple[str, str, str]] = field(default_factory=list)
    ha_added: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Scheduler:
    """Placement on the live network hosts and failover for one placement table: routers
    (``L3Scheduler``), networks' DHCP (``services.dhcp_scheduler.DhcpScheduler``)."""

    table: Table  # one row per placed thing: its id, ``host``, ``scheduled_at``
    what = "router"  # in log lines: "<what> <id> moved ..."
    hosts_noun = "L3"  # "no live <hosts_noun> host"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def unplaced(self, conn: Connection) -> list[str]:
        """Ids that should have a host and have none."""
        raise NotImplementedError

    def carried(self, conn: Connection) -> Callable[[str], str | None]:
        """Id -> the network its host must be able to carry (None: any host will do)."""
        raise NotImplementedError

    def reschedule(self) -> RescheduleReport:
        """One pass of the periodic task: place unscheduled things and move things off hosts
        that are not live network hosts (stopped reporting, or lost the role). Writes nothing
        when nothing is to be done, so an idle fabric's revision stays put."""
        report = RescheduleReport()
        with self.db.read() as conn:
            now = common.utcnow()
            live = set(live_l3_hosts(conn, self.settings, now))
            current = placements_in(conn, self.table)
            carried = self.carried(conn)
            placeable = [  # one no live host can carry waits without a write per pass
                thing_id
                for thing_id in self.unplaced(conn)
                if carriers(conn, self.settings, carried(thing_id), live)[0]
            ]
        if placeable and live:
            report.placed = self.db.write(lambda txn: self._place_unplaced(txn.conn))
        for thing_id, host in sorted(current.items()):
            if host in live:
                continue
            if not live:
                report.stranded[thing_id] = host
                continue
            target = self.db.write(lambda txn, t=thing_id, h=host: self._move(txn, t, h))
            if target is not None:
                report.moved[thing_id] = (host, target)
        for thing_id, (old, new) in report.moved.items():
            log.warning("%s %s moved from host %s (not live) to %s", self.what, thing_id, old, new)
        if report.stranded:
            log.warning(
                "no live %s host: %ss stay on hosts that are not live: %s",
                self.hosts_noun,
                self.what,
                ", ".join(f"{t} on {h}" for t, h in sorted(report.stranded.items())),
            )
        return report

    def _place_unplaced(self, conn: Connection) -> dict[str, str]:
        ids = self.unplaced(conn)
        return place_in(conn, self.settings, self.table, ids, self.carried(conn))

    def _move(self, txn: WriteTxn, thing_id: str, old: str) -> str | None:
        """Move one thing if it is still on ``old`` and ``old`` is still not live: the
        decision is taken again inside the write (a heartbeat may have come in between)."""
        conn = txn.conn
        now = common.utcnow()
        live = live_l3_hosts(conn, self.settings, now)
        if old in live or not live:
            return None
        key = _key(self.table)
        found = conn.execute(select(self.table.c.host).where(key == thing_id)).scalar()
        if found != old:
            return None
        able = carriers(conn, self.settings, self.carried(conn)(thing_id), live)[0]
        target = least_loaded(able, loads_in(conn, self.table))
        if target is None:
            return None
        moved = conn.execute(  # only from ``old``: another server's pass may have moved it
            update(self.table)
            .where(key == thing_id, self.table.c.host == old)
            .values(host=target, scheduled_at=now)
        )
        return target if moved.rowcount else None


class Rescheduler:
    """The server's periodic task: each scheduler's ``reschedule`` (the L3 scheduler's, the DHCP
    scheduler's) every ``interval`` seconds on a thread of its own, from the app's start to its
    shutdown."""

    def __init__(self, *schedulers: Scheduler, interval: float | None = None) -> None:
        down = schedulers[0].settings.l3_agent_down_seconds
        self.schedulers = schedulers
        self.interval = interval if interval is not None else min(10.0, max(0.5, down / 4))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="l3-rescheduler", daemon=True)

    def start(self) -> Rescheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for scheduler in self.schedulers:
                try:
                    scheduler.reschedule()
                except Exception:  # a database hiccup must not end failover for good
                    log.exception("%s rescheduling failed", scheduler.hosts_noun)
