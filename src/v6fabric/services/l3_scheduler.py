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

``Scheduler`` is that logic for any placement table; the DHCP scheduler
(``services.dhcp_scheduler``) places networks' DHCP with it, and ``Rescheduler`` runs both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Table, insert, select, update

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
    """The candidate running the fewest (routers, or networks' DHCP); the first by name among
    equals."""
    return min(candidates, key=lambda host: (load.get(host, 0), host), default=None)


def placements_in(conn: Connection, table: Table) -> dict[str, str]:
    """Id -> host of every row of a placement table (``router_hosts``, ``network_dhcp_hosts``:
    keyed by the placed thing's id, with a ``host`` and a ``scheduled_at``)."""
    return {row[0]: row[1] for row in conn.execute(select(_key(table), table.c.host))}


def _key(table: Table) -> Column[Any]:
    (key,) = table.primary_key.columns
    return key


def loads_in(conn: Connection, table: Table) -> dict[str, int]:
    """Host -> how many things of the placement table it runs."""
    load: dict[str, int] = {}
    for host in placements_in(conn, table).values():
        load[host] = load.get(host, 0) + 1
    return load


def _loads(conn: Connection) -> dict[str, int]:
    return loads_in(conn, router_hosts)


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
    return place_in(conn, settings, router_hosts, router_ids, external_networks(conn).get)


def place_in(
    conn: Connection,
    settings: Settings,
    table: Table,
    ids: Iterable[str],
    carried: Callable[[str], str | None],
) -> dict[str, str]:
    """``place`` for any placement table: each id on the least-loaded live network host that
    can carry the network ``carried(id)`` names (any live one for None)."""
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
    """What one pass did: things moved (id -> (from, to)), things newly placed, and things
    left on a host that is not live because no network host is."""

    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    placed: dict[str, str] = field(default_factory=dict)
    stranded: dict[str, str] = field(default_factory=dict)


class Scheduler:
    """Placement on the live network hosts and failover for one placement table: routers
    (``L3Scheduler``), networks' DHCP (``services.dhcp_scheduler.DhcpScheduler``)."""

    table: Table = router_hosts
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


class L3Scheduler(Scheduler):
    table = router_hosts
    what = "router"
    hosts_noun = "L3"

    def unplaced(self, conn: Connection) -> list[str]:
        return unplaced_routers(conn)

    def carried(self, conn: Connection) -> Callable[[str], str | None]:
        return external_networks(conn).get


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
