"""A one-host lab for end-to-end tests: the real API server, a real agent (its own thread,
talking HTTP with an admin token as on a remote host), a per-module host namespace holding the
bridges, and helpers to create resources through the API and look at the guests.

Workload namespaces, router and DHCP namespaces are named from API ids, so cleanup tracks the
ids this lab created and removes whatever of theirs is left (after giving the agent the chance
to remove it: that is part of what is tested).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.api.live_server import LiveServer, live_server
from tests.e2e.conftest import remove_tagged, wait_for
from v6fabric.agent.loop import Agent, Report
from v6fabric.cli.client import Credentials, parse_openrc
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import (
    HostState,
    dhcp_namespace,
    router_namespace,
    workload_namespace,
)
from v6fabric.workloads import GuestView, observe

T = TypeVar("T")


class RecordingAgent(Agent):
    """The real agent, remembering the ``Report`` of every pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[Report] = []

    def run_once(self, state: HostState, *, resync: bool = False) -> Report:
        report = super().run_once(state, resync=resync)
        self.reports.append(report)
        return report


@dataclass
class AgentThread:
    """An agent's ``run`` loop in a thread with its own stop event."""

    agent: Agent
    wait: float
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> AgentThread:
        self.thread = threading.Thread(
            target=self.agent.run, args=(self.stop_event,), kwargs={"wait": self.wait}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self, timeout: float = 40) -> float:
        """Stop the loop (it ends after its current long-poll); seconds it took."""
        started = time.monotonic()
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)
            assert not self.thread.is_alive(), "the agent thread did not stop"
        self.agent.close()
        return time.monotonic() - started


@dataclass
class Lab:
    server: LiveServer
    http: httpx.Client
    host: str
    host_netns: str
    run_dir: Path
    credentials: Credentials
    running: AgentThread
    tracked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def agent(self) -> Agent:
        return self.running.agent

    def new_agent(self) -> RecordingAgent:
        return RecordingAgent(
            self.host,
            server_url=self.server.base_url,
            credentials=self.credentials,
            host_netns=self.host_netns,
            run_dir=self.run_dir,
        )

    def restart_agent(self, between: float = 0.0) -> RecordingAgent:
        """Stop the running agent, wait ``between`` seconds, start a new one on the same run
        directory and host namespace (as after an agent upgrade); returns the new agent."""
        self.running.stop()
        time.sleep(between)
        agent = self.new_agent()
        self.running = AgentThread(agent, self.running.wait).start()
        return agent

    # --- API ------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else None

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        created = self.call("POST", _collection(kind), {kind: attrs}, 201)[kind]
        self.tracked.setdefault(kind, []).append(created["id"])
        return created

    def network(self, **attrs: Any) -> dict[str, Any]:
        return self.create("network", **attrs)

    def subnet(self, network: dict, cidr: str, **attrs: Any) -> dict[str, Any]:
        version = 6 if ":" in cidr else 4
        return self.create(
            "subnet", network_id=network["id"], cidr=cidr, ip_version=version, **attrs
        )

    def port(self, network: dict, **attrs: Any) -> dict[str, Any]:
        return self.create("port", network_id=network["id"], **attrs)

    def router(self, *subnets: dict, **attrs: Any) -> dict[str, Any]:
        router = self.create("router", **attrs)
        for subnet in subnets:
            self.call(
                "PUT",
                f"/v2.0/routers/{router['id']}/add_router_interface",
                {"subnet_id": subnet["id"]},
                200,
            )
        return router

    def workload(self, name: str, *ports: dict) -> dict[str, Any]:
        body = {"workload": {"name": name, "host": self.host, "port_ids": [p["id"] for p in ports]}}
        created = self.call("POST", "/fabric/v1/workloads", body, 201)["workload"]
        self.tracked.setdefault("workload", []).append(created["id"])
        created["namespace"] = workload_namespace(created["id"])
        return created

    def show(self, kind: str, item_id: str) -> dict[str, Any]:
        return self.call("GET", f"{_collection(kind)}/{item_id}", expect=200)[kind]

    def update(self, kind: str, item_id: str, **attrs: Any) -> dict[str, Any]:
        return self.call("PUT", f"{_collection(kind)}/{item_id}", {kind: attrs}, 200)[kind]

    # --- waiting and looking --------------------------------------------------------------

    def wait_active(self, *ports: dict, timeout: float = 15) -> None:
        for port in ports:
            wait_for(
                f"port {port['id']} ACTIVE",
                lambda p=port: self.show("port", p["id"])["status"] == "ACTIVE",
                timeout,
            )

    def guest(self, workload: dict) -> GuestView:
        return observe(workload["namespace"], run_dir=self.run_dir)

    def wait_guest(
        self, workload: dict, what: str, probe: Callable[[GuestView], T], timeout: float = 20
    ) -> T:
        return wait_for(f"{workload['name']}: {what}", lambda: probe(self.guest(workload)), timeout)

    def ping(self, workload: dict, address: str, count: int = 1) -> bool:
        family = "-6" if ":" in address else "-4"
        argv = ["ping", family, "-c", str(count), "-W", "1", "-i", "0.2", address]
        return run(argv, netns=workload["namespace"], check=False).returncode == 0

    # --- cleanup --------------------------------------------------------------------------

    def our_namespaces(self) -> set[str]:
        names = {workload_namespace(i) for i in self.tracked.get("workload", [])}
        names |= {router_namespace(i) for i in self.tracked.get("router", [])}
        names |= {dhcp_namespace(i) for i in self.tracked.get("network", [])}
        present = set(Path("/run/netns").iterdir()) if Path("/run/netns").exists() else set()
        return names & {p.name for p in present}

    def delete_everything(self) -> None:
        """Through the API, in the order a user would: the agent then tears the host down."""
        for workload_id in self.tracked.get("workload", []):
            self.http.delete(f"/fabric/v1/workloads/{workload_id}")
        for router_id in self.tracked.get("router", []):
            ports = self.call("GET", f"/v2.0/ports?device_id={router_id}")["ports"]
            for port in ports:
                self.http.put(
                    f"/v2.0/routers/{router_id}/remove_router_interface",
                    json={"port_id": port["id"]},
                )
            self.http.delete(f"/v2.0/routers/{router_id}")
        for kind in ("port", "subnet", "network", "security_group_rule", "security_group"):
            for item_id in reversed(self.tracked.get(kind, [])):
                self.http.delete(f"{_collection(kind)}/{item_id}")

    def reset(self) -> None:
        """Between tests: delete what the test made and wait until the agent removed it."""
        self.delete_everything()
        with contextlib.suppress(AssertionError):
            wait_for("the agent to remove our namespaces", lambda: not self.our_namespaces(), 15)
        for name in self.our_namespaces():  # the test has failed already if any is left
            remove_tagged(name, [])
        self.tracked.clear()


@contextmanager
def one_host_lab(wait: float = 5.0) -> Iterator[Lab]:
    """``wait``: the agent's long-poll, which bounds how long stopping it takes."""
    tag = secrets.token_hex(3)
    state_dir = Path(tempfile.mkdtemp(prefix=f"v6f-e2e-{tag}-state-"))
    run_dir = Path(tempfile.mkdtemp(prefix=f"v6f-e2e-{tag}-run-"))
    run_dir.chmod(0o755)  # dnsmasq reads its hosts file as nobody
    host_netns = f"v6h-e2e{tag}"
    lab: Lab | None = None
    try:
        with live_server(state_dir) as server:
            openrc = server.app.state.identity.ensure_admin(state_dir)
            env = parse_openrc(Path(openrc).read_text())
            token = _token(server, env)
            http = httpx.Client(
                base_url=server.base_url, headers={"X-Auth-Token": token}, timeout=30
            )
            host = f"e2e-{tag}"
            lab = Lab(
                server,
                http,
                host,
                host_netns,
                run_dir,
                Credentials.from_env(env),
                AgentThread(Agent(host), wait),
            )
            lab.running = AgentThread(lab.new_agent(), wait).start()
            wait_for(
                "the agent to register",
                lambda: http.get(f"/fabric/v1/hosts/{host}").status_code == 200,
                20,
            )
            try:
                yield lab
            finally:
                lab.reset()
                lab.running.stop()
                http.close()
    finally:
        if lab is not None:
            lab.running.stop_event.set()
        remove_tagged(tag, [run_dir])
        run(["ip", "netns", "delete", host_netns], check=False)
        shutil.rmtree(state_dir, ignore_errors=True)


def _token(server: LiveServer, env: dict[str, str]) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": env["OS_USERNAME"],
                        "domain": {"name": "Default"},
                        "password": env["OS_PASSWORD"],
                    }
                },
            },
            "scope": {"project": {"name": env["OS_PROJECT_NAME"], "domain": {"name": "Default"}}},
        }
    }
    response = httpx.post(f"{server.identity_url}/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


def _collection(kind: str) -> str:
    """``security_group`` -> ``/v2.0/security-groups`` (body keys use _, URLs use -)."""
    return "/v2.0/" + f"{kind}s".replace("_", "-")


def seconds_since(start: float) -> float:
    return time.monotonic() - start
