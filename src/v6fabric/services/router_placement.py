"""Where the L3 scheduler put each router: read by the scheduler, the bindings check and the
snapshot (kept apart from ``l3_scheduler`` so that ``bindings`` can read it and the scheduler
can ask ``bindings`` which hosts can carry a router's external network)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from v6fabric.store.tables import router_hosts


def placements(conn: Connection) -> dict[str, str]:
    """Router id -> its host, for every scheduled router."""
    return {row.router_id: row.host for row in conn.execute(select(router_hosts))}
