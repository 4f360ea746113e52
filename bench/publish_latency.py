#!/usr/bin/env python3
"""The server's share of a port's convergence: a write's commit -> the agent's long-poll
answer carrying it, and the agent's status report; against a real server process.

    PYTHONPATH=src .venv/bin/python bench/publish_latency.py                 # N = 150 and 500
    PYTHONPATH=src .venv/bin/python bench/publish_latency.py --workloads 150 --writes 30
    PYTHONPATH=src .venv/bin/python bench/publish_latency.py --rounds 3 \\
        --src before=/path/to/old/worktree/src --src after=src     # A/B in one run

For each source tree (``--src LABEL=PATH``; default this tree's) and each world size N, the
server is ``v6fabric up --no-agent`` of that tree in its own process (throwaway SQLite), with a
hook on the app that writes each commit's revision and its ``CLOCK_MONOTONIC`` instant (from
the committing thread, right after the commit). Through the API: a host with both roles, three
networks (SLAAC, DHCPv6-stateless, DHCPv6-stateful, each with a subnet and a router), then N
workloads on the host, one port each. Then, as in ``bench/convergence.py``:

  - the "agent", a child process (this tree's ``FabricStateClient``, deltas): a thread
    long-polls the host's state (``wait=30``) and records when each answer's body has arrived
    (CLOCK_MONOTONIC) and its revision; the main thread takes the newest state, waits
    ``--pass-ms`` (the agent's pass) and reports every port and workload ACTIVE with
    ``PUT .../status``, alternately in the full form (every port and workload: the agent
    before this bench) and the changed-only form (``agent.client.status_changes``), timed;
  - a watcher: a second long-poller of the same state (``--watcher delta``, as the
    convergence bench's; ``full``: without deltas, a whole body per change; ``none``);
  - a poller: ``GET /v2.0/ports/ID?fields=status`` every 10 ms (``--no-poller``: none).

Each of ``--writes`` samples (after ``--warmup``) is a port create on one of the networks (for
the host: a DHCP reservation and metadata), then at once a workload create binding the port to
the host; each write's latency is from its commit to the first agent answer carrying its
revision or a later one. Samples start 50 ms after the agent reported the previous one.
``--rounds`` alternates the trees that often and pools the samples. Printed: p50/p90/p99 per
tree and N; the poller's GET latency (a request's wait for the server) and the server's CPU
time per sample are the context. The machine's other load moves every figure: compare trees
within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from api_ports import cpu_seconds, free_port, load_note, login, read_openrc  # noqa: E402

HOST = "bench-host"
MODES = {
    "slaac": "2001:db8:c1::/64",
    "dhcpv6-stateless": "2001:db8:c2::/64",
    "dhcpv6-stateful": "2001:db8:c3::/64",
}
PORT_POLL = 0.010
SETTLE = 0.050
NAN = float("nan")

# ``v6fabric up --no-agent`` itself, with a hook on the app it builds: each commit's revision
# and CLOCK_MONOTONIC instant, written by the committing thread right after the commit.
LAUNCHER = """
import sys, time
from pathlib import Path
import v6fabric.api.app as app_module
from v6fabric.cli.up import up
commits = open(sys.argv[3], "w", buffering=1)
made = app_module.create_app
def create_app(*args, **kwargs):
    app = made(*args, **kwargs)
    app.state.db.on_commit(lambda revision: commits.write(f"{revision} {time.monotonic()}\\n"))
    return app
app_module.create_app = create_app
up(state_dir=Path(sys.argv[1]), api_host="127.0.0.1", api_port=int(sys.argv[2]),
   no_agent=True, host_netns=None)
"""


# --- the agent child --------------------------------------------------------------------------


def agent_child(base: str, token: str, host: str, pass_ms: str = "0") -> int:
    """As the agent: a feed thread long-polls (``state REVISION ARRIVED``), the main thread
    reports each newest state (``status FORM SECONDS``) while the next long-poll waits."""
    from v6fabric.agent.client import FabricStateClient, status_changes
    from v6fabric.cli.errors import ApiError
    from v6fabric.hoststate.model import HostState

    arrived: list[float] = []
    newest: list[tuple[HostState, str]] = []
    printing = threading.Lock()

    def say(line: str) -> None:
        with printing:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    got_one = threading.Condition()

    class Timed(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "GET":
                response.read()
                arrived.append(time.monotonic())
            return response

    client = FabricStateClient(base, None, transport=Timed())
    client._http.headers["X-Auth-Token"] = token  # the bench's admin token

    def feed() -> None:
        etag: str | None = None
        while True:
            try:
                got = client.get_state(host, etag, wait=30)
            except ApiError as exc:
                say(f"error {exc}")
                time.sleep(0.2)
                continue
            if got is not None:
                etag = got[1]
                say(f"state {got[0].revision} {arrived[-1]!r}")
                with got_one:
                    newest[:] = [got]
                    got_one.notify()

    threading.Thread(target=feed, daemon=True).start()
    reported: tuple[dict[str, str], dict[str, str]] | None = None
    full = True
    path = f"/fabric/v1/hosts/{host}/status"
    while True:
        with got_one:
            got_one.wait_for(lambda: bool(newest))
            (state, etag), newest[:] = newest[0], []
        time.sleep(float(pass_ms) / 1000)  # the agent's pass
        ports = {p.port_id: "ACTIVE" for p in state.ports}
        workloads = {w.workload_id: "ACTIVE" for w in state.workloads}
        sent = status_changes(ports, workloads, state, None if full else reported)
        body = {"applied": etag.strip('"'), "ports": sent[0], "workloads": sent[1]}
        started = time.monotonic()
        client._send("PUT", path, body=body)
        took = time.monotonic() - started
        say(f"status {'full' if full else 'changed'} {took!r} {state.revision}")
        reported, full = (ports, workloads), not full


# --- the parent -------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    n: int
    agent: dict[str, list[float]] = field(
        default_factory=lambda: {"port create": [], "workload bind": []}
    )
    watcher: list[float] = field(default_factory=list)  # commit -> answer, workload binds
    status: dict[str, list[float]] = field(default_factory=lambda: {"full": [], "changed": []})
    get_port: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # per sample (two writes)
    build_seconds: float = 0.0


class Child:
    """The agent child's lines, read in a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        self.states: list[tuple[int, float]] = []
        self.statuses: list[tuple[str, float, float]] = []  # form, seconds, when
        self.reported = -1  # the newest revision whose status was sent
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, *rest = line.split()
            with self.cond:
                if kind == "state":
                    self.states.append((int(rest[0]), float(rest[1])))
                elif kind == "status":
                    self.statuses.append((rest[0], float(rest[1]), time.monotonic()))
                    self.reported = max(self.reported, int(rest[2]))
                else:
                    print("[agent]", line.rstrip(), file=sys.stderr)
                self.cond.notify_all()

    def wait_reported(self, revision: int, timeout: float = 20.0) -> bool:
        """Until a state of ``revision`` or later has arrived and its status was sent."""
        with self.cond:
            return self.cond.wait_for(lambda: self.reported >= revision, timeout)

    def first_at(self, revision: int) -> float:
        with self.cond:
            return min((t for r, t in self.states if r >= revision), default=float("nan"))

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Commits:
    """The server's commit log: revision -> CLOCK_MONOTONIC of its commit."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def new(self) -> list[tuple[int, float]]:
        with self.path.open() as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete)
        return [(int(r), float(t)) for r, t in (ln.split() for ln in complete.splitlines())]


def call(http: httpx.Client, method: str, path: str, body: Any = None) -> dict[str, Any]:
    response = http.request(method, path, json=body)
    if response.status_code >= 300:
        raise SystemExit(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else {}


def build_world(http: httpx.Client, project: str, n: int) -> list[str]:
    """Quotas, the host, one network, subnet and router per mode, and ``n`` workloads."""
    quota = {"quota": {"port": -1, "network": -1, "subnet": -1, "router": -1}}
    call(http, "PUT", f"/v2.0/quotas/{project}", quota)
    call(http, "PUT", f"/fabric/v1/hosts/{HOST}", {"roles": ["compute", "network"]})
    networks = []
    for mode, cidr in MODES.items():
        net = call(http, "POST", "/v2.0/networks", {"network": {"name": mode}})["network"]
        subnet = {
            "network_id": net["id"], "ip_version": 6, "cidr": cidr,
            "ipv6_ra_mode": mode, "ipv6_address_mode": mode, "dns_nameservers": ["2001:db8::53"],
        }  # fmt: skip
        subnet_id = call(http, "POST", "/v2.0/subnets", {"subnet": subnet})["subnet"]["id"]
        router = call(http, "POST", "/v2.0/routers", {"router": {"name": mode}})["router"]
        path = f"/v2.0/routers/{router['id']}/add_router_interface"
        call(http, "PUT", path, {"subnet_id": subnet_id})
        networks.append(net["id"])
    for i in range(n):
        add_workload(http, networks[i % len(networks)], f"w{i}")
    return networks


def add_workload(http: httpx.Client, network: str, name: str) -> tuple[str, str]:
    port = call(http, "POST", "/v2.0/ports", {"port": {"network_id": network, "name": name}})
    body = {"workload": {"name": name, "host": HOST, "port_ids": [port["port"]["id"]]}}
    workload = call(http, "POST", "/fabric/v1/workloads", body)
    return port["port"]["id"], workload["workload"]["id"]


def run_case(label: str, src: Path, n: int, args: argparse.Namespace, work: Path) -> Case:
    case = Case(label, n)
    work = Path(tempfile.mkdtemp(prefix=f"{label}-{n}-", dir=work))
    state, commits_file, port = work / "state", work / "commits", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("V6FABRIC_")}
    env.update(PYTHONPATH=str(src), PYTHONUNBUFFERED="1")
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(state), str(port), str(commits_file)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    stop = threading.Event()
    threads: list[threading.Thread] = []
    child: Child | None = None
    try:
        deadline = time.monotonic() + 60
        while not (state / "admin-openrc.sh").exists() or not _up(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "server.log").read_text()[-2000:])
            time.sleep(0.1)
        session = login(read_openrc(state / "admin-openrc.sh"))
        http = session.client()
        t = time.monotonic()
        networks = build_world(http, session.project_id, n)
        case.build_seconds = time.monotonic() - t
        commits = Commits(commits_file)
        commits.new()
        child_env = {**env, "PYTHONPATH": str(BENCH.parent / "src")}  # this tree's agent client
        argv = [sys.executable, __file__, "--agent-child", session.base, session.token, HOST]
        argv.append(str(args.pass_ms))
        child = Child(argv, child_env)
        if not child.wait_reported(0, 60):
            raise SystemExit("the agent child got no state")
        watched: list[tuple[int, float]] = []  # the watcher's answers: revision, arrival
        if args.watcher != "none":
            threads.append(_start(_watch, session, args.watcher == "delta", stop, watched))
        probe_port = [""]
        if not args.no_poller:
            threads.append(_start(_poll, session, probe_port, stop, case))
        measured_from = float("inf")
        samples: list[tuple[tuple[int, float], tuple[int, float]]] = []
        for i in range(args.warmup + args.writes):
            if i == args.warmup:
                measured_from, cpu0 = time.monotonic(), cpu_seconds(server.pid)
            port_id = call(http, "POST", "/v2.0/ports", {
                "port": {"network_id": networks[i % len(networks)], "name": f"s{i}"}
            })["port"]["id"]  # fmt: skip
            port_commit = commits.new()[-1]
            probe_port[0] = port_id
            body = {"workload": {"name": f"s{i}", "host": HOST, "port_ids": [port_id]}}
            call(http, "POST", "/fabric/v1/workloads", body)
            bind_commit = commits.new()[-1]
            if not child.wait_reported(bind_commit[0]):
                raise SystemExit(f"sample {i}: the agent never got revision {bind_commit[0]}")
            samples.append((port_commit, bind_commit))
            time.sleep(SETTLE)
        case.server_cpu.append((cpu_seconds(server.pid) - cpu0) / args.writes)
        for port_commit, bind_commit in samples[args.warmup :]:
            for what, (revision, at) in (
                ("port create", port_commit),
                ("workload bind", bind_commit),
            ):
                case.agent[what].append(child.first_at(revision) - at)
            if watched:
                revision, at = bind_commit
                case.watcher.append(min((t for r, t in watched if r >= revision), default=NAN) - at)
        if args.dump:
            with child.cond:
                record = {"samples": samples, "states": child.states, "statuses": child.statuses}
            Path(args.dump).write_text(json.dumps(record))
        with child.cond:
            for form, seconds, when in child.statuses:
                if when >= measured_from:
                    case.status[form].append(seconds)
        http.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        if child is not None:
            child.stop()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    return case


def _up(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    return False


def _start(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _watch(
    session: Any, deltas: bool, stop: threading.Event, watched: list[tuple[int, float]]
) -> None:
    """The second long-poller: with deltas (the agent's client) or full bodies (plain GETs)."""
    from v6fabric.agent.client import FabricStateClient

    client = FabricStateClient(session.base, None)
    client._http.headers["X-Auth-Token"] = session.token
    etag = None
    try:
        while not stop.is_set():
            if deltas:
                got = client.get_state(HOST, etag, wait=5)
                if got is not None:
                    watched.append((got[0].revision, time.monotonic()))
                    etag = got[1]
            else:
                headers = {"If-None-Match": etag} if etag else {}
                response = client._http.get(
                    f"{session.base}/fabric/v1/hosts/{HOST}/state",
                    params={"wait": 5}, headers=headers, timeout=20,
                )  # fmt: skip
                if response.status_code == 200:
                    arrived, etag = time.monotonic(), response.headers["ETag"]
                    watched.append((response.json()["revision"], arrived))
    finally:
        client.close()


def _poll(session: Any, probe_port: list[str], stop: threading.Event, case: Case) -> None:
    with session.client() as http:
        tick = time.monotonic()
        while not stop.is_set():
            if probe_port[0]:
                t = time.monotonic()
                http.get(f"/v2.0/ports/{probe_port[0]}", params={"fields": "status"})
                case.get_port.append(time.monotonic() - t)
            tick += PORT_POLL
            time.sleep(max(0.0, tick - time.monotonic()))


# --- report -----------------------------------------------------------------------------------


def ms(values: list[float], pct: float = 50) -> float:
    """A percentile in ms (nearest rank; the median interpolated)."""
    values = [v for v in values if v == v]
    if not values:
        return NAN
    if pct == 50:
        return statistics.median(values) * 1000
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered)))) - 1] * 1000


FIGURES: tuple[tuple[str, Callable[[Case], list[float]]], ...] = (
    ("commit -> agent answer, port create", lambda c: c.agent["port create"]),
    ("commit -> agent answer, workload bind", lambda c: c.agent["workload bind"]),
    ("commit -> watcher answer, workload bind", lambda c: c.watcher),
    ("status PUT, full form", lambda c: c.status["full"]),
    ("status PUT, changed-only form", lambda c: c.status["changed"]),
    ("GET port (the 10 ms poller)", lambda c: c.get_port),
    ("server CPU per sample (2 writes)", lambda c: c.server_cpu),
)


def report(cases: list[Case]) -> None:
    for case in cases:
        print(f"\n{case.label}, N={case.n} (world built in {case.build_seconds:.0f} s)")
        for what, pick in FIGURES:
            values = pick(case)
            cells = "  ".join(f"p{p} {ms(values, p):7.2f}" for p in (50, 90, 99))
            print(f"  {what:<42} {cells} ms  n={len(values)}")
    labels = list(dict.fromkeys(c.label for c in cases))
    if len(labels) < 2:
        return
    print("\np50 (p90) ms" + " " * 36 + "".join(f"{label:>18}" for label in labels))
    for n in dict.fromkeys(c.n for c in cases):
        by_label = {c.label: c for c in cases if c.n == n}
        for what, pick in FIGURES:
            cells = "".join(
                f"{ms(pick(by_label[lb])):>10.2f} ({ms(pick(by_label[lb]), 90):5.1f})"
                for lb in labels
                if lb in by_label
            )
            print(f"N={n:<4} {what:<42}{cells}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--agent-child"]:
        return agent_child(*argv[1:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[150, 500])
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the trees this often")
    parser.add_argument("--src", action="append", default=[], help="LABEL=PATH of a src tree")
    parser.add_argument("--watcher", choices=("delta", "full", "none"), default="delta")
    parser.add_argument("--no-poller", action="store_true")
    parser.add_argument("--dump", help="write the last case's raw timings (JSON) here")
    parser.add_argument("--pass-ms", type=float, default=30.0, help="the agent's pass, emulated")
    args = parser.parse_args(argv)
    srcs = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(BENCH.parent / "src"))]
    print(f"publish latency  {load_note()}  {os.cpu_count()} CPUs  watcher={args.watcher}")
    cases = []
    with tempfile.TemporaryDirectory(prefix="v6f-publish-") as tmp:
        for n in args.workloads:
            for _round in range(args.rounds):
                for label, src in srcs:
                    cases.append(run_case(label, Path(src).resolve(), n, args, Path(tmp)))
                    report(cases[-1:])
    report(merged(cases))
    return 0


def merged(cases: list[Case]) -> list[Case]:
    """One case per tree and N, the rounds' samples pooled."""
    out: dict[tuple[str, int], Case] = {}
    for case in cases:
        into = out.setdefault((case.label, case.n), Case(case.label, case.n))
        for what, values in case.agent.items():
            into.agent[what] += values
        for form, values in case.status.items():
            into.status[form] += values
        into.watcher += case.watcher
        into.get_port += case.get_port
        into.server_cpu += case.server_cpu
        into.build_seconds += case.build_seconds
    return list(out.values())


if __name__ == "__main__":
    raise SystemExit(main())
