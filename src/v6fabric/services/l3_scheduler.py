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

An HA router (issue 7, ``services.ha_routers``) runs on ``wanted_instances`` distinct live L3
hosts at once (as many as can carry its external network, at most
``Settings.max_l3_agents_per_router``); it gets more when hosts come (on registration and in
each pass), and an instance on a host that is not live moves to a live one without an instance
of it, its ``ha-`` port with it. With no such host the instance stays: the others carry on.

``Scheduler`` is the single-placement logic for any placement table; the DHCP scheduler
(``services.dhcp_scheduler``) places networks' DHCP with it, ``L3Scheduler`` adds HA
instances, and ``Rescheduler`` runs both.
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
from v6fabric.services import common, ha_routers
from v6fabric.services.router_placement import instances
from v6fabric.services.router_placement import placements as placements  # re-exported
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


def _loads(conn: Connection) -> dict[str, int]:
    """Router instances per host (an HA router counts on each of its hosts)."""
    load: dict[str, int] = {}
    for found in instances(conn).values():
        for host in found:
            load[host] = load.get(host, 0) + 1
    return load


def wanted_instances(settings: Settings, able: int) -> int:
    """How many instances an HA router gets: one per able live L3 host, at most
    ``max_l3_agents_per_router`` (one when there is one host: it runs there, as in Neutron)."""
    return min(settings.max_l3_agents_per_router, able)


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
    """Schedule these unscheduled routers inside the caller's transaction; the ones placed
    (an HA router by its first host: it gets ``wanted_instances`` on distinct hosts).
    None are placed when no L3 host is live (or none can carry a router's external network):
    they wait for one (``place_unplaced``)."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    placed: dict[str, str] = {}
    if not live:
        return placed
    load = _loads(conn)
    external = external_networks(conn)
    ha = ha_routers.ha_router_ids(conn)
    for router_id in sorted(router_ids):
        able = carriers(conn, settings, external.get(router_id), live)[0]
        if router_id in ha:
            added = _add_ha_instances(conn, settings, router_id, able, (), load, now)
            if added:
                placed[router_id] = added[0]
            continue
        host = least_loaded(able, load)
        if host is None:
            continue
        conn.execute(insert(router_hosts).values(router_id=router_id, host=host, scheduled_at=now))
        load[host] = load.get(host, 0) + 1
        placed[router_id] = host
    return placed


def _add_ha_instances(
    conn: Connection,
    settings: Settings,
    router_id: str,
    able: list[str],
    current: tuple[str, ...],
    load: dict[str, int],
    now: datetime,
) -> list[str]:
    """Instances on the least-loaded able hosts without one until the router has its number."""
    added: list[str] = []
    free = [host for host in able if host not in current]
    while len(current) + len(added) < wanted_instances(settings, len(able)):
        host = least_loaded([h for h in free if h not in added], load)
        if host is None:
            break
        ha_routers.add_instance(conn, settings, router_id, host, now)
        load[host] = load.get(host, 0) + 1
        added.append(host)
    return added


def short_ha_routers(conn: Connection, settings: Settings, now: datetime) -> list[str]:
    """Scheduled HA routers with fewer instances than they should have (a host came)."""
    live = live_l3_hosts(conn, settings, now)
    if not live:
        return []
    current = instances(conn)
    external = external_networks(conn)
    short = []
    for router_id in sorted(ha_routers.ha_router_ids(conn) & current.keys()):
        able = carriers(conn, settings, external.get(router_id), live)[0]
        if len(current[router_id]) < wanted_instances(settings, len(able)):
            short.append(router_id)
    return short


def top_up(
    conn: Connection, settings: Settings, router_ids: Iterable[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """Give the scheduled HA routers (these, or every one) the instances they lack; the
    hosts added per router."""
    now = common.utcnow()
    wanted = short_ha_routers(conn, settings, now)
    if router_ids is not None:
        wanted = [r for r in wanted if r in set(router_ids)]
    if not wanted:
        return {}
    live = live_l3_hosts(conn, settings, now)
    load = _loads(conn)
    current = instances(conn)
    external = external_networks(conn)
    added = {}
    for router_id in wanted:
        able = carriers(conn, settings, external.get(router_id), live)[0]
        found = _add_ha_instances(conn, settings, router_id, able, current[router_id], load, now)
        if found:
            added[router_id] = tuple(found)
    return added


def follow_gateway(conn: Connection, settings: Settings, router_id: str, network_id: str) -> None:
    """After a router's gateway was set: keep it where it is if its host can carry the
    external network, else move it (or place it) on the least-loaded live L3 host that can.
    An HA router: every instance on a host that cannot is moved to one that can and has none
    (or removed when there is none left). Refused when live L3 hosts exist and none can: the
    gateway could never work. With no live L3 host at all the router waits, as any does."""
    now = common.utcnow()
    live = live_l3_hosts(conn, settings, now)
    if not live:
        return
    able, refused = carriers(conn, settings, network_id, live)
    if not able:
        reasons = "; ".join(f"{host}: {why}" for host, why in sorted(refused.items()))
        raise NoL3HostForExternalNetwork(router_id=router_id, net_id=network_id, reasons=reasons)
    current = instances(conn).get(router_id, ())
    if router_id in ha_routers.ha_router_ids(conn):
        _follow_gateway_ha(conn, settings, router_id, able, current, now)
        return
    if current and current[0] in able:
        return
    target = least_loaded(able, _loads(conn))
    if not current:
        conn.execute(
            insert(router_hosts).values(router_id=router_id, host=target, scheduled_at=now)
        )
    else:
        conn.execute(
            update(router_hosts)
            .where(router_hosts.c.router_id == router_id)
            .values(host=target, scheduled_at=now)
        )


def _follow_gateway_ha(
    conn: Connection,
    settings: Settings,
    router_id: str,
    able: list[str],
    current: tuple[str, ...],
    now: datetime,
) -> None:
    load = _loads(conn)
    kept = [host for host in current if host in able]
    for host in current:
        if host in able:
            continue
        target = least_loaded([h for h in able if h not in kept], load)
        if target is None:
            ha_routers.remove_instance(conn, router_id, host)
            continue
        ha_routers.move_instance(conn, router_id, host, target, now)
        load[target] = load.get(target, 0) + 1
        kept.append(target)
    _add_ha_instances(conn, settings, router_id, able, tuple(kept), load, now)


def unplaced_routers(conn: Connection) -> list[str]:
    scheduled = select(router_hosts.c.router_id)
    return sorted(
        conn.execute(select(routers.c.id).where(routers.c.id.not_in(scheduled))).scalars()
    )


def place_unplaced(conn: Connection, settings: Settings) -> dict[str, str]:
    """Schedule every router that has no host yet, and give HA routers the instances they
    lack (when an L3 host registers)."""
    placed = place(conn, settings, unplaced_routers(conn))
    top_up(conn, settings)
    return placed


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
    """Routers: single placement as any ``Scheduler``, plus HA routers' instances."""

    table = router_hosts
    what = "router"
    hosts_noun = "L3"

    def unplaced(self, conn: Connection) -> list[str]:
        return unplaced_routers(conn)

    def carried(self, conn: Connection) -> Callable[[str], str | None]:
        return external_networks(conn).get

    def reschedule(self) -> RescheduleReport:
        """One pass of the periodic task: place unscheduled routers, move routers (and HA
        instances) off hosts that are not live L3 hosts (stopped reporting, or lost the role)
        and give HA routers the instances they lack. Writes nothing when nothing is to be
        done, so an idle fabric's revision stays put."""
        report = RescheduleReport()
        with self.db.read() as conn:
            now = common.utcnow()
            live = set(live_l3_hosts(conn, self.settings, now))
            current = instances(conn)
            unplaced = unplaced_routers(conn)
            ha = ha_routers.ha_router_ids(conn)
        if unplaced and live:
            report.placed = self.db.write(
                lambda txn: place(txn.conn, self.settings, unplaced_routers(txn.conn))
            )
        for router_id, found in sorted(current.items()):
            for host in found:
                if host in live:
                    continue
                if not live:
                    report.stranded[router_id] = host
                    continue
                target = self.db.write(lambda txn, r=router_id, h=host: self._move(txn, r, h))
                if target is None:
                    continue
                if router_id in ha:
                    report.ha_moved.append((router_id, host, target))
                else:
                    report.moved[router_id] = (host, target)
        with self.db.read() as conn:
            short = short_ha_routers(conn, self.settings, common.utcnow())
        if short:
            report.ha_added = self.db.write(lambda txn: top_up(txn.conn, self.settings, short))
        moves = [*((r, old, new) for r, (old, new) in report.moved.items()), *report.ha_moved]
        for router_id, old, new in moves:
            log.warning("router %s moved from host %s (not live) to %s", router_id, old, new)
        if report.stranded:
            log.warning(
                "no live L3 host: routers stay on hosts that are not live: %s",
                ", ".join(f"{r} on {h}" for r, h in sorted(report.stranded.items())),
            )
        return report

    def _move(self, txn: WriteTxn, router_id: str, old: str) -> str | None:
        """Move one router (or an HA router's instance) if it is still on ``old`` and ``old``
        is still not live: the decision is taken again inside the write (a heartbeat may have
        come in between). An HA instance goes only to a host without one of the router's."""
        conn = txn.conn
        now = common.utcnow()
        live = live_l3_hosts(conn, self.settings, now)
        if old in live or not live:
            return None
        current = instances(conn).get(router_id, ())
        if old not in current:
            return None
        external = external_networks(conn).get(router_id)
        able = carriers(conn, self.settings, external, live)[0]
        if router_id in ha_routers.ha_router_ids(conn):
            target = least_loaded([h for h in able if h not in current], _loads(conn))
            if target is None:
                return None
            return target if ha_routers.move_instance(conn, router_id, old, target, now) else None
        target = least_loaded(able, _loads(conn))
        if target is None:
            return None
        moved = conn.execute(  # only from ``old``: another server's pass may have moved it
            update(router_hosts)
            .where(router_hosts.c.router_id == router_id, router_hosts.c.host == old)
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
