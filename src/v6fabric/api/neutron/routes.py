"""Neutron v2.0 routes: versions, extensions, the CRUD resources and quotas.

This module deliberately has no ``from __future__ import annotations``: the route functions are
built in a loop and FastAPI must see their body models as real classes, not strings.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, create_model
from starlette.concurrency import run_in_threadpool

from v6fabric.api.deps import caller
from v6fabric.api.neutron import schemas
from v6fabric.api.neutron.agents import add_agent_routes
from v6fabric.api.neutron.extensions import extension_documents
from v6fabric.api.neutron.listing import page_links, parse_list_query, select_fields
from v6fabric.api.neutron.upstream_routes import add_upstream_routes
from v6fabric.api.responses import JSONBody
from v6fabric.domain.errors import HTTPBadRequest, ResourceNotFound
from v6fabric.identity.context import RequestContext

RESOURCES = [
    ("network", "networks", schemas.NetworkCreate, schemas.NetworkUpdate),
    ("subnet", "subnets", schemas.SubnetCreate, schemas.SubnetUpdate),
    ("subnetpool", "subnetpools", schemas.SubnetPoolCreate, schemas.SubnetPoolUpdate),
    ("port", "ports", schemas.PortCreate, schemas.PortUpdate),
    ("router", "routers", schemas.RouterCreate, schemas.RouterUpdate),
    (
        "security_group",
        "security_groups",
        schemas.SecurityGroupCreate,
        schemas.SecurityGroupUpdate,
    ),
    (
        "security_group_rule",
        "security_group_rules",
        schemas.SecurityGroupRuleCreate,
        schemas.SecurityGroupRuleUpdate,
    ),
]


T = TypeVar("T")
HEAVY_LIST = 500  # lists longer than this page size go to the threadpool


async def run_service(request: Request, call: Callable[[], T], heavy: bool = False) -> T:
    """Run a service call, on the event loop where that is cheaper than a thread hand-off.

    On SQLite every write is serialised anyway and a call costs about 2 ms, less than the
    interpreter-lock ping-pong between the loop and a worker thread on two cores (measured
    +30 % throughput in bench/api_ports.py). Long lists, and everything on PostgreSQL (which
    may wait on the network or on another server's lock), go to the threadpool.
    """
    if request.app.state.db.is_sqlite and not heavy:
        return call()
    return await run_in_threadpool(call)


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, by_alias=True)


def collection_path(plural: str) -> str:
    """The URL of a collection: body keys say security_groups, URLs security-groups."""
    return "/v2.0/" + plural.replace("_", "-")


def _add_resource(
    router: APIRouter, singular: str, plural: str, create: type, update: type
) -> None:
    tag = [plural]
    path = collection_path(plural)
    create_request = create_model(
        f"{create.__name__}Request",
        **{singular: (create | None, None), plural: (list[create] | None, None)},  # type: ignore[valid-type]
    )
    update_request = create_model(f"{update.__name__}Request", **{singular: (update, ...)})

    def service(request: Request) -> Any:
        return getattr(request.app.state.services, plural)

    @router.get(path, tags=tag, summary=f"List {plural}")
    async def list_items(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
        query, fields = parse_list_query(request)
        heavy = not query.limit or query.limit > HEAVY_LIST
        items = await run_service(request, lambda: service(request).list(ctx, query), heavy)
        body: dict[str, Any] = {plural: [select_fields(i, fields) for i in items]}
        if links := page_links(request, query, items):
            body[f"{plural}_links"] = links
        return JSONBody(body)

    @router.post(path, tags=tag, status_code=201, summary=f"Create {singular} or bulk")
    async def create_items(
        request: Request,
        payload: create_request,
        ctx: RequestContext = Depends(caller),  # type: ignore[valid-type]
    ) -> Response:
        one, many = getattr(payload, singular), getattr(payload, plural)
        if (one is None) == (many is None):
            raise HTTPBadRequest(msg=f"Resource body required: '{singular}' or '{plural}'")
        bodies = [_body(one)] if one is not None else [_body(item) for item in many]
        created = await run_service(request, lambda: service(request).create(ctx, bodies))
        if one is not None:
            return JSONBody({singular: created[0]}, status_code=201)
        return JSONBody({plural: created}, status_code=201)

    @router.get(f"{path}/{{item_id}}", tags=tag, summary=f"Show {singular}")
    async def show_item(
        request: Request, item_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        _, fields = parse_list_query(request)
        item = await run_service(request, lambda: service(request).get(ctx, item_id))
        return JSONBody({singular: select_fields(item, fields)})

    @router.put(f"{path}/{{item_id}}", tags=tag, summary=f"Update {singular}")
    async def update_item(
        request: Request,
        item_id: str,
        payload: update_request,
        ctx: RequestContext = Depends(caller),  # type: ignore[valid-type]
    ) -> Response:
        body = _body(getattr(payload, singular))
        updated = await run_service(request, lambda: service(request).update(ctx, item_id, body))
        return JSONBody({singular: updated})

    @router.delete(f"{path}/{{item_id}}", tags=tag, status_code=204, summary=f"Delete {singular}")
    async def delete_item(
        request: Request, item_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        await run_service(request, lambda: service(request).delete(ctx, item_id))
        return Response(status_code=204)


def _routes_of(payload: schemas.RouterRoutesRequest) -> Any:
    return payload.router.routes


# Neutron's member actions on routers: interfaces (l3) and atomic route edits (extraroute-atomic).
# (URL action, body model, what of the body the service takes, service method, answer key: the
# interface actions answer the interface info bare, the route edits {"router": ...})
ROUTER_ACTIONS: list[tuple[str, type[BaseModel], Callable[[Any], Any], str, str | None]] = [
    ("add_router_interface", schemas.RouterInterface, _body, "add_interface", None),
    ("remove_router_interface", schemas.RouterInterface, _body, "remove_interface", None),
    ("add_extraroutes", schemas.RouterRoutesRequest, _routes_of, "add_routes", "router"),
    ("remove_extraroutes", schemas.RouterRoutesRequest, _routes_of, "remove_routes", "router"),
]


def _add_router_action(
    router: APIRouter,
    action: str,
    model: type[BaseModel],
    argument: Callable[[Any], Any],
    method: str,
    answer_key: str | None,
) -> None:
    # name=action keeps the OpenAPI operation ids and summaries of the handlers this replaced.
    @router.put(f"/v2.0/routers/{{router_id}}/{action}", tags=["routers"], name=action)
    async def router_action(
        request: Request,
        router_id: str,
        payload: model,  # type: ignore[valid-type]
        ctx: RequestContext = Depends(caller),
    ) -> Response:
        value = argument(payload)
        service = getattr(request.app.state.services.routers, method)
        result = await run_service(request, lambda: service(ctx, router_id, value))
        return JSONBody(result if answer_key is None else {answer_key: result})


def _add_quotas(router: APIRouter) -> None:
    tag = ["quotas"]

    def quotas(request: Request) -> Any:
        return request.app.state.services.quotas

    class QuotaRequest(BaseModel):
        quota: dict[str, Any]

    @router.get("/v2.0/quotas", tags=tag)
    def list_quotas(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
        return JSONBody({"quotas": quotas(request).list(ctx)})

    @router.get("/v2.0/quotas/{project_id}/default", tags=tag)
    def default_quota(
        request: Request, project_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"quota": quotas(request).defaults(ctx, project_id)})

    @router.get("/v2.0/quotas/{project_id}/details", tags=tag)
    def quota_details(
        request: Request, project_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"quota": quotas(request).details(ctx, project_id)})

    @router.get("/v2.0/quotas/{project_id}", tags=tag)
    def show_quota(
        request: Request, project_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        return JSONBody({"quota": quotas(request).get(ctx, project_id)})

    @router.put("/v2.0/quotas/{project_id}", tags=tag)
    def update_quota(
        request: Request,
        project_id: str,
        payload: QuotaRequest,
        ctx: RequestContext = Depends(caller),
    ) -> Response:
        return JSONBody({"quota": quotas(request).update(ctx, project_id, payload.quota)})

    @router.delete("/v2.0/quotas/{project_id}", tags=tag, status_code=204)
    def reset_quota(
        request: Request, project_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        quotas(request).reset(ctx, project_id)
        return Response(status_code=204)


def _add_discovery(router: APIRouter) -> None:
    tag = ["versions"]

    @router.get("/", tags=tag, summary="API versions")
    async def versions(request: Request) -> Response:
        base = request.app.state.settings.base_url
        return JSONBody(
            {
                "versions": [
                    {
                        "id": "v2.0",
                        "status": "CURRENT",
                        "links": [{"href": f"{base}/v2.0/", "rel": "self"}],
                    }
                ]
            }
        )

    @router.get("/v2.0", tags=tag, include_in_schema=False)
    @router.get("/v2.0/", tags=tag, summary="Resources of v2.0")
    async def resources(request: Request) -> Response:
        base = request.app.state.settings.base_url
        return JSONBody(
            {
                "resources": [
                    {
                        "name": singular,
                        "collection": collection_path(plural).removeprefix("/v2.0/"),
                        "links": [{"href": f"{base}{collection_path(plural)}", "rel": "self"}],
                    }
                    for singular, plural, _, _ in RESOURCES
                ]
            }
        )

    @router.get("/v2.0/extensions", tags=tag)
    async def extensions(ctx: RequestContext = Depends(caller)) -> Response:
        return JSONBody({"extensions": extension_documents()})

    @router.get("/v2.0/extensions/{alias}", tags=tag)
    async def extension(alias: str, ctx: RequestContext = Depends(caller)) -> Response:
        for item in extension_documents():
            if item["alias"] == alias:
                return JSONBody({"extension": item})
        raise ResourceNotFound()


def build_router() -> APIRouter:
    router = APIRouter()
    _add_discovery(router)
    _add_quotas(router)
    add_agent_routes(router)
    add_upstream_routes(router)
    for action in ROUTER_ACTIONS:
        _add_router_action(router, *action)
    for singular, plural, create, update in RESOURCES:
        _add_resource(router, singular, plural, create, update)
    return router
