"""Neutron v2.0 routes: versions, extensions, the CRUD resources and quotas.

This module deliberately has no ``from __future__ import annotations``: the route functions are
built in a loop and FastAPI must see their body models as real classes, not strings.
"""

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, create_model

from v6fabric.api.deps import caller
from v6fabric.api.neutron import schemas
from v6fabric.api.neutron.extensions import extension_documents
from v6fabric.api.neutron.listing import page_links, parse_list_query, select_fields
from v6fabric.api.responses import JSONBody
from v6fabric.domain.errors import HTTPBadRequest, ResourceNotFound
from v6fabric.identity.context import RequestContext

RESOURCES = [
    ("network", "networks", schemas.NetworkCreate, schemas.NetworkUpdate),
    ("subnet", "subnets", schemas.SubnetCreate, schemas.SubnetUpdate),
    ("subnetpool", "subnetpools", schemas.SubnetPoolCreate, schemas.SubnetPoolUpdate),
    ("port", "ports", schemas.PortCreate, schemas.PortUpdate),
]


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, by_alias=True)


def _add_resource(
    router: APIRouter, singular: str, plural: str, create: type, update: type
) -> None:
    tag = [plural]
    create_request = create_model(
        f"{create.__name__}Request",
        **{singular: (create | None, None), plural: (list[create] | None, None)},  # type: ignore[valid-type]
    )
    update_request = create_model(f"{update.__name__}Request", **{singular: (update, ...)})

    def service(request: Request) -> Any:
        return getattr(request.app.state.services, plural)

    @router.get(f"/v2.0/{plural}", tags=tag, summary=f"List {plural}")
    def list_items(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
        query, fields = parse_list_query(request)
        items = service(request).list(ctx, query)
        body: dict[str, Any] = {plural: [select_fields(i, fields) for i in items]}
        if links := page_links(request, query, items):
            body[f"{plural}_links"] = links
        return JSONBody(body)

    @router.post(f"/v2.0/{plural}", tags=tag, status_code=201, summary=f"Create {singular} or bulk")
    def create_items(
        request: Request,
        payload: create_request,
        ctx: RequestContext = Depends(caller),  # type: ignore[valid-type]
    ) -> Response:
        one, many = getattr(payload, singular), getattr(payload, plural)
        if (one is None) == (many is None):
            raise HTTPBadRequest(msg=f"Resource body required: '{singular}' or '{plural}'")
        if one is not None:
            created = service(request).create(ctx, [_body(one)])
            return JSONBody({singular: created[0]}, status_code=201)
        created = service(request).create(ctx, [_body(item) for item in many])
        return JSONBody({plural: created}, status_code=201)

    @router.get(f"/v2.0/{plural}/{{item_id}}", tags=tag, summary=f"Show {singular}")
    def show_item(
        request: Request, item_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        _, fields = parse_list_query(request)
        return JSONBody({singular: select_fields(service(request).get(ctx, item_id), fields)})

    @router.put(f"/v2.0/{plural}/{{item_id}}", tags=tag, summary=f"Update {singular}")
    def update_item(
        request: Request,
        item_id: str,
        payload: update_request,
        ctx: RequestContext = Depends(caller),  # type: ignore[valid-type]
    ) -> Response:
        updated = service(request).update(ctx, item_id, _body(getattr(payload, singular)))
        return JSONBody({singular: updated})

    @router.delete(
        f"/v2.0/{plural}/{{item_id}}", tags=tag, status_code=204, summary=f"Delete {singular}"
    )
    def delete_item(
        request: Request, item_id: str, ctx: RequestContext = Depends(caller)
    ) -> Response:
        service(request).delete(ctx, item_id)
        return Response(status_code=204)


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
    def versions(request: Request) -> Response:
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
    def resources(request: Request) -> Response:
        base = request.app.state.settings.base_url
        return JSONBody(
            {
                "resources": [
                    {
                        "name": singular,
                        "collection": plural,
                        "links": [{"href": f"{base}/v2.0/{plural}", "rel": "self"}],
                    }
                    for singular, plural, _, _ in RESOURCES
                ]
            }
        )

    @router.get("/v2.0/extensions", tags=tag)
    def extensions(ctx: RequestContext = Depends(caller)) -> Response:
        return JSONBody({"extensions": extension_documents()})

    @router.get("/v2.0/extensions/{alias}", tags=tag)
    def extension(alias: str, ctx: RequestContext = Depends(caller)) -> Response:
        for item in extension_documents():
            if item["alias"] == alias:
                return JSONBody({"extension": item})
        raise ResourceNotFound()


def build_router() -> APIRouter:
    router = APIRouter()
    _add_discovery(router)
    _add_quotas(router)
    for singular, plural, create, update in RESOURCES:
        _add_resource(router, singular, plural, create, update)
    return router
