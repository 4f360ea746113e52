"""Fetching instance metadata as a cloud image does at boot: OpenStack paths over HTTP.

The IPv6 service is ``fe80::a9fe:a9fe`` on every network: a link-local address, so the request
names the interface (zone id). ``http.client`` passes ``fe80::a9fe:a9fe%eth0`` to
``getaddrinfo``, which puts the interface's index into the sockaddr's scope id; the ``Host``
header carries the address without the zone, as curl sends it. The service and the guest's own
link-local address appear within seconds of plugging, so :func:`fetch` retries with a short
back-off until a deadline, trying the endpoints in order each round (eth0 first).
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

METADATA_IPV6 = "fe80::a9fe:a9fe"
METADATA_IPV4 = "169.254.169.254"
OPENSTACK_PATH = "/openstack/latest/"
META_DATA = "meta_data.json"
NETWORK_DATA = "network_data.json"
USER_DATA = "user_data"
FILES = (META_DATA, NETWORK_DATA, USER_DATA)
REQUEST_TIMEOUT = 2.0  # seconds per request: the service is one hop away
MAX_BACKOFF = 2.0


class FetchError(Exception):
    """A fetch that did not give a usable answer (the message names the URL)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the service is asked: an address literal (an IPv6 link-local one with ``%zone``)."""

    host: str
    port: int = 80

    @classmethod
    def ipv6(cls, ifname: str) -> Endpoint:
        return cls(f"{METADATA_IPV6}%{ifname}")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}" + ("" if self.port == 80 else f":{self.port}")

    @property
    def host_header(self) -> str:
        bare = self.host.split("%", 1)[0]
        host = f"[{bare}]" if ":" in bare else bare
        return host + ("" if self.port == 80 else f":{self.port}")


@dataclass
class Fetched:
    """What one endpoint answered: the body of each file, None where it said 404."""

    endpoint: Endpoint
    files: dict[str, bytes | None] = field(default_factory=dict)

    @property
    def meta_data(self) -> dict:
        return json.loads(self.files[META_DATA] or b"{}")

    @property
    def network_data(self) -> dict:
        return json.loads(self.files.get(NETWORK_DATA) or b"{}")


def get(endpoint: Endpoint, path: str, timeout: float = REQUEST_TIMEOUT) -> bytes | None:
    """The body of ``GET path``; None on 404; :class:`FetchError` on anything else."""
    url = endpoint.url + path
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": endpoint.host_header})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{url}: {exc!r}") from exc
    finally:
        conn.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise FetchError(f"{url}: HTTP {response.status} {response.reason}")
    return body


def fetch_from(endpoint: Endpoint, timeout: float = REQUEST_TIMEOUT) -> Fetched:
    """The three OpenStack files from one endpoint; meta_data.json must be there and be JSON
    (a 404 there means this is not the service), the others may be absent (404)."""
    fetched = Fetched(endpoint)
    for name in FILES:
        body = get(endpoint, OPENSTACK_PATH + name, timeout)
        if body is None and name == META_DATA:
            raise FetchError(f"{endpoint.url}{OPENSTACK_PATH}{name}: HTTP 404")
        if body is not None and name.endswith(".json"):
            try:
                if not isinstance(json.loads(body), dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                raise FetchError(f"{endpoint.url}{OPENSTACK_PATH}{name}: {exc}") from exc
        fetched.files[name] = body
    return fetched


@dataclass
class Attempts:
    """How a :func:`fetch` went: attempts made and the last error (for the status record)."""

    count: int = 0
    last_error: str | None = None


def fetch(
    endpoints: Callable[[], Sequence[Endpoint]],
    *,
    timeout: float = 30.0,
    request_timeout: float = REQUEST_TIMEOUT,
    attempts: Attempts | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """The first endpoint that answers, trying ``endpoints()`` (asked again each round: an IPv4
    fallback exists only once the interface has an IPv4 address) in order, round after round
    with a back-off of 0.25 s doubling to 2 s, for ``timeout`` seconds at most; then the last
    error is raised."""
    tries = attempts if attempts is not None else Attempts()
    deadline = clock() + timeout
    delay = 0.25
    while True:
        for endpoint in endpoints():
            tries.count += 1
            try:
                return fetch_from(endpoint, request_timeout)
            except FetchError as exc:
                tries.last_error = str(exc)
                log.debug("metadata: %s", exc)
        left = deadline - clock()
        if left <= 0:
            raise FetchError(tries.last_error or "no endpoint to ask")
        sleep(min(delay, left))
        delay = min(MAX_BACKOFF, delay * 2)
