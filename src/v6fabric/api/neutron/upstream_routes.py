"""``GET /v2.0/upstream_routes``: the prefixes an upstream router must send to each router's
gateway (``services.upstream_routes``), filtered by ``router_id`` and ``external_network_id``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from v6fabric.api.deps import caller
from v6fabric.api.responses import JSONBody
from v6fabric.identity.context import RequestContext


def add_upstream_routes(router: APIRouter) -> None:
    @router.get("/v2.0/upstream_routes", tags=["routers"], summary="Routes for the upstream")
    def upstream_routes(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
        query = request.query_params
        found = request.app.state.services.upstream_routes.list(
            ctx, query.getlist("router_id"), query.getlist("external_network_id")
        )
        return JSONBody({"upstream_routes": found})
