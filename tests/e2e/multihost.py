"""A multi-host lab for end-to-end tests (``v6fabric.lab``): N host namespaces on an underlay,
one API server process, one agent process per host reaching the server over the underlay.

``with multihost_lab(hosts=3, underlay="ipv6") as mh:`` (wrap it in a module-scoped fixture:
``up`` takes a few seconds); ``mh.on(2)`` is host 2's view, whose ``workload(...)`` puts the
workload on host 2 and whose ``guest``/``wait_addresses`` look at it there; the resource
helpers (``network``, ``subnet``, ``router``, ``port``...) are the one-host lab's
(``lab_api.LabApi``), the ids shared by all views. ``mh.reset()`` between tests deletes what
a test made through the API and waits for the agents to remove it; leaving the ``with``
removes the whole lab and fails if anything of it is left. ``die(mh, i)`` makes host ``i`` die
as a machine does; ``claimed(run_dir)`` is what a host's agent made (the failover tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import _kill, namespaces, remove_tagged
from tests.e2e.lab_api import LabApi
from tests.e2e.traffic import processes_mentioning
from v6fabric.drivers.commands import run
from v6fabric.lab import LabHandle, LabHost
from v6fabric.lab import up as lab_up


@dataclass
class HostLab(LabApi):
    """One host of a multi-host lab, seen through the API: workloads made here run here."""

    http: httpx.Client
    host: str
    host_netns: str
    run_dir: Path
    lab_host: LabHost
    tracked: dict[str, list[str]]
    made: dict[str, list[str]]


@dataclass
class MultiHostLab:
    handle: LabHandle
    http: httpx.Client
    tracked: dict[str, list[str]] = field(default_factory=dict)
    made: dict[str, list[str]] = field(default_factory=dict)

    def on(self, host: int | str) -> HostLab:
        """Host ``host`` (1-based index or name)."""
        found = self.handle.host(host)
        return HostLab(
            self.http, found.name, found.netns, found.run_dir, found, self.tracked, self.made
        )

    @property
    def hosts(self) -> list[HostLab]:
        return [self.on(h.index) for h in self.handle.hosts]

    def reset(self) -> None:
        """Delete what the tests made; fails if an agent did not remove its part."""
        self.on(1).reset()


@contextmanager
def multihost_lab(hosts: int = 3, underlay: str = "ipv6", **options: Any) -> Iterator[MultiHostLab]:
    """``options``: more of ``v6fabric.lab.up``: ``physical_networks`` (segments every host has
    an interface on, ``eth1``...: ``mh.handle.attach_physical`` cables a test's namespace in),
    ``l3_hosts``, ``l3_agent_down_seconds``, ``heartbeat_seconds``."""
    handle = lab_up(hosts, underlay, **options)
    with contextlib.ExitStack() as stack:
        stack.callback(handle.down)  # last: raises if anything of the lab is left
        http = stack.enter_context(handle.client())
        lab = MultiHostLab(handle, http)
        stack.callback(lab.reset)  # first: the agents remove what the tests made
        yield lab


def claimed(run_dir: Path) -> set[str]:
    """The namespaces a host's agent made (its claims), present now."""
    claims = run_dir / "claims" / "netns"
    mine = {p.name for p in claims.iterdir()} if claims.exists() else set()
    return mine & namespaces()


def die(mh: MultiHostLab, index: int) -> None:
    """Host ``index`` dies as a machine does: its agent and everything it started (daemons),
    the router and DHCP namespaces it made (names are global on this one machine, and a dead
    machine's go with it), its underlay link."""
    host = mh.handle.host(index)
    made = {n for n in claimed(host.run_dir) if n.startswith(("v6r-", "v6d-", "v6s-"))}
    assert _kill(host.pid), f"agent {host.pid} survived SIGKILL"
    for pid in processes_mentioning(str(host.run_dir)):
        _kill(pid)
    for name in sorted(made):
        remove_tagged(name, [])
    link = mh.handle.plan.hosts[index - 1].link
    run(["ip", "link", "set", link, "down"], netns=host.netns)
