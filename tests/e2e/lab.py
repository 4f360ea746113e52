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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.api.live_server import LiveServer, live_server
from tests.e2e.conftest import remove_tagged, wait_for
from tests.e2e.lab_api import (
    NOT_DONE,
    SLAAC,
    STATEFUL,
    LabApi,
    default_routers,
    fixed_ip,
    usable,
)
from v6fabric.agent.loop import Agent, Report
from v6fabric.cli.credentials import Credentials, parse_openrc
from v6fabric.hoststate.model import HostState

# the helpers tests have always imported from here
__all__ = ["NOT_DONE", "SLAAC", "STATEFUL", "Lab", "default_routers", "fixed_ip", "usable"]


class RecordingAgent(Agent):
    """The real agent, remembering the ``Report`` of every pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[Report] = []

    def run_once(self, state: HostState, **kwargs: Any) -> Report:
        report = super().run_once(state, **kwargs)
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
class Lab(LabApi):
    server: LiveServer
    http: httpx.Client
    host: str
    host_netns: str
    run_dir: Path
    credentials: Credentials
    running: AgentThread
    tracked: dict[str, list[str]] = field(default_factory=dict)  # ids made since the last reset
    made: dict[str, list[str]] = field(default_factory=dict)  # every id made in the lab's life

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


@contextmanager
def one_host_lab(wait: float = 5.0) -> Iterator[Lab]:
    """``wait``: the agent's long-poll, which bounds how long stopping it takes."""
    tag = secrets.token_hex(3)
    state_dir = Path(tempfile.mkdtemp(prefix=f"v6f-e2e-{tag}-state-"))
    run_dir = Path(tempfile.mkdtemp(prefix=f"v6f-e2e-{tag}-run-"))
    run_dir.chmod(0o755)  # dnsmasq reads its hosts file as nobody
    host_netns = f"v6h-e2e{tag}"
    try:
        with live_server(state_dir) as server, contextlib.ExitStack() as cleanup:
            openrc = server.app.state.identity.ensure_admin(state_dir)
            env = parse_openrc(Path(openrc).read_text())
            token = _token(server, env)
            http = cleanup.enter_context(
                httpx.Client(base_url=server.base_url, headers={"X-Auth-Token": token}, timeout=30)
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
            cleanup.callback(lab.sweep)
            lab.running = AgentThread(lab.new_agent(), wait).start()
            cleanup.callback(lambda: lab.running.stop())  # whichever agent runs by then
            wait_for(
                "the agent to register",
                lambda: http.get(f"/fabric/v1/hosts/{host}").status_code == 200,
                20,
            )
            # Callbacks run last in, first out, each even if another raised: the lab is emptied
            # (the agent removing what the tests made), the agent stopped, what it left swept
            # away, then the client closed.
            cleanup.callback(lab.reset)
            yield lab
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        remove_tagged(tag, [run_dir])  # raises if anything of the lab's is left


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
