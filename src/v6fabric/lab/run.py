"""Bringing a lab up and down: the underlay, one ``v6fabric up --no-agent`` server process
(listening on 127.0.0.1 and on the controller's underlay addresses), one ``v6fabric agent
--netns`` process per host, reaching the server over the underlay only.

Everything lives under the lab's directory (``/run/v6fabric/labs/<tag>`` by default) and is
named with the tag; a record ``/run/v6fabric/labs/<tag>.json`` says where the directory is and
which pids are the lab's, so that ``down(tag)`` also works from another process after a crash.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from v6fabric.cli.client import FabricClient
from v6fabric.cli.credentials import Credentials, parse_openrc
from v6fabric.cli.up import _die_with_parent
from v6fabric.lab import cleanup
from v6fabric.lab import underlay as wires
from v6fabric.lab.plan import LAB_ROOT, HostPlan, LabPlan, plan

START_TIMEOUT = 60.0  # the server's start and every agent's registration (2 busy cores)
OPENRC = "admin-openrc.sh"


class LabError(RuntimeError):
    pass


@dataclass
class LabHost:
    name: str
    index: int
    netns: str
    underlay: dict[str, str]  # {"ipv4": ..., "ipv6": ...} as registered
    roles: tuple[str, ...]
    run_dir: Path  # the agent's --run-dir (guests' files, daemons' configs, claims)
    log: Path
    pid: int


@dataclass
class LabHandle:
    """A running lab. ``api_url``: the server on 127.0.0.1 (tests, the CLI); ``agent_url``:
    the same server at the controller's underlay address (what the agents use)."""

    plan: LabPlan
    lab_dir: Path
    state_dir: Path
    api_url: str
    agent_url: str
    openrc: Path
    credentials: Credentials
    server_pid: int
    server_log: Path
    hosts: list[LabHost]
    seconds: float = 0.0  # how long ``up`` took
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _token: str | None = field(default=None, repr=False)

    @property
    def tag(self) -> str:
        return self.plan.tag

    def host(self, name_or_index: str | int) -> LabHost:
        for host in self.hosts:
            if name_or_index in (host.name, host.index):
                return host
        raise KeyError(name_or_index)

    def token(self) -> str:
        if self._token is None:
            with FabricClient(self.credentials) as client:
                self._token = client.session.token
        return self._token

    def client(self, timeout: float = 30) -> httpx.Client:
        """An admin's HTTP client of the API (the caller closes it)."""
        return httpx.Client(
            base_url=self.api_url, headers={"X-Auth-Token": self.token()}, timeout=timeout
        )

    def hosts_registered(self) -> dict[str, dict[str, Any]]:
        """``GET /fabric/v1/hosts`` by name."""
        with self.client() as http:
            response = http.get("/fabric/v1/hosts")
            response.raise_for_status()
            return {h["name"]: h for h in response.json()["hosts"]}

    def host_state(self, name: str) -> dict[str, Any]:
        """The host's compiled state as the server serves it (JSON)."""
        with self.client() as http:
            response = http.get(f"/fabric/v1/hosts/{name}/state")
            response.raise_for_status()
            return response.json()

    def attach_physical(self, physnet: str, netns: str, ifname: str = "eth0") -> str:
        """Cable the caller's namespace ``netns`` into the segment of physical network
        ``physnet`` (as an upstream router on it): ``ifname`` appears in ``netns``, down. The
        name of the bridge port (in the underlay namespace) is returned; it goes with either
        namespace."""
        if physnet not in self.plan.physical_networks:
            raise LabError(f"lab {self.tag} has no physical network {physnet!r}")
        peer = f"px{secrets.token_hex(5)}"
        wires.attach_physical(self.plan, physnet, netns, ifname, peer)
        return peer

    def down(self) -> None:
        """Stop and remove everything of the lab; raises ``LabError`` listing what is left."""
        for proc in self._processes:  # ours to reap: no zombie left behind
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self._processes:
            try:
                proc.wait(cleanup.TERM_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        down(self.tag, self.lab_dir)


def down(tag: str, lab_dir: Path | None = None) -> None:
    """Remove lab ``tag`` (processes, namespaces, files), running or crashed."""
    problems = cleanup.remove(tag, lab_dir)
    if problems:
        raise LabError(f"lab {tag}: left behind:\n" + "\n".join(problems))


def up(
    hosts: int = 3,
    underlay: str = "ipv6",
    tag: str | None = None,
    *,
    state_dir: Path | None = None,
    timeout: float = START_TIMEOUT,
    verbose: bool = False,
    physical_networks: tuple[str, ...] = (),
    l3_hosts: int = 1,
    l3_agent_down_seconds: float | None = None,
    heartbeat_seconds: float | None = None,
    ipv6_gateway: str | None = None,
    max_l3_agents_per_router: int | None = None,
) -> LabHandle:
    """Start a lab of ``hosts`` hosts; on any failure everything made so far is removed.
    ``state_dir``: the lab's directory (default ``/run/v6fabric/labs/<tag>``), removed by
    ``down``. ``verbose``: agents log every action. ``physical_networks``: a segment each,
    every host's ``eth<k>`` on the k-th (``attach_physical`` cables a test's namespace in).
    ``l3_hosts``: hosts 1..n have the network role (routers spread over them).
    ``l3_agent_down_seconds`` (the server's) and ``heartbeat_seconds`` (the agents'): short
    ones make router failover quick. ``ipv6_gateway``: the server's upstream next hop for
    routers whose external network gives none (``V6FABRIC_IPV6_GATEWAY``).
    ``max_l3_agents_per_router``: how many instances an HA router gets (the server's)."""
    started = time.monotonic()
    lab = plan(hosts, underlay, tag, tuple(physical_networks), l3_hosts=l3_hosts)
    lab_dir = Path(state_dir) if state_dir else LAB_ROOT / lab.tag
    if cleanup.record_path(lab.tag).exists() or lab_dir.exists():
        raise LabError(f"lab {lab.tag} exists already ({lab_dir}): `v6fabric lab down`")
    processes: list[subprocess.Popen[bytes]] = []
    record: dict[str, object] = {"tag": lab.tag, "lab_dir": str(lab_dir), "agent_pids": []}
    try:
        cleanup.write_record(lab.tag, record)
        lab_dir.mkdir(parents=True)
        lab_dir.chmod(0o755)  # dnsmasq reads its hosts file as nobody
        port = _free_port()
        server_env = {
            "V6FABRIC_L3_AGENT_DOWN_SECONDS": l3_agent_down_seconds,
            "V6FABRIC_IPV6_GATEWAY": ipv6_gateway,
            "V6FABRIC_MAX_L3_AGENTS_PER_ROUTER": max_l3_agents_per_router,
        }
        server = _start_server(lab, lab_dir, port, server_env)
        processes.append(server)
        record["server_pid"] = server.pid
        cleanup.write_record(lab.tag, record)
        wires.build(lab)  # while the server starts
        api_url = f"http://127.0.0.1:{port}"
        shown = f"[{lab.controller}]" if ":" in lab.controller else lab.controller
        agent_url = f"http://{shown}:{port}"
        openrc = lab_dir / "server" / OPENRC
        server_log = lab_dir / "server.log"
        _wait("the server", server, server_log, timeout, lambda: _answers(api_url))
        env = parse_openrc(openrc.read_text())
        credentials = Credentials.from_env(env)
        agent_env = {**env, "OS_AUTH_URL": f"{agent_url}/identity/v3"}
        lab_hosts = []
        for host in lab.hosts:
            proc, lab_host = _start_agent(
                host, lab_dir, agent_url, agent_env, verbose, heartbeat_seconds
            )
            processes.append(proc)
            lab_hosts.append(lab_host)
        record["agent_pids"] = [h.pid for h in lab_hosts]
        cleanup.write_record(lab.tag, record)
        handle = LabHandle(
            lab,
            lab_dir,
            lab_dir / "server",
            api_url,
            agent_url,
            openrc,
            credentials,
            server.pid,
            server_log,
            lab_hosts,
            _processes=processes,
        )
        names = {h.name for h in lab.hosts}

        def registered() -> bool:
            for proc, host in zip(processes[1:], lab_hosts, strict=True):
                if proc.poll() is not None:
                    raise LabError(f"agent {host.name} ended: {_tail(host.log)}")
            return names <= set(handle.hosts_registered())

        _wait("every agent to register", server, server_log, timeout, registered)
        handle.seconds = time.monotonic() - started
        return handle
    except BaseException:
        for proc in processes:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        cleanup.remove(lab.tag, lab_dir)
        raise


def _python_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "v6fabric.cli.main", *args]


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "V6FABRIC_"))}
    return {**env, **(extra or {})}


def _start_server(
    lab: LabPlan, lab_dir: Path, port: int, settings: dict[str, object]
) -> subprocess.Popen[bytes]:
    """``settings``: the server's V6FABRIC_* variables (None: its default)."""
    argv = _python_argv(
        "up",
        "--no-agent",
        "--state-dir",
        str(lab_dir / "server"),
        "--api-port",
        str(port),
        "--overlay-ip-version",
        str(lab.overlay_ip_version),
        "--listen-netns",
        lab.netns,
    )
    for address in lab.controller_addresses:
        argv += ["--listen-address", address]
    extra = {name: str(value) for name, value in settings.items() if value is not None}
    return _spawn(argv, _child_env(extra), lab_dir / "server.log")


def _start_agent(
    host: HostPlan,
    lab_dir: Path,
    agent_url: str,
    env: dict[str, str],
    verbose: bool,
    heartbeat_seconds: float | None = None,
) -> tuple[subprocess.Popen[bytes], LabHost]:
    host_dir = lab_dir / "hosts" / str(host.index)
    run_dir = host_dir / "run"
    run_dir.mkdir(parents=True)
    for path in (host_dir.parent, host_dir, run_dir):
        path.chmod(0o755)
    argv = _python_argv(
        "agent",
        "--server",
        agent_url,
        "--host",
        host.name,
        "--netns",
        host.netns,
        "--run-dir",
        str(run_dir),
        "--roles",
        ",".join(host.roles),
    )
    for address in host.underlay.values():
        argv += ["--underlay-ip", address]
    for physnet, iface in host.physical_networks.items():
        argv += ["--physical-network", f"{physnet}={iface}"]
    if heartbeat_seconds is not None:
        argv += ["--heartbeat-seconds", str(heartbeat_seconds)]
    if verbose:
        argv.append("--verbose")
    log = host_dir / "agent.log"
    proc = _spawn(argv, _child_env(env), log)
    lab_host = LabHost(
        host.name, host.index, host.netns, host.underlay, host.roles, run_dir, log, proc.pid
    )
    return proc, lab_host


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Its own session (a terminal's Ctrl-C reaches the lab, which stops them in order) and
    SIGTERM when its parent ends, however that ends."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def _wait(what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, probe: Any) -> None:
    """Until ``probe()``; fails at once if ``proc`` ended (with its log's tail)."""
    deadline = time.monotonic() + timeout
    while not probe():
        if proc.poll() is not None:
            raise LabError(f"{what}: the server ended ({proc.returncode}): {_tail(log)}")
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""
