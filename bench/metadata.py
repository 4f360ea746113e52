#!/usr/bin/env python3
"""Metadata proxy benchmark: requests per second and latency from N workloads at once.

    .venv/bin/python bench/metadata.py                  # 50 workloads, 4 s per run (~1 min)
    .venv/bin/python bench/metadata.py --workloads 20 --duration 2

Lab (root; every name carries this run's tag, everything is deleted at the end): a
"hypervisor" namespace with one bridge, one serving namespace (``fe80::a9fe:a9fe/64 nodad`` on
its interface, as a DHCP namespace has it) and N workload namespaces, each plugged into the
bridge by a veth with its own MAC and EUI-64 link-local, each a port of the proxy's config with
its own instance. The proxy is the real daemon (``v6fabric metadata-proxy``, its own process in
this host's namespace, as the agent runs it), so every request goes through the real path:
socket in the serving namespace -> rtnetlink neighbour lookup -> identify -> document.

Each workload runs one client process (stdlib Python, inside its namespace) that fetches
``/openstack/latest/meta_data.json`` over ``[fe80::a9fe:a9fe%eth0]`` and checks that the
answer names its own instance, in two connection modes:

* ``fresh``: a new TCP connection per request, as a guest's ``curl`` does;
* ``keep-alive``: one connection per client, requests one after another;

and two loads:

* ``max``: closed loop, each client sends its next request when the last one is answered:
  the most the service does with N concurrent clients (latency then is queueing: ~N/rate);
* ``paced``: the target's load, 1,000 req/s spread evenly over the clients (each sends every
  N ms, the clients staggered so that requests arrive evenly); latency is taken
  from each request's scheduled time, so a stall is not hidden by the client waiting for it.

Baseline, in the same run and the same namespace: a trivial asyncio server (fixed answer, no
identification, same HTTP framing) on port 8080, driven by the same clients; the table's ratio
is the proxy's figure over the baseline's. Clients and servers share this machine's cores
(2 on the reference machine): the figures include the clients' CPU. Nothing asserts: the table
marks the targets PASS/FAIL (>= 1,000 req/s; p99 <= 50 ms at 1,000 req/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(SRC))

from api_ports import Row, cpu_seconds, load_note, percentile  # noqa: E402
from convergence import print_table  # noqa: E402

from v6fabric.domain.addresses import eui64_link_local  # noqa: E402
from v6fabric.drivers.commands import ip_batch, read_pid, run  # noqa: E402
from v6fabric.hoststate.metadata import (  # noqa: E402
    MetadataInstance,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)
from v6fabric.metadata.config import write_config  # noqa: E402

PATH = "/openstack/latest/meta_data.json"
BASELINE_PORT = 8080
TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0

CLIENT = r"""
import json, socket, sys, time
port, path, mode, start, duration, rate, phase, expect = sys.argv[1:9]
port, start, duration, rate = int(port), float(start), float(duration), float(rate)
scope = socket.if_nametoindex("eth0")
server = ("fe80::a9fe:a9fe", port, 0, scope)
closing = f"GET {path} HTTP/1.1\r\nHost: metadata\r\nConnection: close\r\n\r\n".encode()
keeping = f"GET {path} HTTP/1.1\r\nHost: metadata\r\n\r\n".encode()
expect = expect.encode()

def connect():
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(5)
    sock.connect(server)
    return sock

def read_reply(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return int(head.split(b" ")[1]), body

latencies, errors, wrong, conn = [], 0, 0, None
end = start + duration
interval = 1.0 / rate if rate > 0 else 0.0
due = start + float(phase) * interval  # clients take turns: an even load, not bursts of N
time.sleep(max(0.0, start - time.monotonic()))
while True:
    if interval:
        if due >= end:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        began, due = due, due + interval
    else:
        began = time.monotonic()
        if began >= end:
            break
    try:
        if mode == "fresh":
            sock = connect()
            sock.sendall(closing)
            status, body = read_reply(sock)
            sock.close()
        else:
            if conn is None:
                conn = connect()
            conn.sendall(keeping)
            status, body = read_reply(conn)
        if status != 200 or expect not in body:
            wrong += 1
        latencies.append(time.monotonic() - began)
    except OSError:
        errors += 1
        if conn is not None:
            conn.close()
            conn = None
print(json.dumps({"latencies": latencies, "errors": errors, "wrong": wrong}))
"""

BASELINE = r"""
import asyncio, socket, sys
ifname = sys.argv[1]
port = int(sys.argv[2])
body = b'{"uuid": "00000000-0000-0000-0000-000000000000", "name": "static", "meta": {}}' * 3
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)

async def serve(reader, writer):
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            close = b"connection: close" in request.lower()
            writer.write(head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()

async def main():
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("fe80::a9fe:a9fe", port, 0, socket.if_nametoindex(ifname)))
    sock.listen(1024)
    server = await asyncio.start_server(serve, sock=sock, limit=8192)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


@dataclass
class Lab:
    tag: str
    workdir: Path
    count: int

    @property
    def host(self) -> str:
        return f"t8-{self.tag}-h"

    @property
    def serving(self) -> str:
        return f"t8-{self.tag}-d"

    @property
    def ifname(self) -> str:
        return f"md-{self.tag}"

    def workload(self, n: int) -> str:
        return f"t8-{self.tag}-w{n}"

    def mac(self, n: int) -> str:
        return f"fa:16:3e:{self.tag[:2]}:{n >> 8:02x}:{n & 0xFF:02x}"

    def spec(self) -> MetadataSpec:
        net = f"net-{self.tag}"
        ports, instances = [], []
        for n in range(self.count):
            device = f"dev-{self.tag}-{n:04d}"
            link_local = str(eui64_link_local(self.mac(n)))
            ports.append(MetadataPort(f"p{n}", net, self.mac(n), (link_local,), device, "proj"))
            instances.append(
                MetadataInstance(
                    instance_id=device,
                    project_id="proj",
                    name=f"vm{n}",
                    hostname=f"vm{n}",
                    public_keys=(("k", f"ssh-ed25519 AAAA{n} bench@test"),),
                    user_data="#cloud-config\n",
                )
            )
        listener = MetadataListener(self.serving, self.ifname, net)
        return MetadataSpec.of((listener,), tuple(ports), tuple(instances))


def build(lab: Lab) -> None:
    for ns in (lab.host, lab.serving):
        run(["ip", "netns", "add", ns])
    for n in range(lab.count):
        run(["ip", "netns", "add", lab.workload(n)])
    run(["ip", "netns", "exec", lab.host, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
    host = ["link add br0 type bridge", "link set br0 up"]
    host.append(f"link add d-{lab.tag} type veth peer name {lab.ifname} netns {lab.serving}")
    host.append(f"link set d-{lab.tag} master br0 up")
    for n in range(lab.count):
        host.append(f"link add w{n}-{lab.tag} type veth peer name eth0 netns {lab.workload(n)}")
        host.append(f"link set w{n}-{lab.tag} master br0 up")
    ip_batch(lab.host, host)
    ip_batch(
        lab.serving,
        [
            f"link set {lab.ifname} up",
            f"addr add fe80::a9fe:a9fe/64 dev {lab.ifname} nodad",
            "link set lo up",
        ],
    )
    for n in range(lab.count):
        ns = lab.workload(n)
        # no DAD: 50 guests' link-locals usable at once (a guest's DAD is not what is measured)
        run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
        ip_batch(ns, [f"link set eth0 address {lab.mac(n)}", "link set lo up", "link set eth0 up"])


def destroy(lab: Lab, processes: list[subprocess.Popen[bytes]]) -> list[str]:
    problems = []
    for proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
    names = sorted(n for n in os.listdir("/run/netns") if f"-{lab.tag}-" in n)
    for name in names:
        for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        done = run(["ip", "netns", "delete", name], check=False)
        if done.returncode != 0:
            problems.append(f"{name}: {done.stderr.strip()}")
    return problems


@dataclass
class Result:
    label: str
    latencies: list[float]
    errors: int
    wrong: int
    seconds: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000.0


def drive(
    lab: Lab, label: str, port: int, mode: str, rate: float, duration: float, server_pid: int
) -> Result:
    """All clients at once, from a common start; their results merged."""
    start = time.monotonic() + 2.0 + lab.count * 0.03  # time for every client to start
    per_client = rate / lab.count if rate else 0.0
    clients = []
    for n in range(lab.count):
        expect = f"dev-{lab.tag}-{n:04d}" if port == 80 else "static"
        argv = [sys.executable, "-c", CLIENT, str(port), PATH, mode, f"{start:.6f}"]
        argv += [str(duration), str(per_client), f"{n / lab.count:.6f}", expect]
        clients.append(
            subprocess.Popen(
                ["ip", "netns", "exec", lab.workload(n), *argv],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        )
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_before = cpu_seconds(server_pid)
    latencies: list[float] = []
    errors = wrong = 0
    for proc in clients:
        out, _ = proc.communicate(timeout=duration + 60)
        data = json.loads(out)
        latencies += data["latencies"]
        errors += data["errors"]
        wrong += data["wrong"]
    cpu = cpu_seconds(server_pid) - cpu_before
    result = Result(label, latencies, errors, wrong, duration, cpu)
    print(
        f"  {label:<40} {result.rate:8.1f} req/s  p50 {result.p(50):6.2f} ms  "
        f"p99 {result.p(99):6.2f} ms  errors {errors}  wrong {wrong}  "
        f"server CPU {100 * cpu / duration:5.1f} %",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="the paced load, req/s")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (namespaces)", file=sys.stderr)
        return 2
    lab = Lab(secrets.token_hex(3), Path(tempfile.mkdtemp(prefix="v6f-bench-md-")), args.workloads)
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[tuple[str, str, str], Result] = {}
    try:
        started = time.monotonic()
        build(lab)
        print(f"lab: {lab.count} workloads built in {time.monotonic() - started:.1f} s", flush=True)
        config, pid_file = lab.workdir / "proxy.json", lab.workdir / "proxy.pid"
        write_config(config, lab.spec())
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        proxy_argv = [sys.executable, "-m", "v6fabric.cli.main", "metadata-proxy"]
        proxy_argv += ["--config", str(config), "--pid-file", str(pid_file)]
        proxy_argv += ["--log-file", str(lab.workdir / "proxy.log")]
        processes.append(subprocess.Popen(proxy_argv, env=env, start_new_session=True))
        baseline_argv = [sys.executable, "-c", BASELINE, lab.ifname, str(BASELINE_PORT)]
        baseline = subprocess.Popen(
            ["ip", "netns", "exec", lab.serving, *baseline_argv],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        processes.append(baseline)
        assert baseline.stdout is not None and baseline.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 15
        while (proxy_pid := read_pid(pid_file)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the metadata proxy did not start")
            time.sleep(0.05)
        baseline_pid = baseline.pid  # ip netns exec execs python in place
        print(f"{load_note()}; {os.cpu_count()} cores; {args.duration:g} s per run", flush=True)
        for mode in ("fresh", "keep-alive"):
            for load, rate in (("max", 0.0), ("paced", args.rate)):
                for server, port, pid in (
                    ("baseline", BASELINE_PORT, baseline_pid),
                    ("proxy", 80, proxy_pid),
                ):
                    label = f"{server} {mode} {load}"
                    results[(server, mode, load)] = drive(
                        lab, label, port, mode, rate, args.duration, pid
                    )
    finally:
        problems = destroy(lab, processes)
        with contextlib.suppress(OSError):
            for path in lab.workdir.iterdir():
                path.unlink()
            lab.workdir.rmdir()
        if problems:
            print("cleanup problems:\n" + "\n".join(problems), file=sys.stderr)
    rows: list[Row] = []
    for mode in ("fresh", "keep-alive"):
        proxy_max, base_max = results[("proxy", mode, "max")], results[("baseline", mode, "max")]
        proxy_paced = results[("proxy", mode, "paced")]
        base_paced = results[("baseline", mode, "paced")]
        what = f"{lab.count} workloads, {'connection per request' if mode == 'fresh' else 'keep-alive'}"
        rows.append(
            Row(
                f"{what}: req/s (closed loop)",
                proxy_max.rate,
                "",
                ">= 1,000",
                proxy_max.rate >= TARGET_RATE,
                proxy_max.rate / base_max.rate,
            )
        )
        rows.append(
            Row(
                f"{what}: p50 latency, closed loop",
                proxy_max.p(50),
                "ms",
                ratio=proxy_max.p(50) / base_max.p(50),
            )
        )
        rows.append(
            Row(
                f"{what}: p99 latency, closed loop",
                proxy_max.p(99),
                "ms",
                ratio=proxy_max.p(99) / base_max.p(99),
            )
        )
        rows.append(
            Row(
                f"{what}: req/s at paced {args.rate:,.0f} req/s",
                proxy_paced.rate,
                "",
                ratio=proxy_paced.rate / base_paced.rate,
            )
        )
        rows.append(
            Row(
                f"{what}: p50 latency at {args.rate:,.0f} req/s",
                proxy_paced.p(50),
                "ms",
                ratio=proxy_paced.p(50) / base_paced.p(50),
            )
        )
        rows.append(
            Row(
                f"{what}: p99 latency at {args.rate:,.0f} req/s",
                proxy_paced.p(99),
                "ms",
                "<= 50 ms",
                proxy_paced.p(99) <= TARGET_P99_MS,
                proxy_paced.p(99) / base_paced.p(99),
            )
        )
        rows.append(
            Row(
                f"{what}: proxy CPU per request (closed loop)",
                1e6 * proxy_max.server_cpu / max(1, len(proxy_max.latencies)),
                "us",
                ratio=(proxy_max.server_cpu / max(1, len(proxy_max.latencies)))
                / max(1e-9, base_max.server_cpu / max(1, len(base_max.latencies))),
            )
        )
    bad = sum(r.errors + r.wrong for r in results.values())
    print_table(rows, "x baseline", widths=(72, 12, 10, 10))
    print(f"\nerrors or wrong answers over all runs: {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
