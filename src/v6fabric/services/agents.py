"""Neutron's agents view of the fabric's hosts (``GET /v2.0/agents``, the ``agent``,
``l3_agent_scheduler`` and ``dhcp_agent_scheduler`` extensions), admin-only as in Neutron.

One host agent does every job here; it shows as the agents Neutron would run for the host's
roles: an ``L3 agent`` and a ``DHCP agent`` on each host with the ``network`` role. An agent's
id is derived from its host and type, so it stays the same across restarts and servers.
``alive`` is the L3 scheduler's liveness (``Settings.l3_agent_down_seconds``), which the DHCP
scheduler shares. A DHCP agent's ``configurations.networks`` counts the networks it serves. The
L3 agents hosting a router carry ``ha_state`` as Neutron's do: what each host's agent reported
of its instance of an HA router ("active" | "standby", None until reported, "unknown" once
the agent is not alive), None for other routers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from v6fabric.domain.errors import (
    NetworkNotFound,
    NotFound,
    PolicyNotAuthorized,
    RouterNotFound,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, dhcp_scheduler, scheduling
from v6fabric.services.router_placement import ha_states, instances
from v6fabric.services.scheduling import L3_ROLE, is_alive
from v6fabric.settings import Settings
from v6fabric.store.db import Database
from v6fabric.store.tables import hosts, network_dhcp_hosts, networks, router_hosts, routers

AGENT_NAMESPACE = uuid.UUID("5c1f6c2e-7a3c-4c55-9a8e-6f6162726963")  # uuid5 ids of agents
L3_AGENT = "L3 agent"
DHCP_AGENT = "DHCP agent"
# agent type -> (role, binary, topic), as Neutron's agents report them
AGENT_TYPES = {
    L3_AGENT: (L3_ROLE, "neutron-l3-agent", "l3_agent"),
    DHCP_AGENT: (L3_ROLE, "neutron-dhcp-agent", "dhcp_agent"),
}
FILTERS = ("id", "agent_type", "binary", "topic", "host", "alive", "admin_state_up")


class AgentNotFound(NotFound):
    template = "Agent {id} could not be found."


def agent_id(host: str, agent_type: str) -> str:
    return str(uuid.uuid5(AGENT_NAMESPACE, f"{host}/{agent_type}"))


def _neutron_time(value: datetime) -> str:
    """Agents' timestamps in Neutron's form for them: ``2026-11-28 13:50:54``."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


class AgentService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def list(self, ctx: RequestContext, filters: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Neutron lists only the agents the caller may see: none for a non-admin."""
        if not ctx.is_admin:
            return []
        with self.db.read() as conn:
            found = self._agents(conn)
        return [agent for agent in found if _matches(agent, filters)]

    def get(self, ctx: RequestContext, found_id: str) -> dict[str, Any]:
        if ctx.is_admin:
            with self.db.read() as conn:
                for agent in self._agents(conn):
                    if agent["id"] == found_id:
                        return agent
        raise AgentNotFound(id=found_id)

    def hosting_router(self, ctx: RequestContext, router_id: str) -> list[dict[str, Any]]:
        """The L3 agents hosting the router (none while it is unscheduled; one per instance of
        an HA router), each with its instance's ``ha_state``."""
        if not ctx.is_admin:
            raise PolicyNotAuthorized(action="get_l3-agents")
        with self.db.read() as conn:
            found = conn.execute(
                select(routers.c.id, routers.c.ha).where(routers.c.id == router_id)
            )
            router = found.first()
            if router is None:
                raise RouterNotFound(router_id=router_id)
            states = ha_states(conn, router_id)
            agents = self._agents(conn)
        return [
            {**a, "ha_state": _ha_state(states[(router_id, a["host"])], a) if router.ha else None}
            for a in agents
            if a["agent_type"] == L3_AGENT and (router_id, a["host"]) in states
        ]

    def routers_on(self, ctx: RequestContext, found_id: str) -> list[str]:
        """Ids of the routers an L3 agent hosts."""
        agent = self.get(ctx, found_id)
        if agent["agent_type"] != L3_AGENT:
            return []
        with self.db.read() as conn:
            return sorted(r for r, hosts in instances(conn).items() if agent["host"] in hosts)

    def hosting_network(self, ctx: RequestContext, network_id: str) -> list[dict[str, Any]]:
        """The DHCP agent hosting the network's DHCP (none while it is unplaced: no DHCP
        port, or no live network host since it got one)."""
        if not ctx.is_admin:
            raise PolicyNotAuthorized(action="get_dhcp-agents")
        with self.db.read() as conn:
            found = conn.execute(select(networks.c.id).where(networks.c.id == network_id))
            if found.first() is None:
                raise NetworkNotFound(net_id=network_id)
            host = dhcp_scheduler.placements(conn).get(network_id)
            agents = self._agents(conn)
        return [a for a in agents if a["agent_type"] == DHCP_AGENT and a["host"] == host]

    def networks_on(self, ctx: RequestContext, found_id: str) -> list[str]:
        """Ids of the networks whose DHCP a DHCP agent hosts."""
        agent = self.get(ctx, found_id)
        if agent["agent_type"] != DHCP_AGENT:
            return []
        with self.db.read() as conn:
            placed = dhcp_scheduler.placements(conn)
        return sorted(n for n, host in placed.items() if host == agent["host"])

    def _agents(self, conn: Connection) -> list[dict[str, Any]]:
        now = common.utcnow()
        loads = {
            L3_AGENT: scheduling.loads_in(conn, router_hosts),
            DHCP_AGENT: scheduling.loads_in(conn, network_dhcp_hosts),
        }
        found = []
        for row in conn.execute(select(hosts).order_by(hosts.c.name)):
            for agent_type, (role, binary, topic) in AGENT_TYPES.items():
                if role not in (row.roles or ()):
                    continue
                placed = loads[agent_type].get(row.name, 0)
                configurations = (
                    {"routers": placed, "agent_mode": "legacy"}
                    if agent_type == L3_AGENT
                    else {"networks": placed}
                )
                found.append(
                    {
                        "id": agent_id(row.name, agent_type),
                        "agent_type": agent_type,
                        "binary": binary,
                        "topic": topic,
                        "host": row.name,
                        "admin_state_up": True,
                        "alive": is_alive(row.seen_at, now, self.settings),
                        "availability_zone": "nova",
                        "configurations": configurations,
                        "created_at": _neutron_time(row.registered_at),
                        "started_at": _neutron_time(row.registered_at),
                        "heartbeat_timestamp": _neutron_time(row.seen_at),
                        "description": None,
                        "resources_synced": None,
                    }
                )
        return found


def _matches(agent: Mapping[str, Any], filters: Mapping[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if key not in FILTERS:
            continue
        value = agent[key]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text not in [w.lower() if isinstance(value, bool) else w for w in wanted]:
            return False
    return True


def _ha_state(reported: str | None, agent: dict[str, Any]) -> str | None:
    """What the host's agent last reported of its instance; "unknown" once the agent is not
    alive (Neutron's ``HA_ROUTER_STATE_UNKNOWN``): its last word may no longer be true."""
    return reported if agent["alive"] else "unknown"
