"""Neutron's agent views (``agent``, ``l3_agent_scheduler`` and ``dhcp_agent_scheduler``
extensions): the hosts as the agents they stand for, which L3 agent hosts a router and which
DHCP agent a network (``services.agents``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from v6fabric.api.deps import caller
from v6fabric.api.responses import JSONBody
from v6fabric.identity.context import RequestContext


def _agents(request: Request) -> Any:
    return request.app.state.services.agents


def add_agent_routes(router: APIRouter) -> None:
    tag = ["agents"]

    @router.get("/v2.0/agents", tags=tag, summary="List agents")
    def list_agents(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            filters.setdefault(key, []).append(value)
        return JSONBody({"agents": _agents(request).list(ctx, filters)})

    @router.get("/v2.0/agents/{agent_id}", tags=tag, summary="Show agent")
    def show_agent(
        request: Request, agent_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"agent": _agents(request).get(ctx, agent_id)})

    @router.get("/v2.0/agents/{agent_id}/l3-routers", tags=tag, summary="Routers of an L3 agent")
    def agent_routers(
        request: Request, agent_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        ids = _agents(request).routers_on(ctx, agent_id)
        services = request.app.state.services
        return JSONBody({"routers": [services.routers.get(ctx, router_id) for router_id in ids]})

    @router.get("/v2.0/routers/{router_id}/l3-agents", tags=["routers"], summary="L3 agents")
    def router_agents(
        request: Request, router_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"agents": _agents(request).hosting_router(ctx, router_id)})

    @router.get(
        "/v2.0/agents/{agent_id}/dhcp-networks", tags=tag, summary="Networks of a DHCP agent"
    )
    def agent_networks(
        request: Request, agent_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        ids = _agents(request).networks_on(ctx, agent_id)
        services = request.app.state.services
        return JSONBody({"networks": [services.networks.get(ctx, net_id) for net_id in ids]})

    @router.get("/v2.0/networks/{network_id}/dhcp-agents", tags=["networks"], summary="DHCP agents")
    def network_agents(
        request: Request, network_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"agents": _agents(request).hosting_network(ctx, network_id)})
