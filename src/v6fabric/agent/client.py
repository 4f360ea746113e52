"""The agent's side of ``/fabric/v1``: register, long-poll the host's state, report status.

Tokens come from the CLI's ``FabricClient`` (Keystone v3 password auth, one implementation);
the fabric calls go through our own ``httpx.Client`` because they need what ``FabricClient``
does not expose: request headers (``If-None-Match``), response headers (``ETag``), 304 answers,
and one re-authentication on 401 (an expired or revoked token).

The client keeps the last state it returned and asks for changes to it as deltas (see
``api/fabric/routes.py``): a change of one member of a group of 100,000 is then one bucket to
decode, and every other part of the new state is the old state's own object.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from v6fabric.cli.client import FabricClient
from v6fabric.cli.credentials import Credentials
from v6fabric.cli.errors import ApiError
from v6fabric.hoststate import codec, sections
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import Sections

log = logging.getLogger(__name__)
DELTA_ACCEPT = f"{codec.DELTA_MEDIA_TYPE}, application/json"


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
        self._held: tuple[HostState, str] | None = None  # the last state returned, its ETag
        self._sections: Sections | None = None  # of the held state, once a delta needed them

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
        """The host's state and its ETag, or None when unchanged after ``wait`` seconds.

        When ``etag`` is that of the state returned last, the answer may be a delta to it; a
        delta that does not apply (another base, a bad document, a wrong hash) costs one more
        request, for the whole state."""
        held = self._held if etag and self._held and self._held[1] == etag else None
        headers = {"If-None-Match": etag} if etag else {}
        if held:
            headers["Accept"] = DELTA_ACCEPT
        path = f"/fabric/v1/hosts/{host}/state"
        response = self._send(
            "GET", path, headers=headers, params={"wait": int(wait)}, timeout=wait + 15
        )
        if response.status_code == 304:
            return None
        known, self._sections = self._sections, None
        if response.headers.get("Content-Type", "").startswith(codec.DELTA_MEDIA_TYPE):
            applied = _applied(held, response.content, known)
            if applied is None:
                response = self._send("GET", path, params={"wait": 0})
                state = codec.decode(response.content)
            else:
                state, self._sections = applied
        else:
            state = codec.decode(response.content)
        self._held = state, response.headers.get("ETag") or codec.content_hash(state)
        return self._held

    def put_status(
        self,
        host: str,
        applied: str,
        ports: dict[str, str],
        workloads: dict[str, str],
        routers: dict[str, str] | None = None,
    ) -> None:
        """``ports`` and ``workloads``: every one of the host's, or only what changed since
        the last report the server took (``status_changes``); the server accepts both.
        ``routers``: the HA router instances' VRRP states here ("active" | "standby"), all of
        them, sent only when the host has some (a server without HA knows no such key)."""
        body: dict[str, object] = {
            "applied": plain_etag(applied),
            "ports": ports,
            "workloads": workloads,
        }
        if routers:
            body["routers"] = routers
        self._send("PUT", f"/fabric/v1/hosts/{host}/status", body=body)


Statuses = Mapping[str, str]


def status_changes(
    ports: Statuses,
    workloads: Statuses,
    state: HostState | None,
    last: tuple[Statuses, Statuses] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """What a status report must carry after ``last``, the ports' and workloads' statuses the
    server took last (None: it may know none; all of them): those that differ or are new, and
    every port of a workload new since then. The server sets a port DOWN when its workload
    goes; bound to the next workload on this host before our next report, the port would
    otherwise never be reported ACTIVE again. At 150 workloads this is one port and one
    workload in place of 300 entries to parse and look up."""
    if last is None:
        return dict(ports), dict(workloads)
    old_ports, old_workloads = last
    moved = {
        interface.port_id
        for workload in (state.workloads if state is not None else ())
        if workload.workload_id not in old_workloads
        for interface in workload.interfaces
    }
    return (
        {p: s for p, s in ports.items() if old_ports.get(p) != s or p in moved},
        {w: s for w, s in workloads.items() if old_workloads.get(w) != s},
    )


def _applied(
    held: tuple[HostState, str] | None, raw: bytes, known: Sections | None = None
) -> tuple[HostState, Sections] | None:
    """``held``'s state with the delta ``raw`` and the new state's sections, or None if the
    delta does not fit it. ``known``: the held state's sections (kept from the last delta), so
    that only the changed sections are hashed: the agent's memo is too small to hold megabytes
    of metadata, and re-encoding what it dropped was most of a delta's cost."""
    try:
        if held is None:
            raise ValueError("no state to apply it to")
        delta = codec.decode_delta(raw)
        if delta.base != plain_etag(held[1]):
            raise ValueError(f"it is based on {delta.base}, not on {plain_etag(held[1])}")
        state = sections.apply(held[0], delta)
        if known is not None and known.content_hash != delta.base:
            known = None  # not the held state's
        cut = Sections.of(state, known)
        if cut.content_hash != delta.etag:
            raise ValueError(f"the result does not hash to {delta.etag}")
    except ValueError as exc:
        log.warning("state delta not applied, fetching the whole state: %s", exc)
        return None
    return state, cut
