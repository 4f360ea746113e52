"""``/fabric/v1``: the southbound API (hosts, their state and status) and workloads.

An agent long-polls its state: ``GET /fabric/v1/hosts/{host}/state?wait=30`` with
``If-None-Match: <etag>`` answers 304 only after ``wait`` seconds in which nothing that host
should have changed; the ETag is the content hash of its ``HostState``, so writes that do not
concern a host never wake its agent.

Deltas. A client that also sends
``Accept: application/vnd.v6fabric.hoststate-delta.v3+json`` (``codec.DELTA_MEDIA_TYPE``; v3
since ports, workloads and firewall ports are cut into buckets on the wire) gets, when the state has changed and the server still keeps the
state its ``If-None-Match`` names (a host's last few), a 200 of that media type with only the
sections (``hoststate/sections.py``) that changed::

    {"version": 1, "base": "<the If-None-Match etag>", "revision": 42, "etag": "<new etag>",
     "sections": {"firewall.remote_groups/<group id>/17": {"key": 17, "ipv6": [...], ...},
                  "metadata.instances/801": [{"instance_id": ..., "user_data": ...}]},
     "removed": ["firewall.remote_groups/<group id>/3"]}

and the new ``ETag`` header. The client applies it to the state it holds, checks that the
result hashes to ``etag``, and on any mismatch asks again without ``If-None-Match`` (a full
state). Otherwise, and for clients without that ``Accept`` (older agents, and those asking
for the first kind of delta, which knows no metadata buckets), the answer is the
full ``HostState`` as ``application/json``. A change of a few members of a group of 100,000 is
a delta of one bucket (~400 members) instead of 3 MB.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from v6fabric.api.deps import caller
from v6fabric.api.fabric.state_cache import StateCache
from v6fabric.api.fabric.watch import FALLBACK_POLL, RevisionWatch
from v6fabric.api.responses import JSONBody
from v6fabric.domain.errors import PolicyNotAuthorized
from v6fabric.hoststate.codec import DELTA_MEDIA_TYPE
from v6fabric.identity.context import RequestContext
from v6fabric.store.db import Database

router = APIRouter(prefix="/fabric/v1", tags=["fabric"])
MAX_WAIT = 60.0


class HostRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[str] | None = None
    capabilities: dict[str, Any] | None = None


class HostStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    applied: str | None = None
    ports: dict[str, str] | None = None
    workloads: dict[str, str] | None = None
    routers: dict[str, str] | None = None  # HA router id -> "active" | "standby" (issue 7)


class WorkloadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None
    host: str | None = None
    port_ids: list[str] | None = None
    project_id: str | None = None
    # Checked by the service, which words errors as Neutron does (domain.instance_metadata).
    user_data: Any = None
    public_keys: Any = None
    properties: Any = None


class WorkloadRequest(BaseModel):
    workload: WorkloadCreate


def _admin(ctx: RequestContext, action: str) -> None:
    if not ctx.is_admin:
        raise PolicyNotAuthorized(action=action)


def _services(request: Request) -> Any:
    return request.app.state.services


@router.get("/hosts")
def list_hosts(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
    _admin(ctx, "list_hosts")
    return JSONBody({"hosts": _services(request).fabric.list_hosts()})


@router.get("/hosts/{host}")
def show_host(request: Request, host: str, ctx: RequestContext = Depends(caller)) -> Response:
    _admin(ctx, "get_host")
    return JSONBody({"host": _services(request).fabric.get_host(host)})


@router.put("/hosts/{host}")
def register_host(
    request: Request, host: str, body: HostRegistration, ctx: RequestContext = Depends(caller)
) -> Response:
    _admin(ctx, "register_host")
    registered = _services(request).fabric.register_host(host, body.model_dump(exclude_none=True))
    return JSONBody({"host": registered})


@router.put("/hosts/{host}/status", status_code=204)
def report_status(
    request: Request, host: str, body: HostStatus, ctx: RequestContext = Depends(caller)
) -> Response:
    _admin(ctx, "report_status")
    _services(request).fabric.report_status(host, body.model_dump(exclude_none=True))
    return Response(status_code=204)


@router.get("/hosts/{host}/state")
async def get_state(
    request: Request, host: str, wait: float = 0, ctx: RequestContext = Depends(caller)
) -> Response:
    _admin(ctx, "get_host_state")
    _services(request).fabric.get_host(host)  # 404 for hosts that never registered
    known = (request.headers.get("if-none-match") or "").strip('"')
    deltas = DELTA_MEDIA_TYPE in request.headers.get("accept", "")
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    db = request.app.state.db
    states = _states(request)
    _watch(request, states)
    with states.watching(host):
        changed = states.changed(host)  # before the revision is read: no change is missed
        revision = await _revision(db)
        compiled = await states.get(host, revision)
        # Nothing new for this host: sleep until a compile of it ends with another state
        # (every write by this process compiles it now), or a while, for others' writes.
        while compiled.etag == known:
            if (left := deadline - time.monotonic()) <= 0:
                return Response(status_code=304, headers={"ETag": f'"{known}"'})
            try:
                await asyncio.wait_for(changed.wait(), min(left, FALLBACK_POLL))
                compiled = states.latest(host) or compiled
                changed = states.changed(host)
            except TimeoutError:
                changed = states.changed(host)
                now = await _revision(db)
                if now != revision:
                    revision, compiled = now, await states.get(host, now)
    headers = {"ETag": f'"{compiled.etag}"', "Vary": "Accept"}
    base = states.base(host, known) if deltas and known else None
    if base is not None:
        body = await states.delta(compiled, base)
        return Response(body, media_type=DELTA_MEDIA_TYPE, headers=headers)
    body = await states.body(compiled)
    return Response(body, media_type="application/json", headers=headers)


async def _revision(db: Database) -> int:
    """SQLite's is a local read; another database's is a round trip, kept off the loop."""
    return db.revision() if db.is_sqlite else await run_in_threadpool(db.revision)


def _states(request: Request) -> StateCache:
    app_state = request.app.state
    if getattr(app_state, "state_cache", None) is None:
        app_state.state_cache = StateCache(_services(request).fabric_mirror.snapshot_for)
    return app_state.state_cache


def _watch(request: Request, states: StateCache) -> RevisionWatch:
    """One per app, made on first use (it needs the running event loop): this process's
    writes compile the watched hosts at once."""
    app_state = request.app.state
    if getattr(app_state, "revision_watch", None) is None:
        loop = asyncio.get_running_loop()
        app_state.revision_watch = RevisionWatch(app_state.db, loop, states.prefetch)
    return app_state.revision_watch


# --- workloads ----------------------------------------------------------------------------


@router.get("/workloads")
def list_workloads(request: Request, ctx: RequestContext = Depends(caller)) -> Response:
    return JSONBody({"workloads": _services(request).workloads.list(ctx)})


@router.post("/workloads", status_code=201)
def create_workload(
    request: Request, body: WorkloadRequest, ctx: RequestContext = Depends(caller)
) -> Response:
    created = _services(request).workloads.create(ctx, body.workload.model_dump(exclude_none=True))
    return JSONBody({"workload": created}, status_code=201)


@router.get("/workloads/{workload_id}")
def show_workload(
    request: Request, workload_id: str, ctx: RequestContext = Depends(caller)
) -> Response:
    return JSONBody({"workload": _services(request).workloads.get(ctx, workload_id)})


@router.delete("/workloads/{workload_id}", status_code=204)
def delete_workload(
    request: Request, workload_id: str, ctx: RequestContext = Depends(caller)
) -> Response:
    _services(request).workloads.delete(ctx, workload_id)
    return Response(status_code=204)
