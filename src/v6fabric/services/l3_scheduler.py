"""The L3 scheduler: which host runs each router (its ``v6r-`` namespace, legs, radvd and
metadata listeners), and moving routers off a host that stopped reporting.

Neutron's semantics: a router is placed when it is made on the live L3 agent (here: host with
the ``network`` role) hosting the fewest routers (``LeastRoutersScheduler``), ties broken by
host name so that placement is deterministic. A host is live while its agent reported within
``Settings.l3_agent_down_seconds`` (Neutron's ``agent_down_time``); the agent's heartbeat
(``agent.reporter``) keeps ``seen_at`` fresh even when nothing changes. A periodic task of the
server (``Rescheduler``, Neutron's ``allow_automatic_l3agent_failover``) moves the routers of a
host that is not live to live L3 hosts, least-loaded first, one write per move: the revision
bump makes both hosts' agents follow. With no live L3 host the routers stay where they are
(a warning says so): moving them nowhere would only make the outage permanent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from v6fabric.services import common
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import hosts, router_hosts, routers

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


def placements(conn: Connection) -> dict[str, str]:
    """Router id -> its host, for every scheduled router."""
    return {row.router_id: row.host for row in conn.execute(select(router_hosts))}


def least_loaded(candidates: Iterable[str], load: dict[str, int]) -> str | None:
    """The candidate with the fewest routers; the first by name among equals."""
    return min(candidates, key=lambda host: (load.get(host, 0), host), default=None)


def _loads(conn: Connection) -> dict[str, int]:
    load: dict[str, int] = {}
    for host in placements(conn).values():
        load[host] = load.get(host, 0) + 1
    return load


def place(conn: Connection, settings: Settings, router_ids: Iterable[str]) -> dict[str, str]:
    """Schedule these unscheduled routers inside the caller's transaction; the ones placed.
    None are placed when no L3 host is live: they wait for one (``place_unplaced``)."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    placed: dict[str, str] = {}
    if not live:
        return placed
    load = _loads(conn)
    for router_id in sorted(router_ids):
        host = least_loaded(live, load)
        assert host is not None
        conn.execute(insert(router_hosts).values(router_id=router_id, host=host, scheduled_at=now))
        load[host] = load.get(host, 0) + 1
        placed[router_id] = host
    return placed


def unplaced_routers(conn: Connection) -> list[str]:
    scheduled = select(router_hosts.c.router_id)
    return sorted(
        conn.execute(select(routers.c.id).where(routers.c.id.not_in(scheduled))).scalars()
    )


def place_unplaced(conn: Connection, settings: Settings) -> dict[str, str]:
    """Schedule every router that has no host yet (when an L3 host registers)."""
    return place(conn, settings, unplaced_routers(conn))


@dataclass
class RescheduleReport:
    """What one pass did: routers moved (router -> (from, to)), routers newly placed, and
    routers left on a host that is not live because no L3 host is."""

    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    placed: dict[str, str] = field(default_factory=dict)
    stranded: dict[str, str] = field(default_factory=dict)


class L3Scheduler:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def reschedule(self) -> RescheduleReport:
        """One pass of the periodic task: place unscheduled routers and move routers off hosts
        that are not live L3 hosts (stopped reporting, or lost the role). Writes nothing when
        nothing is to be done, so an idle fabric's revision stays put."""
        report = RescheduleReport()
        with self.db.read() as conn:
            now = common.utcnow()
            live = set(live_l3_hosts(conn, self.settings, now))
            current = placements(conn)
            unplaced = unplaced_routers(conn)
        if unplaced and live:
            report.placed = self.db.write(lambda txn: place_unplaced(txn.conn, self.settings))
        for router_id, host in sorted(current.items()):
            if host in live:
                continue
            if not live:
                report.stranded[router_id] = host
                continue
            target = self.db.write(lambda txn, r=router_id, h=host: self._move(txn, r, h))
            if target is not None:
                report.moved[router_id] = (host, target)
        for router_id, (old, new) in report.moved.items():
            log.warning("router %s moved from host %s (not live) to %s", router_id, old, new)
        if report.stranded:
            log.warning(
                "no live L3 host: routers stay on hosts that are not live: %s",
                ", ".join(f"{r} on {h}" for r, h in sorted(report.stranded.items())),
            )
        return report

    def _move(self, txn: WriteTxn, router_id: str, old: str) -> str | None:
        """Move one router if it is still on ``old`` and ``old`` is still not live: the
        decision is taken again inside the write (a heartbeat may have come in between)."""
        conn = txn.conn
        now = common.utcnow()
        live = live_l3_hosts(conn, self.settings, now)
        if old in live or not live:
            return None
        found = conn.execute(
            select(router_hosts.c.host).where(router_hosts.c.router_id == router_id)
        ).scalar()
        if found != old:
            return None
        target = least_loaded(live, _loads(conn))
        moved = conn.execute(  # only from ``old``: another server's pass may have moved it
            update(router_hosts)
            .where(router_hosts.c.router_id == router_id, router_hosts.c.host == old)
            .values(host=target, scheduled_at=now)
        )
        return target if moved.rowcount else None


class Rescheduler:
    """The server's periodic task: ``L3Scheduler.reschedule`` every ``interval`` seconds on a
    thread of its own, from the app's start to its shutdown."""

    def __init__(self, scheduler: L3Scheduler, interval: float | None = None) -> None:
        down = scheduler.settings.l3_agent_down_seconds
        self.scheduler = scheduler
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
            try:
                self.scheduler.reschedule()
            except Exception:  # a database hiccup must not end failover for good
                log.exception("L3 rescheduling failed")
