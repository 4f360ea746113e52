#!/usr/bin/env python3
"""Port API benchmark: create throughput and latency, full lists and pages, against a real server.

What a user gets is measured: the server runs as its own process (``v6fabric up``, or an
equivalent uvicorn launcher if the CLI is unavailable) on a free loopback port with a throwaway
SQLite state directory, and is driven over HTTP with keep-alive connections.

    .venv/bin/python bench/api_ports.py              # full run (~1 min)
    .venv/bin/python bench/api_ports.py --quick      # small run (~30 s)
    .venv/bin/python bench/api_ports.py --profile /tmp/create.collapsed   # + py-spy hot spots

Phases:
  1. baseline: ``GET /`` (the version document: no auth, no SQL) from one client and from 16:
     the noise floor of the HTTP stack and of the load generator on this machine;
  2. port creates with 1, 4 and 16 concurrent clients (threads, one keep-alive ``httpx.Client``
     each) on a SLAAC subnet and on a DHCPv6-stateful subnet (one network per kind), in
     ``--repeat`` interleaved rounds; medians of the rounds are reported;
  3. bulk creates (``{"ports": [...]}``) until the project holds ``--total`` ports (10,000);
  4. ``GET /v2.0/ports`` (the full list), and 100-port pages: the first, one deep in the list
     (by marker), one filtered by network and one by project (what a non-admin's lists do);
     medians. The same pages are also measured early, over ~240 ports, to show whether a
     page's cost grows with the total.

The load generator runs on the same machine as the server and shares its cores (2 on the
reference machine): every figure includes the client's own CPU cost. Both are reported (server
and client CPU milliseconds per request, from the process clocks), and so is the CPU that other
processes used meanwhile: on a shared machine that is the noise. Server CPU per request is the
figure least disturbed by noise.

Nothing here asserts: the table marks each figure PASS or FAIL against the issue's targets and
the exit status is 0 either way (``--strict`` makes a FAIL exit 1, for manual use only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent

# The targets (2-core machine, SQLite).
TARGET_PORTS_PER_S = 300.0  # sustained creates, 16 clients
TARGET_P99_MS = 100.0  # create p99 at 16 clients
TARGET_FULL_LIST_MS = 250.0  # GET /v2.0/ports with 10,000 ports
TARGET_PAGE_MS = 20.0  # a 100-port page, whatever the total
FULL_LIST_SIZE = 10_000

SUBNETS = {
    "slaac": {"cidr": "2001:db8:1::/64", "mode": "slaac"},
    "dhcpv6-stateful": {"cidr": "2001:db8:2::/64", "mode": "dhcpv6-stateful"},
}


# --- statistics -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 500 samples is the 5th slowest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


# --- the server under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LAUNCHER = """
import sys, uvicorn
from pathlib import Path
from v6fabric.api.app import create_app
from v6fabric.settings import Settings
state, port = Path(sys.argv[1]), int(sys.argv[2])
state.mkdir(mode=0o700, parents=True, exist_ok=True)
settings = Settings(state_dir=state, api_host="127.0.0.1", api_port=port)
app = create_app(settings)
app.state.identity.ensure_admin(state)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def machine_busy_seconds() -> float:
    """CPU time all processes have used (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _floor0(value: float) -> float:
    """Clamp a small negative (clock granularity) to 0; NaN (unknown) stays NaN."""
    return value if value != value else max(0.0, value)


def load_note() -> str:
    """The machine's load average: other work on it shows in every figure."""
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return ""
    return f"load average {' '.join(load)}"


@dataclass
class Server:
    proc: subprocess.Popen[bytes] | None  # None: a server this benchmark did not start
    how: str
    openrc: Path
    external_pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else self.external_pid

    @property
    def state_dir(self) -> Path:
        return self.openrc.parent

    def cpu(self) -> float:
        return cpu_seconds(self.pid) if self.pid is not None else float("nan")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    # The benchmark is of SQLite in the state directory: ignore a developer's database settings.
    for name in ("V6FABRIC_DATABASE_URL", "V6FABRIC_STATE_DIR"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_ready(proc: subprocess.Popen[bytes], port: int, openrc: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return openrc.exists()
        time.sleep(0.1)
    return False


def start_server(work: Path, how: str) -> Server:
    """``v6fabric up`` if it works (or ``how == "cli"``), else the uvicorn launcher."""
    attempts = ["cli", "launcher"] if how == "auto" else [how]
    cli = VENV_BIN / "v6fabric"
    for attempt in attempts:
        state = work / f"state-{attempt}"
        port = free_port()
        log = work / f"server-{attempt}.log"
        if attempt == "cli":
            if not cli.exists():
                continue
            cmd = [str(cli), "up", "--state-dir", str(state), "--api-port", str(port)]
            cmd.append("--no-agent")
        else:
            cmd = [sys.executable, "-c", LAUNCHER, str(state), str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=_server_env(), cwd=work
            )
        if _wait_ready(proc, port, state / "admin-openrc.sh", timeout=60):
            return Server(proc, attempt, state / "admin-openrc.sh")
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        tail = log.read_text(errors="replace")[-2000:]
        print(f"[server] {attempt} did not come up; its output:\n{tail}", file=sys.stderr)
    raise SystemExit("could not start the server")


def read_openrc(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*export\s+(\w+)=(.*)$", line)
        if match:
            parts = shlex.split(match.group(2))
            values[match.group(1)] = parts[0] if parts else ""
    return values


# --- the API as a user sees it ----------------------------------------------------------------


@dataclass
class Session:
    base: str  # Neutron endpoint (from the token's catalog)
    token: str
    project_id: str

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"X-Auth-Token": self.token, "Accept": "application/json"},
            timeout=120.0,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )


def login(openrc: dict[str, str]) -> Session:
    auth_url = openrc["OS_AUTH_URL"].rstrip("/")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": openrc.get("OS_USERNAME", "admin"),
                        "domain": {"name": openrc.get("OS_USER_DOMAIN_NAME", "Default")},
                        "password": openrc["OS_PASSWORD"],
                    }
                },
            },
            "scope": {
                "project": {
                    "name": openrc.get("OS_PROJECT_NAME", "admin"),
                    "domain": {"name": openrc.get("OS_PROJECT_DOMAIN_NAME", "Default")},
                }
            },
        }
    }
    resp = httpx.post(f"{auth_url}/auth/tokens", json=body, timeout=30)
    resp.raise_for_status()
    token_body = resp.json()["token"]
    base = auth_url.removesuffix("/v3").removesuffix("/identity")
    for service in token_body.get("catalog", []):
        if service.get("type") == "network":
            for endpoint in service["endpoints"]:
                if endpoint.get("interface") == "public":
                    base = endpoint["url"].rstrip("/")
    return Session(base, resp.headers["X-Subject-Token"], token_body["project"]["id"])


def expect(resp: httpx.Response, status: int) -> dict[str, Any]:
    if resp.status_code != status:
        raise SystemExit(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:500]}"
        )
    return resp.json() if resp.content else {}


def prepare(session: Session) -> dict[str, str]:
    """Unlimited quotas, and one network with one IPv6 subnet per subnet kind."""
    with session.client() as api:
        expect(
            api.put(
                f"/v2.0/quotas/{session.project_id}",
                json={"quota": {"port": -1, "network": -1, "subnet": -1}},
            ),
            200,
        )
        networks = {}
        for kind, spec in SUBNETS.items():
            net = expect(api.post("/v2.0/networks", json={"network": {"name": f"b-{kind}"}}), 201)
            net_id = net["network"]["id"]
            subnet = {
                "network_id": net_id,
                "name": f"b-{kind}",
                "ip_version": 6,
                "cidr": spec["cidr"],
                "ipv6_ra_mode": spec["mode"],
                "ipv6_address_mode": spec["mode"],
            }
            expect(api.post("/v2.0/subnets", json={"subnet": subnet}), 201)
            networks[kind] = net_id
        return networks


# --- load generation --------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    clients: int
    requests: int
    wall_s: float
    latencies_s: list[float]
    client_cpu_s: float
    server_cpu_s: float
    errors: Counter[int] = field(default_factory=Counter)
    others_cores: float = float("nan")  # CPU used meanwhile by other processes, in cores

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else float("nan")

    def p(self, pct: float) -> float:
        return ms(percentile(self.latencies_s, pct))


def drive(
    session: Session,
    clients: int,
    total: int,
    request: Callable[[httpx.Client, int], httpx.Response],
    expected: int,
    server: Server,
    label: str,
) -> Run:
    """``total`` requests shared by ``clients`` threads, each with its own keep-alive client."""
    counter = iter(range(total))
    counter_lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: Counter[int] = Counter()
    start_line = threading.Barrier(clients + 1)
    done: list[float] = [0.0] * clients
    api_clients = [session.client() for _ in range(clients)]
    for api in api_clients:  # connect before the clock starts
        api.get("/")

    def worker(i: int) -> None:
        api = api_clients[i]
        mine = latencies[i]
        start_line.wait()
        while True:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                break
            t0 = time.perf_counter()
            resp = request(api, n)
            mine.append(time.perf_counter() - t0)
            if resp.status_code != expected:
                with counter_lock:
                    errors[resp.status_code] += 1
                    first = sum(errors.values()) == 1
                if first:
                    print(f"  ! {resp.status_code}: {resp.text[:300]}", file=sys.stderr)
        done[i] = time.perf_counter()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    machine0 = machine_busy_seconds()
    server_cpu0, client_cpu0 = server.cpu(), time.process_time()
    start_line.wait()
    t_start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = max(done) - t_start
    server_cpu, client_cpu = server.cpu() - server_cpu0, time.process_time() - client_cpu0
    others = (machine_busy_seconds() - machine0 - server_cpu - client_cpu) / wall
    for api in api_clients:
        api.close()
    flat = [x for per_client in latencies for x in per_client]
    return Run(label, clients, total, wall, flat, client_cpu, server_cpu, errors, _floor0(others))


def create_port(network_id: str) -> Callable[[httpx.Client, int], httpx.Response]:
    def request(api: httpx.Client, n: int) -> httpx.Response:
        return api.post("/v2.0/ports", json={"port": {"network_id": network_id, "name": f"p{n}"}})

    return request


def get(path: str) -> Callable[[httpx.Client, int], httpx.Response]:
    def request(api: httpx.Client, _n: int) -> httpx.Response:
        return api.get(path)

    return request


@dataclass
class Gets:
    """Sequential GETs of one URL: total latencies and times to the response head."""

    times: list[float]
    heads: list[float]  # the body is rendered whole before the head is sent: ~server time
    count: int
    size: int

    def median_ms(self) -> float:
        return ms(statistics.median(self.times))

    def min_ms(self) -> float:
        return ms(min(self.times))

    def head_ms(self) -> float:
        return ms(statistics.median(self.heads))


def timed_gets(api: httpx.Client, path: str, runs: int) -> Gets:
    api.get(path)  # warm (plans, caches, the connection)
    result = Gets([], [], 0, 0)
    for _ in range(runs):
        t0 = time.perf_counter()
        with api.stream("GET", path) as resp:
            head = time.perf_counter()
            resp.read()
        result.times.append(time.perf_counter() - t0)
        result.heads.append(head - t0)
        body = expect(resp, 200)
        result.count, result.size = len(body.get("ports", [])), len(resp.content)
    return result


def page_paths(ids: list[str], networks: dict[str, str], project_id: str) -> dict[str, str]:
    """100-port pages: the first, one deep in the list (full: 100 ports after the marker), and
    two filtered ones.

    The project filter is the query a non-admin caller's every list carries implicitly.
    """
    return {
        "first page (?limit=100)": "/v2.0/ports?limit=100",
        "deep page (?limit=100&marker=, 90% in)": "/v2.0/ports?limit=100&marker="
        + ids[max(0, min(int(len(ids) * 0.9), len(ids) - 101))],
        "network page (?network_id=&limit=100)": "/v2.0/ports?limit=100&network_id="
        + networks["dhcpv6-stateful"],
        "project page (?project_id=&limit=100)": "/v2.0/ports?limit=100&project_id=" + project_id,
    }


def measure_pages(api: httpx.Client, paths: dict[str, str], runs: int) -> dict[str, Gets]:
    pages = {}
    for label, path in paths.items():
        page = pages[label] = timed_gets(api, path, runs)
        print(
            f"  {label}: {page.count} ports, {page.size / 1e3:.0f} kB, median "
            f"{page.median_ms():.2f} ms (head {page.head_ms():.2f} ms), min "
            f"{page.min_ms():.2f} ms ({runs} runs)"
        )
    return pages


def count_ports(api: httpx.Client) -> list[str]:
    body = expect(api.get("/v2.0/ports", params={"fields": "id"}), 200)
    return [p["id"] for p in body["ports"]]


def fill_ports(session: Session, networks: dict[str, str], total: int, batch: int) -> Run | None:
    """Bulk-create ports until the project holds ``total``; the bulk rate is reported too."""
    with session.client() as api:
        missing = total - len(count_ports(api))
        if missing <= 0:
            return None
        net_ids = list(networks.values())
        t0, created, times = time.perf_counter(), 0, []
        while created < missing:
            size = min(batch, missing - created)
            net = net_ids[(created // batch) % len(net_ids)]
            body = {
                "ports": [{"network_id": net, "name": f"bulk{created + i}"} for i in range(size)]
            }
            t1 = time.perf_counter()
            expect(api.post("/v2.0/ports", json=body), 201)
            times.append(time.perf_counter() - t1)
            created += size
        wall = time.perf_counter() - t0
        return Run(f"bulk x{batch}", 1, created, wall, times, float("nan"), float("nan"))


# --- profiling (optional) ---------------------------------------------------------------------


@contextlib.contextmanager
def profiled(server: Server, out: Path | None, rate: int, mode: str) -> Iterator[None]:
    """Attach ``py-spy record`` (collapsed stacks) to the server while the block runs.

    ``mode`` "gil" samples only the thread holding the GIL: where the interpreter's one core of
    Python goes, which is what bounds throughput. "active" samples every thread py-spy does not
    see as idle, which also shows threads queued on locks (the SQLite write lock) and C work
    done without the GIL (SQLite itself).
    """
    if out is None:
        yield
        return
    py_spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    cmd = [py_spy, "record", "--pid", str(server.pid), "--format", "raw", "--rate", str(rate)]
    cmd += ["--output", str(out), "--nonblocking"]
    if mode == "gil":
        cmd.append("--gil")
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach
    if spy.poll() is not None:
        err = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
        raise SystemExit(f"py-spy failed to start: {err}")
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()


# The innermost frame alone says a thread is waiting rather than working.
WAITING: list[tuple[str, Callable[[str, str], bool]]] = [
    ("waiting: SQLite write lock (Database._write_once)", lambda f, p: f == "_write_once"),
    (
        "waiting: idle threadpool workers / conditions",
        lambda f, p: f in ("wait", "get") and ("threading" in p or "queue" in p),
    ),
    (
        "event loop in C (uvloop: poll, sockets)",
        lambda f, p: f in ("run", "run_until_complete") and "asyncio" in p,
    ),
]
# Frames are classified from the innermost outwards: the first that matches names the cost.
CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    ("JSON (orjson render)", lambda f, p: "responses.py" in p and f == "render"),
    ("auth (token check)", lambda f, p: "v6fabric/identity" in p or "api/deps.py" in p),
    (
        "SQLite (C: sqlite3 execute/fetch, under SQLAlchemy's call)",
        lambda f, p: (
            f in ("do_execute", "do_executemany")
            or (f in ("fetchall", "fetchone", "_fetchall_impl", "_fetchone_impl") and "cursor" in p)
        ),
    ),
    ("SQLite commit/begin", lambda f, p: f in ("do_commit", "do_rollback", "_sqlite_on_begin")),
    ("SQLAlchemy pool/connect", lambda f, p: "sqlalchemy/pool" in p),
    ("SQLAlchemy compile", lambda f, p: "sqlalchemy/sql/compiler" in p or f == "_compile_w_cache"),
    ("SQLAlchemy other (results, execute)", lambda f, p: "sqlalchemy" in p),
    ("pydantic validation", lambda f, p: "pydantic" in p),
    ("v6fabric services/domain (Python)", lambda f, p: "v6fabric" in p),
    ("FastAPI/Starlette routing+params", lambda f, p: "fastapi" in p or "starlette" in p),
    ("threadpool hop (anyio)", lambda f, p: "anyio" in p or "concurrent/futures" in p),
    ("uvicorn/HTTP parsing", lambda f, p: "uvicorn" in p or "httptools" in p or "h11" in p),
    ("asyncio/uvloop event loop", lambda f, p: "asyncio" in p or "uvloop" in p),
]


def _leaf(name: str) -> str:
    """``Class.method`` -> ``method``: what the category rules match."""
    return name.rsplit(".", 1)[-1]


def _frame(text: str) -> tuple[str, str]:
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", text)
    return (match.group(1), match.group(2)) if match else (text, "")


def summarize_profile(
    path: Path, requests: int, rate: int, server_cpu_s: float, top: int = 25
) -> str:
    """Samples of the collapsed stacks by category (innermost match) and hottest functions."""
    by_category: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive_app: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]  # drop "process"/"thread" pseudo frames
        if not frames:
            continue
        total += count
        name, file = frames[-1]
        self_time[f"{name} ({_short(file)})"] += count
        seen = set()
        for fname, ffile in frames:
            if "v6fabric" in ffile:
                key = f"{fname} ({_short(ffile)})"
                if key not in seen:
                    seen.add(key)
                    inclusive_app[key] += count
        waiting = next((c for c, match in WAITING if match(_leaf(name), file)), None)
        if waiting:
            by_category[waiting] += count
            continue
        for fname, ffile in reversed(frames):
            category = next((c for c, match in CATEGORIES if match(_leaf(fname), ffile)), None)
            if category:
                by_category[category] += count
                break
        else:
            by_category["other (stdlib, interpreter)"] += count
    if not total:
        return "  (no samples)"
    cpu = ms(server_cpu_s) / requests
    sampled = ms(total / rate) / requests
    cpu_text = f"server CPU {cpu:.2f} ms/request (process clock), " if cpu == cpu else ""
    lines = [
        f"  {requests} requests; {cpu_text}sampled {sampled:.2f} ms/request "
        f"({total} samples at {rate}/s)",
        "  sampled time by category (innermost matching frame), ms per request:",
    ]
    for category, count in by_category.most_common():
        lines.append(f"    {count / total:6.1%}  {ms(count / rate) / requests:7.3f}  {category}")
    lines.append("  hottest functions (self time):")
    for name, count in self_time.most_common(top):
        lines.append(f"    {count / total:6.1%}  {name}")
    lines.append("  v6fabric functions (inclusive time):")
    for name, count in inclusive_app.most_common(top):
        lines.append(f"    {count / total:6.1%}  {name}")
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _with_suffix(path: Path | None, suffix: str) -> Path | None:
    return None if path is None else path.with_name(path.name + suffix)


# --- the report -------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    ratio: float | None = None  # against the baseline latency

    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


def print_table(rows: list[Row]) -> None:
    print()
    header = f"| {'figure':<58} | {'value':>14} | {'target':>10} | {'result':<6} | {'x GET /':>8} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for row in rows:
        value = f"{row.value:,.1f} {row.unit}" if row.value == row.value else "n/a"
        ratio = f"{row.ratio:,.1f}x" if row.ratio else ""
        print(
            f"| {row.what:<58} | {value:>14} | {row.target:>10} | {row.verdict():<6} | {ratio:>8} |"
        )


def describe_run(run: Run) -> str:
    text = (
        f"  {run.label:<34} {run.clients:>2} clients  {run.requests:>5} req  "
        f"{run.rate:8.1f}/s  p50 {run.p(50):7.2f} ms  p99 {run.p(99):7.2f} ms  "
        f"max {run.p(100):7.2f} ms"
    )
    if run.client_cpu_s == run.client_cpu_s:
        text += (
            f"  | CPU/req server {ms(run.server_cpu_s) / run.requests:5.2f} ms"
            f" client {ms(run.client_cpu_s) / run.requests:5.2f} ms"
        )
    if run.others_cores == run.others_cores:
        text += f"  others {run.others_cores:.2f} cores"
    if run.errors:
        text += f"  ERRORS {dict(run.errors)}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ports", type=int, default=500, help="ports per create run (500)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of create runs; medians are reported (3)"
    )
    parser.add_argument(
        "--total", type=int, default=FULL_LIST_SIZE, help="ports for the lists (10000)"
    )
    parser.add_argument("--clients", default="1,4,16", help="concurrencies (1,4,16)")
    parser.add_argument("--list-runs", type=int, default=7, help="full-list repeats (7)")
    parser.add_argument("--page-runs", type=int, default=30, help="page repeats (30)")
    parser.add_argument("--bulk", type=int, default=250, help="ports per bulk request (250)")
    parser.add_argument("--quick", action="store_true", help="small run (~30 s)")
    parser.add_argument(
        "--server",
        choices=("auto", "cli", "launcher"),
        default="auto",
        help="cli: `v6fabric up`; launcher: uvicorn on create_app(); auto: cli, else launcher",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="attach py-spy (pip install py-spy) to the server: collapsed stacks of the create "
        "runs to FILE, of the full lists to FILE.list, of the pages to FILE.page (speedscope.app "
        "opens them), and a summary of each printed; figures then include py-spy's overhead",
    )
    parser.add_argument(
        "--profile-mode",
        choices=("gil", "active"),
        default="gil",
        help="gil: only the thread holding the GIL (Python CPU); active: all busy threads",
    )
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s (250)")
    parser.add_argument(
        "--summarize",
        type=Path,
        metavar="FILE",
        help="only summarize a collapsed-stack FILE recorded earlier (with --requests N)",
    )
    parser.add_argument("--requests", type=int, default=1, help="requests in --summarize FILE")
    parser.add_argument(
        "--openrc",
        type=Path,
        metavar="FILE",
        help="benchmark a server that is already running (its admin-openrc.sh) instead of "
        "starting one; it must be empty of ports (10,000 are made for the lists)",
    )
    parser.add_argument(
        "--server-pid", type=int, help="with --openrc: its pid, for CPU figures and --profile"
    )
    parser.add_argument("--keep-state", action="store_true", help="keep the temp state dir")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.ports = min(args.ports, 150)
        args.repeat = 1
        args.list_runs = min(args.list_runs, 5)
        args.page_runs = min(args.page_runs, 15)
    concurrencies = [int(c) for c in args.clients.split(",")]
    if args.profile and args.openrc and not args.server_pid:
        parser.error("--profile with --openrc needs --server-pid")
    if args.summarize:
        print(summarize_profile(args.summarize, args.requests, args.profile_rate, float("nan")))
        return 0

    work = Path(tempfile.mkdtemp(prefix="v6fabric-bench-"))
    server: Server | None = None
    try:
        if args.openrc:
            server = Server(None, "external", args.openrc.resolve(), args.server_pid)
        else:
            server = start_server(work, args.server)
        return _bench(args, concurrencies, server)
    finally:
        if server is not None:
            server.stop()
        if args.keep_state:
            print(f"state kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, concurrencies: list[int], server: Server) -> int:
    openrc = read_openrc(server.openrc)
    session = login(openrc)
    print(
        f"v6fabric port API benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"{platform.node()}  {os.cpu_count()} CPUs  Python {platform.python_version()}"
    )
    where = f"SQLite in {server.state_dir}" if server.proc else f"credentials {server.openrc}"
    print(f"server: {server.how} (pid {server.pid}) at {session.base}, {where}")
    print("load generator: threads with keep-alive httpx clients, on the same cores as the server")
    print(f"machine: {load_note()} before the run")
    networks = prepare(session)
    rows: list[Row] = []
    t0, machine0 = time.perf_counter(), machine_busy_seconds()
    server0, client0 = server.cpu(), time.process_time()

    # 1. the noise floor of the HTTP stack
    print("\nbaseline: GET / (version document: no auth, no SQL)")
    with session.client() as api:
        base = timed_gets(api, "/", 300)
    base_ms = base.median_ms()
    base16 = drive(session, 16, 3000 if not args.quick else 1000, get("/"), 200, server, "GET /")
    print(f"  GET /, 1 client sequential: median {base_ms:.2f} ms, min {base.min_ms():.2f} ms")
    print(describe_run(base16))
    rows.append(Row("baseline: GET / median, 1 client", base_ms, "ms", ratio=1.0))
    rows.append(Row("baseline: GET / at 16 clients (HTTP stack ceiling)", base16.rate, "req/s"))

    # 2. creates
    print(
        f"\nport creates: {args.ports} per run, {args.repeat} round(s) of every (subnet, clients) "
        "pair, interleaved; POST /v2.0/ports, one port per request"
    )
    for kind, net in networks.items():  # warm: first inserts, plans, the IPAM paths
        drive(session, 4, 120, create_port(net), 201, server, f"warm-up {kind}")
    with session.client() as api:  # pages while the list is short, to compare with 10,000
        small_ids = sorted(count_ports(api))
        small_total = len(small_ids)
        print(f"  pages over {small_total} ports:")
        small_pages = measure_pages(
            api, page_paths(small_ids, networks, session.project_id), args.page_runs
        )
    runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
    with profiled(server, args.profile, args.profile_rate, args.profile_mode):
        for round_no in range(args.repeat):
            for kind, net in networks.items():
                for clients in concurrencies:
                    label = f"create {kind}" + (f" #{round_no + 1}" if args.repeat > 1 else "")
                    run = drive(session, clients, args.ports, create_port(net), 201, server, label)
                    runs[kind, clients].append(run)
                    print(describe_run(run))
    top = max(concurrencies)
    if args.repeat > 1:
        print(f"  medians of {args.repeat} rounds:")
    for (kind, clients), group in runs.items():
        rate = statistics.median(r.rate for r in group)
        p50 = statistics.median(r.p(50) for r in group)
        p99 = statistics.median(r.p(99) for r in group)
        cpu = statistics.median(ms(r.server_cpu_s) / r.requests for r in group)
        if args.repeat > 1:
            print(
                f"  create {kind:<27} {clients:>2} clients  {rate:8.1f}/s  p50 {p50:7.2f} ms  "
                f"p99 {p99:7.2f} ms  server CPU {cpu:.2f} ms/port"
            )
        at_top = clients == top
        rows.append(
            Row(
                f"create {kind}, {clients} clients: ports/s",
                rate,
                "/s",
                f">= {TARGET_PORTS_PER_S:.0f}" if at_top else "",
                rate >= TARGET_PORTS_PER_S if at_top else None,
            )
        )
        rows.append(Row(f"create {kind}, {clients} clients: p50", p50, "ms", ratio=p50 / base_ms))
        rows.append(
            Row(
                f"create {kind}, {clients} clients: p99",
                p99,
                "ms",
                f"<= {TARGET_P99_MS:.0f} ms" if at_top else "",
                p99 <= TARGET_P99_MS if at_top else None,
                p99 / base_ms,
            )
        )
        if at_top:
            rows.append(Row(f"create {kind}, {clients} clients: server CPU per port", cpu, "ms"))
    creates = [r for group in runs.values() for r in group]
    if args.profile:
        requests = sum(r.requests for r in creates)
        server_cpu = sum(r.server_cpu_s for r in creates)
        print(f"\nprofile of the server during the create runs ({args.profile}):")
        print(summarize_profile(args.profile, requests, args.profile_rate, server_cpu))

    # 3. fill up to the list size
    print(f"\nfilling to {args.total} ports with bulk creates of {args.bulk}")
    bulk = fill_ports(session, networks, args.total, args.bulk)
    if bulk is not None:
        print(
            f"  {bulk.requests} ports in {bulk.wall_s:.1f} s: {bulk.rate:.0f} ports/s, "
            f"median {ms(statistics.median(bulk.latencies_s)):.0f} ms per request of {args.bulk}"
        )
        rows.append(Row(f"bulk create ({args.bulk} per request): ports/s", bulk.rate, "/s"))

    # 4. lists and pages
    with session.client() as api:
        ids = sorted(count_ports(api))
        total = len(ids)
        print(f"\nlists over {total} ports (admin: GET /v2.0/ports sees them all)")
        list_profile = _with_suffix(args.profile, ".list")
        cpu0 = server.cpu()
        with profiled(server, list_profile, args.profile_rate, args.profile_mode):
            full = timed_gets(api, "/v2.0/ports", args.list_runs)
        list_cpu = (server.cpu() - cpu0) / (args.list_runs + 1)
        print(
            f"  full list: {full.count} ports, {full.size / 1e6:.1f} MB, median "
            f"{full.median_ms():.0f} ms (head after {full.head_ms():.0f} ms), min "
            f"{full.min_ms():.0f} ms, max {ms(max(full.times)):.0f} ms ({args.list_runs} runs); "
            f"server CPU {ms(list_cpu):.0f} ms per list"
        )
        pages = page_paths(ids, networks, session.project_id)
        page_profile = _with_suffix(args.profile, ".page")
        cpu0 = server.cpu()
        with profiled(server, page_profile, args.profile_rate, args.profile_mode):
            page_gets = measure_pages(api, pages, args.page_runs)
        page_cpu = server.cpu() - cpu0
        one = timed_gets(api, f"/v2.0/ports/{ids[len(ids) // 2]}", args.page_runs)
        print(f"  one port (GET /v2.0/ports/ID): median {one.median_ms():.2f} ms")
    if list_profile and page_profile:
        print(f"\nprofile of the server during the full lists ({list_profile}):")
        lists = args.list_runs + 1
        print(summarize_profile(list_profile, lists, args.profile_rate, list_cpu * lists))
        print(f"\nprofile of the server during the 100-port pages ({page_profile}):")
        n_pages = len(pages) * (args.page_runs + 1)
        print(summarize_profile(page_profile, n_pages, args.profile_rate, page_cpu))
    listed = total == FULL_LIST_SIZE
    rows.append(
        Row(
            f"GET /v2.0/ports, full list of {total}: median",
            full.median_ms(),
            "ms",
            f"<= {TARGET_FULL_LIST_MS:.0f} ms" if listed else "(10k only)",
            full.median_ms() <= TARGET_FULL_LIST_MS if listed else None,
            full.median_ms() / base_ms,
        )
    )
    rows.append(Row(f"GET /v2.0/ports, full list of {total}: min", full.min_ms(), "ms"))
    rows.append(Row("GET /v2.0/ports, full list: server CPU per list", ms(list_cpu), "ms"))
    for label, page in page_gets.items():
        small = small_pages[label].median_ms()
        rows.append(Row(f"{label} of {small_total}: median", small, "ms", ratio=small / base_ms))
        rows.append(
            Row(
                f"{label} of {total}: median",
                page.median_ms(),
                "ms",
                f"<= {TARGET_PAGE_MS:.0f} ms",
                page.median_ms() <= TARGET_PAGE_MS,
                page.median_ms() / base_ms,
            )
        )
    rows.append(
        Row(
            "GET /v2.0/ports/{id} (one port): median",
            one.median_ms(),
            "ms",
            ratio=one.median_ms() / base_ms,
        )
    )

    wall = time.perf_counter() - t0
    ours = server.cpu() - server0 + time.process_time() - client0
    others = _floor0((machine_busy_seconds() - machine0 - ours) / wall)
    rows.append(Row("other processes' CPU during the run (noise)", others, "cores"))
    print(f"\nmachine: {load_note()} after; other processes used {others:.2f} cores on average")
    print_table(rows)
    failed = [r.what for r in rows if r.ok is False]
    print(f"\n{len(failed)} target(s) missed" + (": " + "; ".join(failed) if failed else ""))
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
