"""Request dependencies: the caller's identity from ``X-Auth-Token``."""

from __future__ import annotations

from fastapi import Request

from v6fabric.domain.errors import NotAuthenticated
from v6fabric.identity.context import RequestContext


async def caller(request: Request) -> RequestContext:
    """Async on purpose: a cached token costs a dict lookup, not a thread hop."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise NotAuthenticated()
    return request.app.state.identity.validate_token(token)
