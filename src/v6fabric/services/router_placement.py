"""Where the L3 scheduler put each router: read by the scheduler, the bindings check, the agents
view and the snapshot (kept apart from ``l3_scheduler`` so that ``bindings`` can read it and the
scheduler can ask ``bindings`` which hosts can carry a router's external network).

A router runs on one host; an HA router (issue 7) on several at once, one instance each."""

from __future__ import annotations

from sqlalchemy import Connection, select

from v6fabric.store.tables import router_hosts


def instances(conn: Connection) -> dict[str, tuple[str, ...]]:
    """Router id -> the hosts of its instances (sorted), for every scheduled router."""
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        select(router_hosts.c.router_id, router_hosts.c.host).order_by(
            router_hosts.c.router_id, router_hosts.c.host
        )
    )
    for row in rows:
        found.setdefault(row.router_id, []).append(row.host)
    return {router_id: tuple(hosts) for router_id, hosts in found.items()}


def instance_pairs(conn: Connection) -> tuple[tuple[str, str], ...]:
    """(router id, host) of every instance, sorted: the snapshot's ``router_hosts``."""
    return tuple((r, h) for r, hosts in instances(conn).items() for h in hosts)


def placements(conn: Connection) -> dict[str, str]:
    """Router id -> one host running it (an HA router's first by name), for every scheduled
    router: for callers that need one host per router."""
    return {router_id: hosts[0] for router_id, hosts in instances(conn).items()}


def ha_states(conn: Connection, router_id: str | None = None) -> dict[tuple[str, str], str | None]:
    """(router id, host) -> the instance's reported HA state (None: not reported)."""
    stmt = select(router_hosts.c.router_id, router_hosts.c.host, router_hosts.c.ha_state)
    if router_id is not None:
        stmt = stmt.where(router_hosts.c.router_id == router_id)
    return {(row.router_id, row.host): row.ha_state for row in conn.execute(stmt)}
