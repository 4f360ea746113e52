"""The real drivers' pure parts (``ip`` lines, ``ip -json`` parsing, batch error mapping), files
and processes on this machine (no root needed), and the agent's HTTP loop against a mock."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.unit.test_reconcile import HOST_NS, RUN_DIR, STAND_IN
from tests.unit.test_reconcile_cases import lab_state
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.cli.credentials import Credentials
from v6fabric.drivers import iproute
from v6fabric.drivers.files import LocalFiles
from v6fabric.drivers.netlink import (
    AddAddress,
    AddBridge,
    AddVeth,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    ReplaceRoute,
    Route,
    SetBridgeOptions,
    SetLink,
)
from v6fabric.drivers.processes import DaemonProcesses
from v6fabric.hoststate import codec


def test_ip_batch_lines() -> None:
    line = iproute._op_line
    assert line(AddBridge(None, "v6b-x", 1450)) == (
        "link add v6b-x mtu 1450 type bridge stp_state 0 forward_delay 0"
    )
    assert line(SetBridgeOptions(None, "v6b-x")).endswith("type bridge stp_state 0 forward_delay 0")
    assert line(AddVeth("v6h-a", "tapX", 1500, "qr-X", "v6r-r", "fa:16:3e:00:00:01")) == (
        "link add tapX mtu 1500 type veth peer name qr-X netns v6r-r"
        " address fa:16:3e:00:00:01 mtu 1500"
    )
    assert (
        line(SetLink(None, "tapX", master="v6b-x", up=True)) == "link set dev tapX master v6b-x up"
    )
    assert line(SetLink(None, "qr-X", mac="fa:16:3e:00:00:01", mtu=1400, up=False)) == (
        "link set dev qr-X address fa:16:3e:00:00:01 mtu 1400 down"
    )
    assert line(DeleteLink(None, "qr-X")) == "link del dev qr-X"
    assert (
        line(AddAddress(None, "qr-X", "2001:db8::1/64"))
        == "addr replace 2001:db8::1/64 dev qr-X nodad"
    )
    assert line(AddAddress(None, "qr-X", "10.0.0.1/24")) == "addr replace 10.0.0.1/24 dev qr-X"
    assert line(DeleteAddress(None, "qr-X", "10.0.0.1/24")) == "addr del 10.0.0.1/24 dev qr-X"
    assert (
        line(ReplaceRoute(None, Route("::/0", "2001:db8::fe")))
        == "route replace ::/0 via 2001:db8::fe proto 111"
    )
    assert (
        line(DeleteRoute(None, Route("10.9.0.0/16", None, "qr-X")))
        == "route del 10.9.0.0/16 dev qr-X proto 111"
    )


def test_batch_errors_map_to_their_lines() -> None:
    ops = [
        AddBridge(None, "a", 1500),
        DeleteLink(None, "gone"),
        SetLink(None, "b", up=True),
        DeleteLink(None, "c"),
    ]
    stderr = (
        "RTNETLINK answers: File exists\nCommand failed -:1\n"
        'Cannot find device "gone"\nCommand failed -:2\n'
        "RTNETLINK answers: Operation not permitted\nCommand failed -:4\n"
    )
    assert iproute.batch_results(ops, stderr, 1) == [
        "RTNETLINK answers: File exists",
        None,  # deleting what is gone is done
        None,
        "RTNETLINK answers: Operation not permitted",
    ]
    assert (
        iproute.batch_results(ops[:2], "Cannot open network namespace", 255)
        == ["Cannot open network namespace"] * 2
    )
    assert iproute.batch_results(
        ["netns add v6r-a"],
        'Cannot create namespace file "/run/netns/v6r-a": File exists\nCommand failed -:1\n',
        1,
    ) == [None]


ADDR_SHOW = [
    {
        "ifindex": 2,
        "ifname": "v6b-x",
        "flags": ["BROADCAST", "MULTICAST", "UP"],
        "mtu": 1450,
        "address": "02:1a:c3:6d:6f:59",
        "linkinfo": {"info_kind": "bridge", "info_data": {"forward_delay": 1500, "stp_state": 0}},
        "addr_info": [],
    },
    {
        "ifindex": 3,
        "link_index": 7,
        "link_netnsid": 0,
        "ifname": "qr-X",
        "flags": ["BROADCAST", "UP", "LOWER_UP"],
        "mtu": 1400,
        "address": "FA:16:3E:00:00:01",
        "master": "v6b-x",
        "linkinfo": {"info_kind": "veth"},
        "addr_info": [
            {
                "family": "inet6",
                "local": "2001:DB8::1",
                "prefixlen": 64,
                "scope": "global",
                "nodad": True,
            },
            {"family": "inet", "local": "10.0.0.1", "prefixlen": 24, "scope": "global"},
            {
                "family": "inet6",
                "local": "fe80::1",
                "prefixlen": 64,
                "scope": "link",
                "tentative": True,
            },
        ],
    },
]
ROUTES = [
    {"dst": "10.9.0.0/16", "gateway": "10.0.0.2", "dev": "qr-X", "flags": []},
    {"dst": "default", "gateway": "2001:db8::3", "dev": "qr-X", "metric": 1024, "pref": "medium"},
    {"dst": "default", "dev": "qr-X", "metric": 1024, "pref": "medium"},
    {"dst": "default", "dev": "qr-X"},
    {"dst": "2001:db8:5::/64", "dev": "qr-X", "table": "7", "pref": "medium"},
]


def test_ip_json_is_read_into_links_and_routes(monkeypatch) -> None:
    output = json.dumps(ADDR_SHOW) + "\n" + json.dumps(ROUTES) + "\n"

    def fake_run(argv, **kwargs):
        assert argv[:3] == ["ip", "-n", "v6r-a"] and "-batch" in argv
        return type("Done", (), {"stdout": output, "stderr": "", "returncode": 0})()

    monkeypatch.setattr(iproute, "run", fake_run)
    view = iproute.IpNetlink().read("v6r-a")
    bridge, port = view.links["v6b-x"], view.links["qr-X"]
    assert (bridge.kind, bridge.stp, bridge.forward_delay, bridge.up) == (
        "bridge",
        False,
        1500,
        True,
    )
    assert port.mac == "fa:16:3e:00:00:01" and port.master == "v6b-x" and port.peer_ifindex == 7
    assert port.addresses == ("10.0.0.1/24", "2001:db8::1/64", "fe80::1/64")
    assert not port.link_local_ready  # tentative
    assert set(view.routes) == {
        Route("10.9.0.0/16", "10.0.0.2", "qr-X"),
        Route("::/0", "2001:db8::3", "qr-X"),
        Route("::/0", None, "qr-X"),
        Route("0.0.0.0/0", None, "qr-X"),
    }


def test_files_are_written_atomically_and_only_on_change(tmp_path: Path) -> None:
    files = LocalFiles()
    path = tmp_path / "netns" / "v6d-a" / "dnsmasq.hosts"
    assert files.write(path, "one\n") is True
    mtime = path.stat().st_mtime_ns
    assert files.write(path, "one\n") is False and path.stat().st_mtime_ns == mtime
    assert files.write(path, "two\n") is True and files.read(path) == "two\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert files.listdir(path.parent) == ["dnsmasq.hosts"]  # no temporary file left
    files.remove(path)
    files.remove(path)
    files.remove_tree(tmp_path / "netns")
    assert not (tmp_path / "netns").exists()


DAEMON = """
import os, signal, sys, time
if os.fork():
    sys.exit(0)
os.setsid()
hups = []
signal.signal(signal.SIGHUP, lambda *a: open(sys.argv[2], "a").write("hup\\n"))
open(sys.argv[1], "w").write(f"{os.getpid()}\\n")
while True:
    time.sleep(0.05)
"""


def test_daemons_start_reload_and_stop_by_pid_file(tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    pid_file, log = tmp_path / "d.pid", tmp_path / "d.log"
    processes = DaemonProcesses()
    pid = processes.start(
        [sys.executable, str(script), str(pid_file), str(log)],
        netns=None,
        pid_file=pid_file,
        log_file=log,
    )
    try:
        assert processes.pid(pid_file) == pid != os.getpid()
        processes.signal(pid_file, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while (
            "hup" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert "hup" in log.read_text()
    finally:
        processes.stop(pid_file)
    assert processes.pid(pid_file) is None and not pid_file.exists()


class FakeServer:
    """Keystone + /fabric/v1 as the agent sees them."""

    def __init__(self, state_body: bytes, etag: str, stop: threading.Event) -> None:
        self.state_body, self.etag, self.stop = state_body, etag, stop
        self.requests: list[httpx.Request] = []
        self.tokens = 0
        self.state_gets = 0
        self.statuses: list[dict] = []
        self.expired = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v3/auth/tokens":
            self.tokens += 1
            catalog = [
                {
                    "type": "network",
                    "endpoints": [{"interface": "public", "url": "http://fabric.test"}],
                }
            ]
            return httpx.Response(
                201,
                headers={"X-Subject-Token": f"t{self.tokens}"},
                json={"token": {"catalog": catalog}},
            )
        if path.endswith("/state") and self.state_gets == 2 and not self.expired:
            self.expired = True
            self.tokens += 1  # the server forgets our token: the agent must re-authenticate
        if request.headers.get("X-Auth-Token") != f"t{self.tokens}":
            return httpx.Response(401, json={"error": {"message": "expired"}})
        if path == "/fabric/v1/hosts/h1" and request.method == "PUT":
            return httpx.Response(200, json={"host": {}})
        if path == "/fabric/v1/hosts/h1/state":
            self.state_gets += 1
            if self.state_gets == 1:
                return httpx.Response(503, json={"detail": "starting"})
            if request.headers.get("If-None-Match") == self.etag:
                time.sleep(0.01)  # the long-poll's wait: nothing changed
                return httpx.Response(304)
            return httpx.Response(200, content=self.state_body, headers={"ETag": self.etag})
        if path == "/fabric/v1/hosts/h1/status":
            self.statuses.append(json.loads(request.content))
            return httpx.Response(204)
        return httpx.Response(404)


def test_the_agent_loop_registers_fetches_applies_and_reports() -> None:
    fake = fake_drivers(HOST_NS)
    fake.kernel.add_namespaces(["v6r-left-over"])  # ours, but no state has said so yet
    fake.files.write(RUN_DIR / "claims" / "netns" / "v6r-left-over", "")
    state = lab_state()
    stop = threading.Event()
    server = FakeServer(codec.encode(state), f'"{codec.content_hash(state)}"', stop)
    creds = Credentials("http://fabric.test/v3", "agent", "secret", "service")
    agent = Agent(
        "h1",
        "http://fabric.test",
        creds,
        HOST_NS,
        RUN_DIR,
        drivers=fake.drivers,
        renderers=STAND_IN,
        transport=httpx.MockTransport(server),
    )
    agent.capabilities = lambda: {"kernel": {"bridge": True}, "daemons": {"radvd": True}}  # type: ignore[method-assign]
    passes: list = []
    left_over_at_first_pass: list[bool] = []
    real_run_once = agent.run_once

    def counting(s, **kwargs):
        if not passes:
            left_over_at_first_pass.append("v6r-left-over" in fake.kernel.namespaces())
        passes.append(s)
        report = real_run_once(s, **kwargs)
        if len(passes) == 2:  # the second (an idle resync): its status is unchanged
            stop.set()
        return report

    agent.run_once = counting  # type: ignore[method-assign]
    thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"wait": 0.01}, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    register = next(r for r in server.requests if r.url.path == "/fabric/v1/hosts/h1")
    assert json.loads(register.content)["roles"] == ["compute", "network"]
    # the failed first GET swept nothing: the left-over namespace lived until a state came
    assert left_over_at_first_pass == [True] and passes[0] == state
    assert "v6r-left-over" not in fake.kernel.namespaces()
    assert server.expired and server.tokens == 3  # re-authenticated once after the 401
    assert server.statuses[0] == {
        "applied": codec.content_hash(state),
        "ports": {"rport000001": "ACTIVE", "dport000001": "ACTIVE", "wport000001": "DOWN"},
        "workloads": {},
    }
    assert len(server.statuses) == 1  # unchanged status is not sent again
