"""The metadata proxy over real HTTP on loopback (no root): listeners come from an injected
factory (one ``::1`` socket per listener, standing in for a namespace), the neighbour table
from an injected lookup (a MAC per namespace)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.unit.metadata_cases import MAC_A, MAC_B, instance_a, two_networks
from v6fabric.hoststate.metadata import MetadataListener, MetadataSpec
from v6fabric.metadata.config import Backend, ProxyConfig
from v6fabric.metadata.identify import index_ports
from v6fabric.metadata.server import MetadataProxy
from v6fabric.metadata.sockets import BoundListener

T = TypeVar("T")
META = "/openstack/latest/meta_data.json"


class LoopbackListeners:
    """A ``ListenerFactory``: each listener gets an IPv6 (and for ``ipv4`` an IPv4) loopback
    socket on a free port; namespaces in ``missing`` fail as a namespace not created yet."""

    def __init__(self) -> None:
        self.ports: dict[tuple[MetadataListener, int], int] = {}
        self.missing: set[str] = set()

    def __call__(self, listener: MetadataListener) -> BoundListener:
        if listener.namespace in self.missing:
            raise FileNotFoundError(f"/run/netns/{listener.namespace}")
        made = []
        for family, host in [(socket.AF_INET6, "::1")] + (
            [(socket.AF_INET, "127.0.0.1")] if listener.ipv4 else []
        ):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sock.listen(64)
            sock.setblocking(False)
            self.ports[(listener, family)] = sock.getsockname()[1]
            made.append(sock)
        return BoundListener(listener, 1, tuple(made))


class Neighbours:
    """A ``NeighbourLookup``: the MAC each namespace sees for every peer; counts lookups."""

    def __init__(self, macs: dict[str, str]) -> None:
        self.macs = macs
        self.lookups = 0

    def mac(self, namespace: str, ifindex: int, address: str) -> str | None:
        self.lookups += 1
        return self.macs.get(namespace)

    def forget(self, namespace: str) -> None:
        pass


class Harness:
    """A proxy on its own event loop thread, and HTTP helpers to reach its listeners."""

    def __init__(self, *, idle_timeout: float = 5.0, neighbour_ttl: float = 0.0) -> None:
        self.factory = LoopbackListeners()
        self.neighbours = Neighbours({"ns-a": MAC_A, "ns-b": MAC_B})
        self.stale: set[str] = set()  # namespaces "made anew" since their listener opened
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = self.call(self._make(idle_timeout, neighbour_ttl))

    async def _make(self, idle_timeout: float, neighbour_ttl: float) -> MetadataProxy:
        return MetadataProxy(
            self.neighbours,
            listener_factory=self.factory,
            listener_check=lambda bound: bound.listener.namespace not in self.stale,
            idle_timeout=idle_timeout,
            neighbour_ttl=neighbour_ttl,
            backend_timeout=2.0,
        )

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def reload(self, spec: MetadataSpec, backend: Backend | None = None) -> None:
        self.call(self.proxy.reload(ProxyConfig(spec, backend)))

    def port(self, namespace: str, family: int = socket.AF_INET6) -> int:
        (listener,) = [x for x in self.proxy.listening if x.namespace == namespace]
        return self.factory.ports[(listener, family)]

    def connect(self, namespace: str, family: int = socket.AF_INET6) -> http.client.HTTPConnection:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        return http.client.HTTPConnection(host, self.port(namespace, family), timeout=5)

    def get(self, namespace: str, path: str, method: str = "GET") -> tuple[int, str, bytes]:
        conn = self.connect(namespace)
        try:
            conn.request(method, path)
            reply = conn.getresponse()
            return reply.status, reply.getheader("Content-Type", ""), reply.read()
        finally:
            conn.close()

    def raw(self, namespace: str, data: bytes) -> bytes:
        with socket.create_connection(("::1", self.port(namespace)), timeout=5) as sock:
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    def close(self) -> None:
        self.call(self.proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    made.reload(two_networks())
    try:
        yield made
    finally:
        made.close()


def test_each_instance_gets_its_own_meta_data(harness: Harness) -> None:
    status, content_type, body = harness.get("ns-a", META)
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["uuid"] == "dev-a"
    status, _, body = harness.get("ns-b", META)
    assert status == 200
    data = json.loads(body)
    assert (data["uuid"], data["name"]) == ("dev-b", "bravo")
    for path in (META, "/latest/meta-data/public-keys/0/openssh-key", "/latest/user-data"):
        assert b"alpha" not in harness.get("ns-b", path)[2]
        assert b"alice" not in harness.get("ns-b", path)[2]


def test_ipv4_listener(harness: Harness) -> None:
    conn = harness.connect("ns-a", socket.AF_INET)
    conn.request("GET", "/latest/meta-data/instance-id")
    assert conn.getresponse().read() == b"dev-a"
    conn.close()


def test_an_unknown_mac_or_source_gets_404(harness: Harness) -> None:
    harness.neighbours.macs["ns-a"] = "fa:16:3e:99:99:99"
    status, content_type, body = harness.get("ns-a", META)
    assert (status, content_type) == (404, "text/plain; charset=utf-8")
    assert b"not a known port" in body
    del harness.neighbours.macs["ns-a"]  # no neighbour entry: fail closed
    assert harness.get("ns-a", META)[0] == 404
    harness.neighbours.macs["ns-a"] = MAC_A
    harness.reload(two_networks(source="fe80::1"))  # the loopback peer is no port's address
    assert harness.get("ns-a", META)[0] == 404


def test_a_port_without_instance_is_404(harness: Harness) -> None:
    harness.reload(two_networks().replaced(instances=()))
    assert harness.get("ns-a", META)[0] == 404


def test_a_reload_patches_the_tables_to_what_a_full_index_gives(harness: Harness) -> None:
    """Only changed buckets are re-indexed; the result is the whole config's index."""
    base = two_networks()
    shared = replace(base.ports[1], port_id="port-c", mac="fa:16:3e:00:00:0c")  # port-b's address
    steps = [
        base.replaced(ports=(*base.ports, shared)),
        base.replaced(ports=base.ports[:1], instances=base.instances[1:]),
        base.replaced(ports=(), instances=()),
        base,
    ]
    for spec in steps:
        harness.reload(spec)
        tables = harness.proxy.tables
        full = index_ports(spec).by_address
        assert {k: set(v) for k, v in tables.ports.by_address.items()} == {
            k: set(v) for k, v in full.items()
        }
        assert {k: v.instance for k, v in tables.instances.items()} == {
            i.instance_id: i for i in spec.instances
        }


def test_keep_alive_serves_several_requests_with_one_lookup(harness: Harness) -> None:
    conn = harness.connect("ns-a")
    before = harness.neighbours.lookups
    for path in (META, "/openstack/latest/user_data", "/latest/meta-data/hostname"):
        conn.request("GET", path)
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.getheader("Connection") is None
        reply.read()
    sock = conn.sock
    conn.request("GET", "/latest/meta-data/instance-id")
    assert conn.getresponse().read() == b"dev-a"
    assert conn.sock is sock  # the same connection throughout
    assert harness.neighbours.lookups - before == 1
    conn.close()


def test_every_connection_asks_the_kernel_unless_a_ttl_is_set(harness: Harness) -> None:
    before = harness.neighbours.lookups
    for _ in range(3):
        assert harness.get("ns-a", META)[0] == 200
    assert harness.neighbours.lookups - before == 3
    cached = Harness(neighbour_ttl=60)
    try:
        cached.reload(two_networks())
        for _ in range(3):
            assert cached.get("ns-a", META)[0] == 200
        assert cached.neighbours.lookups == 1
    finally:
        cached.close()


def test_http_1_0_and_connection_close_end_the_connection(harness: Harness) -> None:
    reply = harness.raw("ns-a", b"GET /latest/meta-data/hostname HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\nalpha")
    reply = harness.raw("ns-a", b"GET /latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Connection: close" in reply


def test_head_has_the_headers_and_no_body(harness: Harness) -> None:
    body = harness.get("ns-a", META)[2]
    conn = harness.connect("ns-a")
    conn.request("HEAD", META)
    reply = conn.getresponse()
    assert reply.status == 200
    assert reply.getheader("Content-Length") == str(len(body))
    assert reply.read() == b""
    conn.request("GET", "/latest/meta-data/hostname")  # the connection is still usable
    assert conn.getresponse().read() == b"alpha"
    conn.close()


def test_other_methods_are_405(harness: Harness) -> None:
    for method in ("POST", "PUT", "DELETE"):
        conn = harness.connect("ns-a")
        conn.request(method, META, body=b"x")
        reply = conn.getresponse()
        assert reply.status == 405
        assert reply.getheader("Allow") == "GET, HEAD"
        conn.close()


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET no-slash HTTP/1.1\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        "GET /\u00e9 HTTP/1.1\r\n\r\n".encode(),
    ],
)
def test_malformed_requests_are_400_and_closed(harness: Harness, data: bytes) -> None:
    reply = harness.raw("ns-a", data)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in reply


def test_a_request_head_over_8_kib_is_refused(harness: Harness) -> None:
    reply = harness.raw("ns-a", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_idle_connections_are_closed() -> None:
    made = Harness(idle_timeout=0.3)
    try:
        made.reload(two_networks())
        with socket.create_connection(("::1", made.port("ns-a")), timeout=5) as sock:
            started = time.monotonic()
            assert sock.recv(10) == b""  # closed by the server, no request sent
            assert 0.2 < time.monotonic() - started < 3
    finally:
        made.close()


def test_reload_opens_new_listeners_closes_gone_ones_and_swaps_data(harness: Harness) -> None:
    old_b = harness.port("ns-b")
    assert json.loads(harness.get("ns-a", META)[2])["name"] == "alpha"  # served, then renamed
    spec = two_networks()
    renamed = replace(spec.instances[0], name="alpha-2")
    new = spec.replaced(
        listeners=(spec.listeners[0], MetadataListener("ns-c", "ns-cccc", "net-b")),
        instances=(renamed, spec.instances[1]),
    )
    harness.neighbours.macs["ns-c"] = MAC_B
    harness.reload(new)
    assert {x.namespace for x in harness.proxy.listening} == {"ns-a", "ns-c"}
    assert json.loads(harness.get("ns-a", META)[2])["name"] == "alpha-2"
    assert json.loads(harness.get("ns-c", META)[2])["uuid"] == "dev-b"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", old_b), timeout=2).close()


def test_listeners_that_cannot_open_yet_are_retried(harness: Harness) -> None:
    harness.factory.missing.add("ns-d")
    spec = two_networks()
    more = spec.replaced(listeners=(*spec.listeners, MetadataListener("ns-d", "ns-dddd", "net-a")))
    harness.reload(more)
    assert {x.namespace for x in harness.proxy.pending} == {"ns-d"}
    assert harness.get("ns-a", META)[0] == 200  # the others serve meanwhile
    harness.factory.missing.clear()
    harness.neighbours.macs["ns-d"] = MAC_A
    harness.call(harness.proxy.retry_pending())
    assert not harness.proxy.pending
    assert json.loads(harness.get("ns-d", META)[2])["uuid"] == "dev-a"


def test_refresh_reopens_listeners_whose_namespace_was_made_anew(harness: Harness) -> None:
    old_a, old_b = harness.port("ns-a"), harness.port("ns-b")
    harness.call(harness.proxy.refresh())
    assert (harness.port("ns-a"), harness.port("ns-b")) == (old_a, old_b)  # nothing stale
    harness.stale.add("ns-a")
    harness.call(harness.proxy.refresh())
    harness.stale.clear()
    assert harness.port("ns-a") != old_a and harness.port("ns-b") == old_b
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", old_a), timeout=2).close()
    assert json.loads(harness.get("ns-a", META)[2])["uuid"] == "dev-a"


def test_unidentified_requests_are_logged_once_a_minute(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.neighbours.macs["ns-a"] = "fa:16:3e:99:99:99"
    with caplog.at_level("WARNING", logger="v6fabric.metadata.server"):
        for _ in range(5):
            assert harness.get("ns-a", META)[0] == 404
    lines = [r for r in caplog.records if "unidentified" in r.getMessage()]
    assert len(lines) == 1
    assert "fa:16:3e:99:99:99" in lines[0].getMessage()


# --- proxy mode ----------------------------------------------------------------------------


class NovaLikeBackend:
    """A Nova-like metadata API in a thread: it answers only requests whose instance id is
    signed with its own secret (403 otherwise, as Nova does), and records what it saw."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.seen: list[dict[str, str]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                backend.seen.append({"path": self.path, **headers})
                instance = headers.get("x-instance-id", "")
                wanted = hmac.new(backend.secret, instance.encode(), hashlib.sha256).hexdigest()
                if not hmac.compare_digest(wanted, headers.get("x-instance-id-signature", "")):
                    body, status, kind = b"Invalid proxy request signature.", 403, "text/plain"
                else:
                    body = json.dumps({"uuid": instance, "path": self.path}).encode()
                    status, kind = 200, "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nova() -> Iterator[NovaLikeBackend]:
    backend = NovaLikeBackend(b"right-secret")
    try:
        yield backend
    finally:
        backend.close()


def _secret(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"secret-{text}"
    path.write_text(text + "\n")
    return str(path)


def test_proxy_mode_sends_the_instance_id_signed(
    harness: Harness, nova: NovaLikeBackend, tmp_path: Path
) -> None:
    harness.reload(two_networks(), Backend(nova.url, _secret(tmp_path, "right-secret")))
    status, content_type, body = harness.get("ns-b", "/openstack/latest/meta_data.json?x=1")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"uuid": "dev-b", "path": "/openstack/latest/meta_data.json?x=1"}
    seen = nova.seen[-1]
    assert seen["x-instance-id"] == "dev-b"
    assert seen["x-tenant-id"] == "proj-b"
    assert seen["x-forwarded-for"] == "::1"
    expected = hmac.new(b"right-secret", b"dev-b", hashlib.sha256).hexdigest()
    assert seen["x-instance-id-signature"] == expected


def test_proxy_mode_with_a_wrong_secret_is_refused_by_the_backend(
    harness: Harness, nova: NovaLikeBackend, tmp_path: Path
) -> None:
    harness.reload(two_networks(), Backend(nova.url, _secret(tmp_path, "wrong-secret")))
    status, _, body = harness.get("ns-a", META)
    assert (status, body) == (403, b"Invalid proxy request signature.")
    assert nova.seen[-1]["x-instance-id"] == "dev-a"


def test_proxy_mode_never_forwards_an_unidentified_request(
    harness: Harness, nova: NovaLikeBackend, tmp_path: Path
) -> None:
    harness.reload(two_networks(), Backend(nova.url, _secret(tmp_path, "right-secret")))
    harness.neighbours.macs["ns-a"] = MAC_B
    assert harness.get("ns-a", META)[0] == 404
    assert nova.seen == []


def test_proxy_mode_backend_down_is_502(harness: Harness, tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"  # nothing listens there
    harness.reload(two_networks(), Backend(url, _secret(tmp_path, "s")))
    status, content_type, body = harness.get("ns-a", META)
    assert (status, content_type) == (502, "text/plain; charset=utf-8")
    assert body.startswith(b"502 Bad Gateway")


def test_back_to_local_mode(harness: Harness, nova: NovaLikeBackend, tmp_path: Path) -> None:
    harness.reload(two_networks(), Backend(nova.url, _secret(tmp_path, "right-secret")))
    harness.reload(two_networks().replaced(instances=(instance_a(name="local"),)))
    assert json.loads(harness.get("ns-a", META)[2])["name"] == "local"
