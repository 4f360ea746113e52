"""The L3 scheduler: which host runs each router (its ``v6r-`` namespace, legs, radvd and
metadata listeners), and moving routers off a host that stopped reporting.

Neutron's semantics: a router is placed when it is made on the live L3 agent (here: host with
the ``network`` role) hosting the fewest routers (``LeastRoutersScheduler``), ties broken by
host name so that placement is deterministic. A router with an external gateway goes only to
an L3 host that can carry its external network (the bindings check: its physical network, its
segment type, a tunnel endpoint), so routers spread over the L3 hosts of their external network. A host is live while its agent reported within
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

from v6fabric.domain.errors import NoL3HostForExternalNetwork
from v6fabric.services import common
from v6fabric.services.router_placement import placements
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


def least_loaded(candidates: Iterable[str], load: dict[str, int]) -> str | None:
    """The candidate with the fewest routers; the first by name among equals."""
    return min(candidates, key=lambda host: (load.get(host, 0), host), default=None)


def _loads(conn: Connection) -> dict[str, int]:
    load: dict[str, int] = {}
    for host in placements(conn).values():
        load[host] = load.get(host, 0) + 1
    return load


def external_networks(conn: Connection) -> dict[str, str]:
    """Router id -> its external network, for every router with a gateway."""
    rows = conn.execute(
        select(routers.c.id, routers.c.external_network_id).where(
            routers.c.external_network_id.is_not(None)
        )
    )
    return {row.id: row.external_network_id for row in rows}


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


def place(conn: Connection, settings: Settings, router_ids: Iterable[str]) -> dict[str, str]:
    """Schedule these unscheduled routers inside the caller's transaction; the ones placed.
    None are placed when no L3 host is live (or none can carry a router's external network):
    they wait for one (``place_unplaced``)."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    placed: dict[str, str] = {}
    if not live:
        return placed
    load = _loads(conn)
    external = external_networks(conn)
    for router_id in sorted(router_ids):
        host = least_loaded(carriers(conn, settings, external.get(router_id), live)[0], load)
        if host is None:
            continue
        conn.execute(insert(router_hosts).values(router_id=router_id, host=host, scheduled_at=now))
        load[host] = load.get(host, 0) + 1
        placed[router_id] = host
    return placed


def follow_gateway(conn: Connection, settings: Settings, router_id: str, network_id: str) -> None:
    """After a router's gateway was set: keep it where it is if its host can carry the
    external network, else move it (or place it) on the least-loaded live L3 host that can.
    Refused when live L3 hosts exist and none can: the gateway could never work. With no live
    L3 host at all the router waits, as any router does."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    if not live:
        return
    able, refused = carriers(conn, settings, network_id, live)
    current = placements(conn).get(router_id)
    if current in able:
        return
    if not able:
        reasons = "; ".join(f"{host}: {why}" for host, why in sorted(refused.items()))
        raise NoL3HostForExternalNetwork(router_id=router_id, net_id=network_id, reasons=reasons)
    target = least_loaded(able, _loads(conn))
    if current is None:
        conn.execute(
            insert(router_hosts).values(router_id=router_id, host=target, scheduled_at=now)
        )
    else:
        conn.execute(
            update(router_hosts)
            .where(router_hosts.c.router_id == router_id)
            .values(host=target, scheduled_at=now)
        )


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
        external = external_networks(conn).get(router_id)
        target = least_loaded(carriers(conn, self.settings, external, live)[0], _loads(conn))
        if target is None:
            return None
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
