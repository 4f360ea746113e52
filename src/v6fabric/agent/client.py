"""The agent's side of ``/fabric/v1``: register, long-poll the host's state, report status.

Tokens come from the CLI's ``FabricClient`` (Keystone v3 password auth, one implementation);
the fabric calls go through our own ``httpx.Client`` because they need what ``FabricClient``
does not expose: request headers (``If-None-Match``), response headers (``ETag``), 304 answers,
and one re-authentication on 401 (an expired or revoked token).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from v6fabric.cli.client import ApiError, Credentials, FabricClient
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import HostState

log = logging.getLogger(__name__)


def plain_etag(etag: str) -> str:
    """``W/"abc"`` or ``"abc"`` -> ``abc`` (what the status report calls ``applied``)."""
    return etag.removeprefix("W/").strip('"')


class FabricStateClient:
    """HTTP client of one agent. ``credentials`` None: no authentication (a lab server that
    does not ask for it); ``transport`` is the test seam (``httpx.MockTransport``)."""

    def __init__(
        self,
        server_url: str,
        credentials: Credentials | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._auth = FabricClient(credentials, transport=transport) if credentials else None
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "v6fabric-agent"},
        )

    def close(self) -> None:
        self._http.close()
        if self._auth:
            self._auth.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        url = f"{self.server_url}{path}"
        for attempt in (1, 2):
            token = self._auth.session.token if self._auth else None
            all_headers = {**(headers or {}), **({"X-Auth-Token": token} if token else {})}
            try:
                response = self._http.request(
                    method,
                    url,
                    json=body,
                    headers=all_headers,
                    params=params,
                    timeout=timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.HTTPError as exc:
                raise ApiError(0, type(exc).__name__, f"{method} {url}: {exc}") from exc
            if response.status_code == 401 and self._auth and attempt == 1:
                log.info("token refused, authenticating again")
                self._auth.authenticate()
                continue
            if response.status_code >= 400:
                raise ApiError(
                    response.status_code, response.reason_phrase, response.text.strip()[:300]
                )
            return response
        raise AssertionError("unreachable")

    def register(self, host: str, roles: list[str], capabilities: dict[str, Any]) -> None:
        body = {"roles": roles, "capabilities": capabilities}
        self._send("PUT", f"/fabric/v1/hosts/{host}", body=body)

    def get_state(
        self, host: str, etag: str | None, *, wait: float = 30
    ) -> tuple[HostState, str] | None:
        """The host's state and its ETag, or None when unchanged after ``wait`` seconds."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send(
            "GET",
            f"/fabric/v1/hosts/{host}/state",
            headers=headers,
            params={"wait": int(wait)},
            timeout=wait + 15,
        )
        if response.status_code == 304:
            return None
        state = codec.decode(response.content)
        return state, response.headers.get("ETag") or codec.content_hash(state)

    def put_status(
        self, host: str, applied: str, ports: dict[str, str], workloads: dict[str, str]
    ) -> None:
        body = {"applied": plain_etag(applied), "ports": ports, "workloads": workloads}
        self._send("PUT", f"/fabric/v1/hosts/{host}/status", body=body)
