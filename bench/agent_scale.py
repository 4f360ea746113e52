#!/usr/bin/env python3
"""Agent scale benchmark: 500 ports on 20 networks behind one router, on one host.

Measured through the real API server (``v6fabric up --no-agent``) and the real agent in its own
process (``convergence.py --agent-child``: ``v6fabric agent``'s ``Agent`` plus timing wrappers),
talking HTTP, with bridges and taps in a ``v6h-`` namespace of this run:

1. topology: 20 networks with a SLAAC subnet each, one router joining them (API), until the
   agent has the router namespace, 20 ``qr-`` interfaces, 20 bridges and radvd in place;
2. plumbing: the ports are created unbound (bulk API calls), then bound to the host through the
   API by ``--clients`` concurrent clients, while the agent runs. Two ways to give a port a
   NIC on the host (``--mode``):

   * ``taps`` (default): the taps are pre-created, as a hypervisor does (one ``ip tuntap`` each,
     in one ``ip -batch``, before the binding), and each port is bound with
     ``PUT /v2.0/ports/ID {"binding:host_id": HOST}`` (Nova's binding). The agent enslaves each
     tap to its network's bridge, sets MTU and up, and reports the port ACTIVE. This is the
     controller's work for a port;
   * ``workloads``: one namespace workload per port through ``POST /fabric/v1/workloads``; the
     agent also plays the hypervisor and plugs each (namespace, veth, guest agent with its
     DHCP clients), then enslaves the tap. This adds "booting the VM" to every port.

   Figures: the API phase (first to last call), the time from the last API call to all ports
   ACTIVE as the API reports them (``GET /v2.0/ports`` every 100 ms; the agent's own status
   report gives the exact instant), and ports/s = ports / (first call -> all ACTIVE);
3. resync: the agent is stopped (SIGTERM) and a fresh one started on the same run directory
   with nothing changed: its first pass's seconds, actions and driver writes (target: <= 2 s,
   zero writes), and the time from process start to that pass done;
4. one more port at scale (``--incremental``, taps mode): bind -> ACTIVE, one at a time;
5. late tap (taps mode; ``--no-late-tap`` or ``--quick`` skip it): Nova's order, binding first
   and the tap 1 s after the agent's pass: how long until ACTIVE (the agent long-polls its
   state; nothing tells it that a tap appeared);
6. teardown: everything deleted through the API (ports, interfaces, router, subnets,
   networks; workloads first), until the agent has removed what it made.

Memory: VmRSS and VmHWM (peak) of the agent process, read from /proc (it is a separate
process, as in production; no tracemalloc), after the plumbing and after the resync; in
workloads mode also the guests' processes (guest agents and dhclients) in total.

Baseline, in the same run: the kernel's floor for the same link work, one ``ip -batch`` that
enslaves and sets up 500 taps to one bridge in a scratch namespace; ``GET /`` on the API; one
immediate ``GET`` of the host's state at full size (the server compiling it).

    .venv/bin/python bench/agent_scale.py                     # 500 ports, 20 networks, taps (~1 min)
    .venv/bin/python bench/agent_scale.py --quick             # 100 ports, 5 networks (~15 s)
    .venv/bin/python bench/agent_scale.py --mode workloads    # 500 real workloads (~2 min, ~6 GB)

Nothing asserts; ``--strict`` exits 1 on a missed target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from api_ports import (  # noqa: E402
    Row,
    Server,
    Session,
    load_note,
    login,
    machine_busy_seconds,
    ms,
    read_openrc,
    start_server,
)
from convergence import (  # noqa: E402
    AgentProcess,
    Api,
    Tracked,
    claimed_namespaces,
    delete_all,
    force_clean,
    median,
    namespaces,
    now,
    openrc_env,
    print_table,
    proc_status_kb,
    processes_mentioning,
    run_quiet,
    unlimited_quotas,
    wait_until,
)

from v6fabric.hoststate.model import bridge_name, tap_name  # noqa: E402

TARGET_PORTS_PER_S = 200.0
TARGET_RESYNC_S = 2.0
TARGET_RESYNC_WRITES = 0
GUEST_MB = 22.0  # RSS of a workload: guest agent (~13.5 MB) + its dhclient -4 (measured)
ACTIVE_POLL = 0.1
BULK = 250


# --- helpers ------------------------------------------------------------------------------------


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ip_batch(netns: str, lines: list[str]) -> tuple[float, str]:
    """One ``ip -n NS -force -batch -``; (seconds, stderr)."""
    started = now()
    done = run_quiet(["ip", "-n", netns, "-force", "-batch", "-"], input="\n".join(lines) + "\n")
    return now() - started, done.stderr.strip()


def parallel(sessions: list[Api], items: list[Any], call: Callable[[Api, Any], None]) -> None:
    """``call(api, item)`` for every item, spread over the clients (one thread each)."""
    lock = threading.Lock()
    queue = list(reversed(items))
    errors: list[BaseException] = []

    def worker(api: Api) -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                item = queue.pop()
            try:
                call(api, item)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(api,)) for api in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def active_count(api: Api, port_ids: set[str]) -> int:
    ports = api.get("/v2.0/ports?fields=id&fields=status")["ports"]
    return sum(1 for p in ports if p["id"] in port_ids and p["status"] == "ACTIVE")


def wait_all_active(api: Api, port_ids: set[str], timeout: float) -> tuple[float, int]:
    """(monotonic time the API first reported all ACTIVE or nan, how many were ACTIVE)."""
    deadline = now() + timeout
    count = 0
    while now() < deadline:
        count = active_count(api, port_ids)
        if count == len(port_ids):
            return now(), count
        time.sleep(ACTIVE_POLL)
    return float("nan"), count


def kernel_floor(tag: str, count: int, mtu: int = 1500) -> float:
    """The same link work done by hand: ``count`` taps enslaved to a bridge, MTU set and up, in
    one ``ip -batch``, in a scratch namespace of ours (deleted after)."""
    scratch = f"v6bench-{tag}-floor"
    run_quiet(["ip", "netns", "add", scratch])
    try:
        taps = [f"tfl{i:05d}" for i in range(count)]
        ip_batch(scratch, ["link add br0 type bridge", "link set br0 up"])
        ip_batch(scratch, [f"tuntap add dev {t} mode tap" for t in taps])
        seconds, _ = ip_batch(scratch, [f"link set dev {t} master br0 mtu {mtu} up" for t in taps])
        return seconds
    finally:
        run_quiet(["ip", "netns", "delete", scratch])


def pass_summary(event: dict[str, Any]) -> str:
    top = sorted(event["timings"].items(), key=lambda kv: -kv[1][1])[:5]
    timing = ", ".join(f"{k} {v[0]}x {ms(v[1]):.0f} ms" for k, v in top)
    return (
        f"{event['seconds']:.3f} s, {event['rounds']} round(s), {event['n_applied']} actions "
        f"{event['applied']}, {event['writes']} writes; slowest: {timing}"
    )


def guests_memory_mb(run_dir: Path) -> tuple[float, float, int]:
    """(total RSS, total PSS, process count) of the processes started from the run dir: guest
    agents, their dhclients, radvd. PSS splits shared pages (the Python binary and libraries)
    between the processes that map them: the memory they really cost the machine."""
    rss, pss, count = 0, 0, 0
    for pid in processes_mentioning(str(run_dir)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
            count += 1
    return rss / 1024, pss / 1024, count


# --- the run --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ports", type=int, default=500, help="ports (500)")
    parser.add_argument("--networks", type=int, default=20, help="networks (20)")
    parser.add_argument("--mode", choices=("taps", "workloads"), default="taps")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients (8)")
    parser.add_argument("--incremental", type=int, default=10, help="single binds at scale (10)")
    parser.add_argument(
        "--no-late-tap",
        dest="late_tap",
        action="store_false",
        help="skip the Nova-order check (bind, then tap; up to ~30 s); --quick skips it too",
    )
    parser.add_argument("--quick", action="store_true", help="100 ports on 5 networks")
    parser.add_argument("--keep-work", action="store_true", help="keep logs and agent events")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.ports, args.networks = min(args.ports, 100), min(args.networks, 5)
        args.incremental = min(args.incremental, 5)
        args.late_tap = False
    if os.geteuid() != 0:
        raise SystemExit("needs root: real namespaces")
    if args.mode == "workloads":
        need = args.ports * GUEST_MB
        if need > 0.6 * mem_available_mb():
            raise SystemExit(
                f"{args.ports} workloads need ~{need:,.0f} MB; only {mem_available_mb():,.0f} MB "
                "available: use fewer --ports or --mode taps"
            )

    tag = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"v6f-bench-scale-{tag}-"))
    run_dir = Path(tempfile.mkdtemp(prefix=f"v6f-bench-scale-{tag}-run-"))
    run_dir.chmod(0o755)
    host, host_netns = f"bench-scale-{tag}", f"v6h-bs{tag}"
    server: Server | None = None
    ctx: dict[str, Any] = {"agent": None}
    api: Api | None = None
    tracked = Tracked()
    try:
        server = start_server(work, "auto")
        session = login(read_openrc(server.openrc))
        api = Api(session)
        return _bench(
            args, tag, work, run_dir, host, host_netns, server, session, api, ctx, tracked
        )
    finally:
        agent: AgentProcess | None = ctx["agent"]
        if api is not None and server is not None and server.proc and server.proc.poll() is None:
            with contextlib.suppress(Exception):
                clients = [api] + [Api(session) for _ in range(args.clients - 1)]
                parallel(
                    clients, tracked.workloads,
                    lambda a, w: a.call("DELETE", f"/fabric/v1/workloads/{w}", expect=(204, 404)),
                )  # fmt: skip
                tracked.workloads.clear()
                parallel(
                    clients, tracked.ports,
                    lambda a, p: a.call("DELETE", f"/v2.0/ports/{p}", expect=(204, 404)),
                )  # fmt: skip
                tracked.ports.clear()
                delete_all(api, tracked)
                if agent is not None and agent.alive():
                    wait_until(lambda: not (claimed_namespaces(run_dir) & namespaces()), 120, 0.2)
            api.close()
        if agent is not None:
            agent.stop()
        if server is not None:
            server.stop()
        left = force_clean(run_dir, host_netns, set())
        if left:
            print(f"cleanup removed what the agent had left: {left[:10]} ({len(left)} items)")
        if args.keep_work:
            print(f"logs and events kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(
    args: argparse.Namespace,
    tag: str,
    work: Path,
    run_dir: Path,
    host: str,
    host_netns: str,
    server: Server,
    session: Session,
    api: Api,
    ctx: dict[str, Any],
    tracked: Tracked,
) -> int:
    rows: list[Row] = []
    n = args.ports
    print(
        f"v6fabric agent scale benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"{platform.node()}  {os.cpu_count()} CPUs  Python {platform.python_version()}  "
        f"{mem_available_mb():,.0f} MB available"
    )
    print(
        f"{n} ports on {args.networks} networks (SLAAC), one router; mode {args.mode}; "
        f"{args.clients} API clients"
    )
    busy0, t_busy = machine_busy_seconds(), now()
    time.sleep(1.0)
    idle_load = (machine_busy_seconds() - busy0) / (now() - t_busy)
    print(f"machine: {load_note()}; {idle_load:.2f} cores busy in the second before the run")

    floor = kernel_floor(tag, n)
    print(f"baseline: one ip -batch enslaving {n} taps to a bridge (MTU, up): {ms(floor):.1f} ms")

    env = openrc_env(server.openrc)
    agent = AgentProcess.start(env, session.base, host, host_netns, run_dir, work, "main")
    ctx["agent"] = agent
    if not wait_until(
        lambda: api.call("GET", f"/fabric/v1/hosts/{host}", expect=(200, 404))[0], 30
    ):
        raise SystemExit(f"the agent did not register:\n{agent.tail()}")
    wait_until(lambda: host_netns in namespaces() and agent.passes(), 30)
    print(f"agent: pid {agent.pid}, host {host}, bridges and taps in {host_netns}")
    unlimited_quotas(api)
    clients = [api] + [Api(session) for _ in range(args.clients - 1)]

    # 1. topology
    t_topo = now()
    subnets = []
    for i in range(args.networks):
        net = api.call("POST", "/v2.0/networks", {"network": {"name": f"b{tag}-n{i}"}})[0][
            "network"
        ]
        tracked.networks.append(net["id"])
        body = {
            "subnet": {
                "network_id": net["id"], "name": f"b{tag}-s{i}", "ip_version": 6,
                "cidr": f"2001:db8:5c:{i:x}::/64", "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "slaac",
            }
        }  # fmt: skip
        subnets.append(api.call("POST", "/v2.0/subnets", body)[0]["subnet"])
        tracked.subnets.append(subnets[-1]["id"])
    router = api.call("POST", "/v2.0/routers", {"router": {"name": f"b{tag}-r"}})[0]["router"]
    tracked.routers[router["id"]] = []
    for subnet in subnets:
        api.call(
            "PUT", f"/v2.0/routers/{router['id']}/add_router_interface",
            {"subnet_id": subnet["id"]}, 200,
        )  # fmt: skip
        tracked.routers[router["id"]].append(subnet["id"])
    t_topo_api = now()
    router_ports = {
        p["id"] for p in api.get(f"/v2.0/ports?device_id={router['id']}&fields=id")["ports"]
    }
    t_topo_done, _ = wait_all_active(api, router_ports, 60)
    print(
        f"\n1. topology: {args.networks} networks + subnets + router with {len(router_ports)} "
        f"interfaces: API {t_topo_api - t_topo:.2f} s, all router ports ACTIVE "
        f"{t_topo_done - t_topo_api:.2f} s after the last call"
    )
    rows.append(
        Row(
            f"topology: last API call -> {len(router_ports)} router ports ACTIVE",
            t_topo_done - t_topo_api,
            "s",
        )
    )

    # 2. ports, unbound, in bulk
    nets = tracked.networks
    bodies = [{"network_id": nets[i % len(nets)], "name": f"b{tag}-p{i}"} for i in range(n)]
    passes_before = len(agent.passes())
    ports: list[dict[str, Any]] = []
    t_bulk = now()
    for chunk in range(0, n, BULK):
        got = api.call("POST", "/v2.0/ports", {"ports": bodies[chunk : chunk + BULK]})[0]["ports"]
        ports += got
        tracked.ports += [p["id"] for p in got]
    t_bulk_done = now()
    time.sleep(0.5)
    woken = len(agent.passes()) - passes_before
    print(
        f"2. {n} unbound ports in {-(-n // BULK)} bulk calls: {t_bulk_done - t_bulk:.2f} s; "
        f"agent passes they caused: {woken} (unbound ports are on no host)"
    )
    port_ids = {p["id"] for p in ports}
    taps = [tap_name(p) for p in sorted(port_ids)] if args.mode == "taps" else []

    if args.mode == "taps":
        seconds, err = ip_batch(host_netns, [f"tuntap add dev {tap} mode tap" for tap in taps])
        print(f"   hypervisor: {n} taps created in {host_netns} in {seconds:.2f} s {err[:200]}")

        def bind(a: Api, port_id: str) -> None:
            a.call("PUT", f"/v2.0/ports/{port_id}", {"port": {"binding:host_id": host}}, 200)

        items: list[Any] = sorted(port_ids)
        what = "PUT binding:host_id"
    else:

        def bind(a: Api, port_id: str) -> None:
            body = {"workload": {"name": f"b{tag}-w", "host": host, "port_ids": [port_id]}}
            created = a.call("POST", "/fabric/v1/workloads", body)[0]["workload"]
            with lock:
                tracked.workloads.append(created["id"])

        items = sorted(port_ids)
        what = "POST /fabric/v1/workloads"
    lock = threading.Lock()

    cpu0 = (server.cpu(), agent.cpu())
    busy0 = machine_busy_seconds()
    mark = len(agent.read_events())
    t_first = now()
    parallel(clients, items, bind)
    t_last = now()
    t_active, count = wait_all_active(api, port_ids, 600 if args.mode == "workloads" else 120)
    events = agent.read_events()[mark:]
    wall = (t_active if t_active == t_active else now()) - t_first
    server_cpu, agent_cpu = server.cpu() - cpu0[0], agent.cpu() - cpu0[1]
    busy = (machine_busy_seconds() - busy0) / wall
    passes = [e for e in events if e["ev"] == "pass"]
    statuses = [e for e in events if e["ev"] == "status"]
    total_ports = n + len(router_ports)
    # the agent's own instant: the status report after the pass that left all n ACTIVE
    complete = next((e for e in passes if e["workload_active"] >= n), None)
    exact = float("nan")
    if complete is not None:
        exact = next((e["t1"] for e in statuses if e["t0"] >= complete["t1"] - 1e-6), exact)
    agent_rss = proc_status_kb(agent.pid, "VmRSS") or 0
    agent_hwm = proc_status_kb(agent.pid, "VmHWM") or 0
    print(
        f"   {what} x {n} with {args.clients} clients: {t_last - t_first:.2f} s "
        f"({n / (t_last - t_first):.0f}/s)"
    )
    print(
        f"   all {n} ports ACTIVE (API): {t_active - t_last:.2f} s after the last call "
        f"(agent's status report: {exact - t_last:.2f} s); {count}/{n} ACTIVE; "
        f"first call -> all ACTIVE {wall:.2f} s = {n / wall:.0f} ports/s"
    )
    print(f"   agent passes meanwhile: {len(passes)}")
    for e in passes:
        print(
            f"     pass at +{e['t0'] - t_first:6.2f} s: {e['workload_active']}/{e['workload_ports']}"
            f" workload ports ACTIVE after it; {pass_summary(e)}"
        )
    rate = n / wall if wall == wall else float("nan")
    rows.append(
        Row(f"plumbing: {what} x {n}, {args.clients} clients (API phase)", t_last - t_first, "s")
    )
    rows.append(
        Row(f"plumbing: last API call -> all {n} ports ACTIVE (API)", t_active - t_last, "s")
    )
    rows.append(Row("plumbing: last API call -> agent's status report of all", exact - t_last, "s"))
    rows.append(Row("plumbing: first call -> all ACTIVE", wall, "s", ratio=wall / floor))
    rows.append(
        Row(
            "plumbing: ports/s (first call -> all ACTIVE)",
            rate,
            "/s",
            f">= {TARGET_PORTS_PER_S:.0f}",
            rate >= TARGET_PORTS_PER_S,
        )
    )
    tail = t_active - t_last
    rows.append(
        Row(
            "plumbing: ports / (last call -> all ACTIVE)",
            n / tail if tail > 0 else float("nan"),
            "/s",
        )
    )
    if passes:
        biggest = max(passes, key=lambda e: e["seconds"])
        rows.append(Row("plumbing: agent passes", len(passes), ""))
        rows.append(
            Row(
                "plumbing: longest agent pass",
                biggest["seconds"],
                "s",
                ratio=biggest["seconds"] / floor,
            )
        )
        link_s = sum(e["timings"].get("netlink.apply", [0, 0.0])[1] for e in passes)
        obs_s = sum(e["timings"].get("observe", [0, 0.0])[1] for e in passes)
        plug_s = sum(e["timings"].get("workloads.plug", [0, 0.0])[1] for e in passes)
        rows.append(
            Row(
                "plumbing: agent time in link ops (ip -batch), all passes",
                link_s,
                "s",
                ratio=link_s / floor,
            )
        )
        rows.append(Row("plumbing: agent time in observe, all passes", obs_s, "s"))
        if plug_s:
            rows.append(Row("plumbing: agent time plugging workloads, all passes", plug_s, "s"))
    rows.append(Row("plumbing: CPU server (cores)", server_cpu / wall, "cores"))
    rows.append(Row("plumbing: CPU agent (cores)", agent_cpu / wall, "cores"))
    rows.append(Row("plumbing: CPU whole machine (cores)", busy, "cores"))
    rows.append(Row(f"memory: agent VmRSS after plumbing {n}", agent_rss / 1024, "MB"))
    rows.append(Row("memory: agent VmHWM (peak) so far", agent_hwm / 1024, "MB"))
    rows.append(
        Row("memory: server VmRSS", (proc_status_kb(server.pid, "VmRSS") or 0) / 1024, "MB")
    )
    if args.mode == "workloads":
        guests_rss, guests_pss, procs = guests_memory_mb(run_dir)
        rows.append(
            Row(f"memory: {procs} processes of the workloads (+radvd), RSS", guests_rss, "MB")
        )
        rows.append(Row("memory: the same, PSS (shared pages split)", guests_pss, "MB"))
        rows.append(Row("memory: per workload, RSS", guests_rss / max(1, n), "MB"))
        rows.append(Row("memory: per workload, PSS", guests_pss / max(1, n), "MB"))

    base_root = statistics.median(_timed(lambda: api.call("GET", "/", expect=200), 30))
    base_state = statistics.median(
        _timed(lambda: api.call("GET", f"/fabric/v1/hosts/{host}/state", expect=200), 10)
    )
    rows.insert(
        0,
        Row(
            f"baseline: ip -batch: {n} taps -> bridge, MTU, up (kernel floor)",
            ms(floor),
            "ms",
            ratio=1.0,
        ),
    )
    rows.insert(1, Row("baseline: GET / on the API", ms(base_root), "ms"))
    rows.insert(
        2,
        Row(
            f"baseline: GET host state at {total_ports} ports (compile + encode)",
            ms(base_state),
            "ms",
        ),
    )

    # 3. resync: a fresh agent on the same run dir, nothing changed
    agent.stop()
    fresh = AgentProcess.start(env, session.base, host, host_netns, run_dir, work, "resync")
    ctx["agent"] = fresh
    first = wait_until(lambda: fresh.passes(), 60, 0.02)
    if not first:
        raise SystemExit(f"the fresh agent made no pass:\n{fresh.tail()}")
    resync = first[0]
    time.sleep(0.3)
    still_active = active_count(api, port_ids)
    fresh_rss = proc_status_kb(fresh.pid, "VmRSS") or 0
    fresh_hwm = proc_status_kb(fresh.pid, "VmHWM") or 0
    print(
        f"\n3. resync (fresh agent, same run dir, nothing changed): first pass {pass_summary(resync)}"
        f"; process start -> pass done {resync['t1'] - fresh.started:.2f} s; "
        f"{still_active}/{n} ports still ACTIVE"
    )
    rows.append(
        Row("resync: first pass of a fresh agent, seconds", resync["seconds"], "s",
            f"<= {TARGET_RESYNC_S:.0f} s", resync["seconds"] <= TARGET_RESYNC_S,
            resync["seconds"] / floor)
    )  # fmt: skip
    rows.append(
        Row("resync: driver writes (ip lines, sysctl/file writes, signals)", resync["writes"], "",
            f"= {TARGET_RESYNC_WRITES}", resync["writes"] == TARGET_RESYNC_WRITES)
    )  # fmt: skip
    rows.append(Row("resync: actions applied", resync["n_applied"], ""))
    rows.append(
        Row(
            "resync: observe in that pass",
            resync["timings"].get("observe", [0, 0.0])[1],
            "s",
        )
    )
    rows.append(Row("resync: plan", resync["timings"].get("plan", [0, 0.0])[1], "s"))
    rows.append(Row("resync: process start -> first pass done", resync["t1"] - fresh.started, "s"))
    rows.append(Row("memory: fresh agent VmRSS after its first pass", fresh_rss / 1024, "MB"))
    rows.append(Row("memory: fresh agent VmHWM (peak)", fresh_hwm / 1024, "MB"))

    # 4. one more port at scale
    if args.mode == "taps" and args.incremental:
        times, passes_s = [], []
        for i in range(args.incremental):
            port = api.call(
                "POST",
                "/v2.0/ports",
                {"port": {"network_id": nets[i % len(nets)], "name": f"b{tag}-x{i}"}},
            )[0]["port"]
            tracked.ports.append(port["id"])
            taps.append(tap_name(port["id"]))
            ip_batch(host_netns, [f"tuntap add dev {taps[-1]} mode tap"])
            mark = len(fresh.read_events())
            _, t0 = api.call(
                "PUT", f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": host}}, 200
            )
            while now() - t0 < 30:
                if api.get(f"/v2.0/ports/{port['id']}?fields=status")["port"]["status"] == "ACTIVE":
                    break
                time.sleep(0.01)
            times.append(now() - t0)
            done = next(
                (
                    e
                    for e in fresh.read_events()[mark:]
                    if e["ev"] == "pass" and port["id"] in e["new_active"]
                ),
                None,
            )
            passes_s.append(done["seconds"] if done else float("nan"))
            time.sleep(0.1)
        print(
            f"\n4. one more port at {n} ports (bind -> ACTIVE, {args.incremental} times): "
            f"p50 {ms(median(times)):.0f} ms, max {ms(max(times)):.0f} ms; agent pass p50 "
            f"{ms(median(passes_s)):.0f} ms"
        )
        rows.append(Row(f"one more port at {n}: bind -> ACTIVE, p50", ms(median(times)), "ms"))
        rows.append(Row(f"one more port at {n}: bind -> ACTIVE, max", ms(max(times)), "ms"))
        rows.append(Row(f"one more port at {n}: agent pass, p50", ms(median(passes_s)), "ms"))

    # 5. Nova's order: bind first, tap afterwards
    if args.mode == "taps" and args.late_tap:
        port = api.call(
            "POST", "/v2.0/ports", {"port": {"network_id": nets[0], "name": f"b{tag}-late"}}
        )[0]["port"]
        tracked.ports.append(port["id"])
        mark = len(fresh.read_events())
        api.call("PUT", f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": host}}, 200)
        wait_until(lambda: any(e["ev"] == "status" for e in fresh.read_events()[mark:]), 10, 0.02)
        time.sleep(1.0)
        t0 = now()
        taps.append(tap_name(port["id"]))
        ip_batch(host_netns, [f"tuntap add dev {taps[-1]} mode tap"])
        while now() - t0 < 45:
            if api.get(f"/v2.0/ports/{port['id']}?fields=status")["port"]["status"] == "ACTIVE":
                break
            time.sleep(0.05)
        late = now() - t0
        print(
            f"\n5. tap created 1 s after the binding's pass: port ACTIVE {late:.2f} s after the tap"
        )
        rows.append(Row("late tap (bind, then tap): tap -> ACTIVE", late, "s"))

    # 6. teardown through the API
    network_ids = list(tracked.networks)
    t_del = now()
    if tracked.workloads:
        parallel(
            clients,
            tracked.workloads,
            lambda a, w: a.call("DELETE", f"/fabric/v1/workloads/{w}", expect=(204, 404)),
        )
        tracked.workloads.clear()
    parallel(
        clients, tracked.ports, lambda a, p: a.call("DELETE", f"/v2.0/ports/{p}", expect=(204, 404))
    )
    deleted_ports = len(tracked.ports)
    tracked.ports.clear()
    delete_all(api, tracked)
    t_del_last = now()
    bridges = {bridge_name(x) for x in network_ids}

    def clean() -> bool:
        if claimed_namespaces(run_dir) & namespaces():
            return False
        links = run_quiet(["ip", "-n", host_netns, "-o", "link", "show", "type", "bridge"]).stdout
        return not any(b in links for b in bridges)

    ok = wait_until(clean, 300, 0.1)
    t_clean = now()
    print(
        f"\n6. teardown: {deleted_ports} ports, {len(network_ids)} networks, the router (and "
        f"workloads) deleted through the API in {t_del_last - t_del:.2f} s; host clean "
        f"{t_clean - t_del_last:.2f} s after the last call" + ("" if ok else " (TIMED OUT)")
    )
    rows.append(Row("teardown: API deletes", t_del_last - t_del, "s"))
    rows.append(
        Row("teardown: last API call -> agent removed everything", t_clean - t_del_last, "s")
    )
    if args.mode == "taps":
        seconds, _ = ip_batch(host_netns, [f"tuntap del dev {tap} mode tap" for tap in taps])
        print(f"   hypervisor: taps deleted in {seconds:.2f} s")

    print(f"\nmachine: {load_note()} after the run; {idle_load:.2f} cores busy before it")
    print_table(rows, "x floor")
    failed = [r.what for r in rows if r.ok is False]
    print(f"\n{len(failed)} target(s) missed" + (": " + "; ".join(failed) if failed else ""))
    return 1 if failed and args.strict else 0


def _timed(call: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = now()
        call()
        out.append(now() - t)
    return out


if __name__ == "__main__":
    sys.exit(main())
