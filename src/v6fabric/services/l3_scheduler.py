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
each pass). An instance on a host that is not live stays there while another instance is on a
live host (keepalived fails over; ``_another_live`` says why); when none is, it moves to a live
host without an instance of it, its ``ha-`` port with it.

The generic part (liveness, carriers, ``Scheduler``, ``Rescheduler``) is ``services.scheduling``;
``L3Scheduler`` adds HA instances to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from v6fabric.domain.errors import NoL3HostForExternalNetwork
from v6fabric.services import common, ha_routers
from v6fabric.services.router_placement import instances
from v6fabric.services.router_placement import placements as placements  # re-exported
from v6fabric.services.scheduling import (
    RescheduleReport,
    Scheduler,
    carriers,
    least_loaded,
    live_l3_hosts,
)
from v6fabric.settings import Settings
from v6fabric.store.db import WriteTxn
from v6fabric.store.tables import router_hosts, routers

log = logging.getLogger(__name__)


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
                if router_id in ha and _another_live(found, host, live):
                    continue  # keepalived fails over; a move could make a second master
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
            if _another_live(current, old, live):
                return None
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


def _another_live(hosts: Iterable[str], host: str, live: Iterable[str]) -> bool:
    """Whether an HA router with an instance on ``host`` has another one on a live host.

    Then the instance on ``host`` is not moved, only when every instance's host is silent: a
    silent agent does not mean a dead keepalived (the agent alone may have died), and an
    instance made elsewhere would not hear the old one's adverts through a split HA network
    it could not reach either; two masters would answer for one MAC. Neutron does not move
    HA routers off dead agents either; keepalived is what fails over."""
    alive = set(live)
    return any(other in alive for other in hosts if other != host)
