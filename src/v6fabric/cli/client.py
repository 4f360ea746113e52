"""A small synchronous client for the v6fabric API: Keystone v3 password auth, then Neutron v2.0.

It talks HTTP only (an import-linter contract forbids importing the server packages), so the CLI,
the gap analysis and any script see exactly what an OpenStack client would see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from v6fabric.cli.credentials import Credentials, identity_v3_url
from v6fabric.cli.errors import ApiError

Resource = dict[str, Any]
Resources = list[Resource]
FilterValue = str | int | bool | Sequence[str]

# Plural (URL) -> singular (body key), where dropping the trailing "s" is wrong.
_SINGULAR = {"policies": "policy", "quotas": "quota"}


def collection_key(plural: str) -> str:
    """The body key of a list: URLs say security-groups, bodies security_groups."""
    return plural.replace("-", "_")


def singular(plural: str) -> str:
    """The body key Neutron wraps one resource in: networks -> network."""
    key = collection_key(plural)
    return _SINGULAR.get(key, key[:-1] if key.endswith("s") else key)


@dataclass
class Session:
    """What one token gave us: the token itself and where the network service lives."""

    token: str
    network_url: str  # without /v2.0
    body: Resource = field(default_factory=dict)

    @property
    def project_id(self) -> str | None:
        return (self.body.get("project") or {}).get("id")

    @property
    def project_name(self) -> str | None:
        return (self.body.get("project") or {}).get("name")


def _error_from(response: httpx.Response) -> ApiError:
    """Neutron's and Keystone's error bodies (or anything else) -> ApiError."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(neutron := body.get("NeutronError"), dict):
            return ApiError(status, str(neutron.get("type", "")), str(neutron.get("message", "")))
        if isinstance(keystone := body.get("error"), dict):
            title = str(keystone.get("title", "")).replace(" ", "")
            return ApiError(status, title, str(keystone.get("message", "")))
        if isinstance(detail := body.get("detail"), str):
            return ApiError(status, response.reason_phrase.replace(" ", ""), detail)
    text = response.text.strip()[:200] or response.reason_phrase
    return ApiError(status, response.reason_phrase.replace(" ", ""), text)


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


class FabricClient:
    """Neutron v2.0 resources over HTTP, authenticated lazily on the first call.

    `transport` is the test seam: pass an `httpx.MockTransport` to answer requests in-process.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.credentials = credentials
        self.identity_url = identity_v3_url(credentials.auth_url)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "v6fabric-cli"},
        )
        self._session: Session | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> FabricClient:
        return cls(Credentials.from_env(environ), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FabricClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"X-Auth-Token": token} if token else {}
        try:
            response = self._http.request(
                method, url, json=body, params=params or None, headers=headers
            )
        except httpx.ConnectError as exc:
            raise ApiError(
                0,
                "ConnectionError",
                f"The API is not reachable at {_origin(httpx.URL(url))}: {exc}. "
                "Is the server running (`v6fabric up`)?",
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiError(0, "Timeout", f"No answer from {_origin(httpx.URL(url))}") from exc
        except httpx.HTTPError as exc:
            raise ApiError(0, type(exc).__name__, f"Request to {url} failed: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                response.status_code, "InvalidResponse", f"Not JSON: {response.text[:200]!r}"
            ) from exc

    # --- identity ----------------------------------------------------------------------------

    def authenticate(self) -> Session:
        """POST /v3/auth/tokens (password, project scope) and find the network endpoint."""
        creds = self.credentials
        auth = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": creds.username,
                            "domain": {"name": creds.user_domain_name},
                            "password": creds.password,
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": creds.project_name,
                        "domain": {"name": creds.project_domain_name},
                    }
                },
            }
        }
        response = self._send("POST", f"{self.identity_url}/auth/tokens", body=auth)
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise ApiError(response.status_code, "InvalidResponse", "No X-Subject-Token header")
        body = (self._json(response) or {}).get("token") or {}
        url = self._network_endpoint(body.get("catalog") or [])
        self._session = Session(token=token, network_url=url, body=body)
        return self._session

    def _network_endpoint(self, catalog: Sequence[Resource]) -> str:
        interface, region = self.credentials.interface, self.credentials.region_name
        for service in catalog:
            if service.get("type") != "network":
                continue
            for endpoint in service.get("endpoints") or []:
                if endpoint.get("interface") != interface:
                    continue
                if region and region not in (endpoint.get("region"), endpoint.get("region_id")):
                    continue
                url = str(endpoint["url"]).rstrip("/")
                return url.removesuffix("/v2.0")
        raise ApiError(
            0,
            "EndpointNotFound",
            f"No network endpoint (interface {interface}, region {region or 'any'}) "
            "in the service catalog",
        )

    @property
    def session(self) -> Session:
        return self._session or self.authenticate()

    def identity_request(self, method: str, path: str, body: Any = None) -> Any:
        """A call under the identity v3 root (`/projects`, `/users`) with our token."""
        token = self.session.token
        response = self._send(method, f"{self.identity_url}{path}", body=body, token=token)
        return None if response.status_code == 204 or not response.content else self._json(response)

    # --- network service ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """A call relative to the network endpoint (`/v2.0/networks`, `/fabric/v1/hosts`)."""
        session = self.session
        url = path if path.startswith(("http://", "https://")) else f"{session.network_url}{path}"
        response = self._send(method, url, body=body, params=params, token=session.token)
        return None if response.status_code == 204 or not response.content else self._json(response)

    def list(self, plural: str, **filters: FilterValue) -> Resources:
        """All resources matching the filters, following `<plural>_links` rel=next pages."""
        params = {key: _query_value(value) for key, value in filters.items() if value is not None}
        items: Resources = []
        url: str | None = f"/v2.0/{plural}"
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            page = self.request("GET", url, params=params or None) or {}
            items.extend(page.get(collection_key(plural)) or [])
            params = {}  # a next link carries its own query; httpx would replace it with ours
            url = next(
                (
                    link.get("href")
                    for link in page.get(f"{collection_key(plural)}_links") or []
                    if link.get("rel") == "next"
                ),
                None,
            )
        return items

    def show(self, plural: str, resource_id: str) -> Resource:
        return self.request("GET", f"/v2.0/{plural}/{resource_id}")[singular(plural)]

    def create(self, plural: str, attributes: Mapping[str, Any]) -> Resource:
        key = singular(plural)
        return self.request("POST", f"/v2.0/{plural}", {key: dict(attributes)})[key]

    def update(self, plural: str, resource_id: str, attributes: Mapping[str, Any]) -> Resource:
        key = singular(plural)
        return self.request("PUT", f"/v2.0/{plural}/{resource_id}", {key: dict(attributes)})[key]

    def delete(self, plural: str, resource_id: str) -> None:
        self.request("DELETE", f"/v2.0/{plural}/{resource_id}")

    def find(self, plural: str, name_or_id: str) -> Resource:
        """By ID first, then by name; a name must match exactly one resource."""
        try:
            return self.show(plural, name_or_id)
        except ApiError as exc:
            if exc.status not in (400, 404):
                raise
        matches = self.list(plural, name=name_or_id)
        what = singular(plural)
        if not matches:
            raise ApiError(404, "NotFound", f"No {what} with name or ID '{name_or_id}'")
        if len(matches) > 1:
            ids = ", ".join(str(m.get("id")) for m in matches)
            message = f"More than one {what} is named '{name_or_id}' ({ids}); use an ID"
            raise ApiError(0, "NoUniqueMatch", message)
        return matches[0]

    def find_id(self, plural: str, name_or_id: str) -> str:
        return str(self.find(plural, name_or_id)["id"])


def _query_value(value: FilterValue) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    return [str(v) for v in value]
