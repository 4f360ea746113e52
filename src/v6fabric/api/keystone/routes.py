"""The Keystone v3 subset, mounted at ``/identity``: version discovery, tokens, and read-only
projects and users for admins (enough for keystoneauth, openstacksdk and the openstack CLI).

Errors here take Keystone's shape ``{"error": {"code", "title", "message"}}``, which identity
clients parse, not the Neutron shape the app-wide handler renders; so every handler converts
its own exceptions (``keystone_errors``) before they reach that handler.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from v6fabric.api.responses import JSONBody
from v6fabric.domain.constants import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
from v6fabric.domain.errors import FabricError, NotFound, PolicyNotAuthorized
from v6fabric.identity.context import RequestContext
from v6fabric.identity.service import IdentityService
from v6fabric.settings import Settings

router = APIRouter()

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
SUBJECT_TOKEN = "X-Subject-Token"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}
UNAUTHORIZED = "The request you have made requires authentication."

P = ParamSpec("P")


class KeystoneError(Exception):
    """A failure to report in Keystone's error shape."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def keystone_error(exc: KeystoneError | FabricError) -> JSONBody:
    """Keystone's error body; 401s never say why (as Keystone), so nothing leaks about users."""
    if isinstance(exc, FabricError):
        code, message = exc.status, exc.message
        if isinstance(exc, PolicyNotAuthorized):
            action = exc.params.get("action", "identity")
            message = f"You are not authorized to perform the requested action: {action}."
    else:
        code, message = exc.code, exc.message
    if code == 401:
        message = UNAUTHORIZED
    error = {"code": code, "title": TITLES.get(code, "Error"), "message": message}
    return JSONBody({"error": error}, status_code=code)


def keystone_errors(handler: Callable[P, Response]) -> Callable[P, Response]:
    """Wrap a synchronous handler so that its errors leave in Keystone's shape."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return handler(*args, **kwargs)
        except (KeystoneError, FabricError) as exc:
            return keystone_error(exc)

    return wrapper


def _identity(request: Request) -> IdentityService:
    return request.app.state.identity


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _caller(request: Request) -> RequestContext:
    token = request.headers.get("x-auth-token")
    if not token:
        raise KeystoneError(401, UNAUTHORIZED)
    return _identity(request).validate_token(token)


def _token_headers(request: Request) -> tuple[str, str]:
    caller, subject = request.headers.get("x-auth-token"), request.headers.get(SUBJECT_TOKEN)
    if not caller:
        raise KeystoneError(401, UNAUTHORIZED)
    if not subject:
        raise KeystoneError(400, f"Expecting to find {SUBJECT_TOKEN} in request headers.")
    return caller, subject


# --- version discovery ----------------------------------------------------------------------


def _version(settings: Settings) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": settings.identity_url + "/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@router.get("")
@router.get("/")
def versions(request: Request) -> Response:
    """Keystone answers the unversioned root with 300 Multiple Choices."""
    body = {"versions": {"values": [_version(_settings(request))]}}
    return JSONBody(body, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def version_v3(request: Request) -> Response:
    return JSONBody({"version": _version(_settings(request))})


# --- tokens ---------------------------------------------------------------------------------


@router.post("/v3/auth/tokens")
async def issue_token(request: Request) -> Response:
    """Async so that a malformed body is ours to report; the slow password check runs in the
    thread pool."""
    catalog = "nocatalog" not in request.query_params
    try:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            raise KeystoneError(400, "The request body is not valid JSON.") from None
        authenticate = functools.partial(_identity(request).authenticate, catalog=catalog)
        token, token_body = await run_in_threadpool(authenticate, body)
    except (KeystoneError, FabricError) as exc:
        return keystone_error(exc)
    return JSONBody(token_body, status_code=201, headers={SUBJECT_TOKEN: token})


@router.get("/v3/auth/tokens")
@router.head("/v3/auth/tokens", include_in_schema=False)
@keystone_errors
def show_token(request: Request) -> Response:
    """Validate ``X-Subject-Token`` for the caller in ``X-Auth-Token`` (admin or owner)."""
    caller, subject = _token_headers(request)
    identity = _identity(request)
    identity.check_token_access(caller, subject)
    body = identity.token_body(subject, catalog="nocatalog" not in request.query_params)
    if request.method == "HEAD":
        return Response(status_code=200, headers={SUBJECT_TOKEN: subject})
    return JSONBody(body, headers={SUBJECT_TOKEN: subject})


@router.delete("/v3/auth/tokens")
@keystone_errors
def revoke_token(request: Request) -> Response:
    caller, subject = _token_headers(request)
    identity = _identity(request)
    identity.check_token_access(caller, subject)
    identity.revoke(subject)
    return Response(status_code=204)


# --- projects and users (read-only) ----------------------------------------------------------


def _project_view(settings: Settings, project: dict[str, Any]) -> dict[str, Any]:
    return {
        **project,
        "is_domain": False,
        "parent_id": project["domain_id"],
        "tags": [],
        "options": {},
        "links": {"self": f"{settings.identity_url}/projects/{project['id']}"},
    }


def _user_view(settings: Settings, user: dict[str, Any]) -> dict[str, Any]:
    view = {key: value for key, value in user.items() if key != "roles"}
    view |= {"password_expires_at": None, "options": {}}
    view["links"] = {"self": f"{settings.identity_url}/users/{user['id']}"}
    return view


def _collection(request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    name = request.query_params.get("name")
    selected = [item for item in items if name is None or item["name"] == name]
    links = {"self": str(request.url), "previous": None, "next": None}
    return JSONBody({key: selected, "links": links})


def _require_admin(context: RequestContext, action: str) -> None:
    if not context.is_admin:
        raise PolicyNotAuthorized(action=action)


@router.get("/v3/projects")
@keystone_errors
def list_projects(request: Request) -> Response:
    _require_admin(_caller(request), "identity:list_projects")
    settings = _settings(request)
    projects = [_project_view(settings, p) for p in _identity(request).list_projects()]
    return _collection(request, "projects", projects)


@router.get("/v3/projects/{project_id}")
@keystone_errors
def show_project(request: Request, project_id: str) -> Response:
    """By id only, as Keystone: clients fall back to ``?name=`` on a 404."""
    context = _caller(request)
    if not context.is_admin and context.project_id != project_id:
        raise PolicyNotAuthorized(action="identity:get_project")
    project = _identity(request).get_project(project_id)
    if project["id"] != project_id:
        raise NotFound(f"Could not find project: {project_id}.")
    return JSONBody({"project": _project_view(_settings(request), project)})


@router.get("/v3/users")
@keystone_errors
def list_users(request: Request) -> Response:
    _require_admin(_caller(request), "identity:list_users")
    settings = _settings(request)
    users = [_user_view(settings, u) for u in _identity(request).list_users()]
    return _collection(request, "users", users)


@router.get("/v3/users/{user_id}")
@keystone_errors
def show_user(request: Request, user_id: str) -> Response:
    context = _caller(request)
    if not context.is_admin and context.user_id != user_id:
        raise PolicyNotAuthorized(action="identity:get_user")
    user = _identity(request).get_user(user_id)
    if user["id"] != user_id:
        raise NotFound(f"Could not find user: {user_id}.")
    return JSONBody({"user": _user_view(_settings(request), user)})


def _domain_view(settings: Settings) -> dict[str, Any]:
    """The one domain there is; clients look it up by id or name for --*-domain options."""
    return {
        "id": DEFAULT_DOMAIN_ID,
        "name": DEFAULT_DOMAIN_NAME,
        "description": "The default domain",
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{settings.identity_url}/domains/{DEFAULT_DOMAIN_ID}"},
    }


@router.get("/v3/domains")
@keystone_errors
def list_domains(request: Request) -> Response:
    _caller(request)
    return _collection(request, "domains", [_domain_view(_settings(request))])


@router.get("/v3/domains/{domain_id}")
@keystone_errors
def show_domain(request: Request, domain_id: str) -> Response:
    _caller(request)
    if domain_id != DEFAULT_DOMAIN_ID:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return JSONBody({"domain": _domain_view(_settings(request))})
