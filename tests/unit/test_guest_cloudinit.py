"""The cloud-init-like step without root: the fetcher against a local HTTP server on ``::1``
(retries until the service answers, 404 user_data is "none"), the records it writes, the keys
file, and the status when nothing answers."""

from __future__ import annotations

import http.server
import json
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from v6fabric.workloads import cloudinit
from v6fabric.workloads.metadata_client import (
    Attempts,
    Endpoint,
    FetchError,
    fetch,
    fetch_from,
)
from v6fabric.workloads.network_config import Plan
from v6fabric.workloads.paths import WorkloadPaths

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkey0000000000000000000000000000000000000 alice@lab"
META = {"uuid": "wl-1", "name": "vm1", "hostname": "vm1", "public_keys": {"alice": KEY}}
NETWORK: dict[str, Any] = {"links": [], "networks": [], "services": []}


class Service(http.server.ThreadingHTTPServer):
    """A metadata service on [::1]: answers 503 to the first ``failures`` requests (a service
    still starting), then serves ``files`` (missing: 404), and counts requests."""

    address_family = socket.AF_INET6

    def __init__(self, files: dict[str, bytes], failures: int = 0) -> None:
        self.files = files
        self.failures = failures
        self.requests: list[tuple[str, str | None]] = []
        super().__init__(("::1", 0), Handler)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("::1", self.server_address[1])


class Handler(http.server.BaseHTTPRequestHandler):
    server: Service

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host")))
        if self.server.failures > 0:
            self.server.failures -= 1
            self.send_error(503)
            return
        body = self.server.files.get(self.path.removeprefix("/openstack/latest/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service() -> Iterator[Service]:
    server = Service(
        {"meta_data.json": json.dumps(META).encode(), "network_data.json": b'{"links": []}'}
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_urls() -> None:
    eth0 = Endpoint.ipv6("eth0")
    assert eth0.url == "http://[fe80::a9fe:a9fe%eth0]"
    assert eth0.host_header == "[fe80::a9fe:a9fe]"  # the zone never leaves the guest
    assert Endpoint("169.254.169.254").url == "http://169.254.169.254"
    assert Endpoint("::1", 8080).url == "http://[::1]:8080"


def test_fetch_from_a_service_without_user_data(service: Service) -> None:
    fetched = fetch_from(service.endpoint)
    assert fetched.meta_data == META
    assert fetched.files["user_data"] is None  # 404: no user data
    assert [path for path, _ in service.requests] == [
        "/openstack/latest/meta_data.json",
        "/openstack/latest/network_data.json",
        "/openstack/latest/user_data",
    ]
    assert service.requests[0][1] == f"[::1]:{service.endpoint.port}"


def test_fetch_retries_until_the_service_answers(service: Service) -> None:
    service.failures = 2
    attempts = Attempts()
    sleeps: list[float] = []
    fetched = fetch(lambda: [service.endpoint], timeout=30, attempts=attempts, sleep=sleeps.append)
    assert fetched.meta_data["uuid"] == "wl-1"
    assert attempts.count == 3 and "HTTP 503" in (attempts.last_error or "")
    assert sleeps == [0.25, 0.5]  # a short back-off, doubling


def test_fetch_tries_endpoints_in_order_and_gives_up_at_the_deadline(service: Service) -> None:
    dead = Endpoint("::1", _free_port())
    fetched = fetch(lambda: [dead, service.endpoint], timeout=5, sleep=lambda _: None)
    assert fetched.endpoint == service.endpoint
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    attempts = Attempts()
    with pytest.raises(FetchError, match=r"\[::1\]"):
        fetch(lambda: [dead], timeout=3, attempts=attempts, clock=clock, sleep=sleep)
    assert attempts.count == 5  # at 0, 0.25, 0.75, 1.75 s and a last one at the deadline (3 s)
    service.files.pop("meta_data.json")
    with pytest.raises(FetchError, match=r"meta_data\.json: HTTP 404"):
        fetch_from(service.endpoint)
    service.files["meta_data.json"] = b"[1]"  # JSON, but not what a metadata service says
    with pytest.raises(FetchError, match="not a JSON object"):
        fetch_from(service.endpoint)


def _free_port() -> int:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


class NoSysctls:
    def read(self, netns: str | None, keys: Any) -> dict[str, str]:
        return {}

    def write(self, netns: str | None, values: Any) -> None:
        raise AssertionError("nothing to write")


def test_run_step_records_keys_and_status(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.files["user_data"] = b"#cloud-config\n"
    applied: list[Plan] = []
    monkeypatch.setattr(cloudinit, "read_interfaces", lambda: {})
    monkeypatch.setattr(cloudinit.network_config, "apply", lambda plan, _s: applied.append(plan))
    paths = WorkloadPaths(tmp_path / "wl")
    status = cloudinit.run_step(
        paths, ["eth0"], endpoints=lambda: [service.endpoint], sysctls=NoSysctls()
    )
    assert status["ok"] and "error" not in status
    assert json.loads(paths.cloudinit_status.read_text()) == status
    assert status["source"] == service.endpoint.url
    assert status["urls"]["user_data"] == f"{service.endpoint.url}/openstack/latest/user_data"
    assert status["instance"] == {"uuid": "wl-1", "name": "vm1", "hostname": "vm1"}
    assert status["ssh_keys"] == 1 and status["attempts"] == 1
    assert status["network"] == {"applied": [], "skipped": []} and applied == [Plan()]
    assert json.loads(paths.metadata_file("meta_data.json").read_text()) == META
    assert paths.metadata_file("user_data").read_bytes() == b"#cloud-config\n"
    assert paths.authorized_keys.read_text() == KEY + "\n"
    assert stat.S_IMODE(paths.authorized_keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.authorized_keys.parent.stat().st_mode) == 0o700
    assert str(paths.authorized_keys).startswith(str(tmp_path))
    # The service drops user_data: the record follows (a 404 is "none", not "keep the old").
    service.files.pop("user_data")
    again = cloudinit.run_step(
        paths, ["eth0"], endpoints=lambda: [service.endpoint], sysctls=NoSysctls()
    )
    assert again["files"]["user_data"] == "none (404)"
    assert not paths.metadata_file("user_data").exists()


def test_run_step_records_the_last_error(tmp_path: Path) -> None:
    paths = WorkloadPaths(tmp_path / "wl")
    dead = Endpoint("::1", _free_port())
    status = cloudinit.run_step(paths, ["eth0"], timeout=0.0, endpoints=lambda: [dead])
    assert not status["ok"] and status["attempts"] == 1
    assert status["error"].startswith(f"{dead.url}/openstack/latest/meta_data.json")
    assert json.loads(paths.cloudinit_status.read_text())["error"] == status["error"]
    assert not paths.authorized_keys.exists()


def test_authorized_keys_text() -> None:
    meta = {
        "public_keys": {"a": KEY, "b": "ssh-rsa AAAAB3 bob"},
        "keys": [
            {"name": "a", "type": "ssh", "data": KEY + "\n"},  # the same key again
            {"name": "c", "type": "x509", "data": "-----BEGIN CERTIFICATE-----"},
        ],
    }
    assert cloudinit.authorized_keys(meta) == f"{KEY}\nssh-rsa AAAAB3 bob\n"
    assert cloudinit.authorized_keys({"uuid": "x"}) == ""
