"""Labs of real agents fed hand-made ``HostState``s (no server): the HA and DVR agent-level
proofs (``ha_topology.py``, ``test_r20_dvr_hosts.py``) share the underlay and the agents' runs.

``HandMadeLab``: the base of such a lab (its hosts' and underlay's names, its agents).
``build_underlay``: each host a namespace (IPv6 off by default, as an agent makes them) with
``ul0`` on one bridge in the ``underlay`` namespace, addressed with its tunnel endpoint.
``converge``: agent passes until one applies nothing that fails (plugging a workload takes two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tests.e2e.conftest import wait_for
from v6fabric.agent.loop import Agent, Report
from v6fabric.drivers.commands import run
from v6fabric.drivers.sysctl import ProcSysctls
from v6fabric.hoststate.model import HostState


def build_underlay(underlay: str, hosts: Mapping[str, str], endpoints: Mapping[str, str]) -> None:
    """``hosts``: host -> its namespace; ``endpoints``: host -> its IPv6 endpoint (/64)."""
    run(["ip", "netns", "add", underlay])
    lines = ["link set lo up", "link add br0 type bridge", "link set br0 up"]
    for host, netns in hosts.items():
        run(["ip", "netns", "add", netns])
        ProcSysctls().write(netns, {"net.ipv6.conf.default.disable_ipv6": "1"})
        lines += [
            f"link add ul-{host} type veth peer name ul0 netns {netns}",
            f"link set ul-{host} master br0 up",
        ]
    run(["ip", "-n", underlay, "-batch", "-"], input="\n".join(lines) + "\n")
    for host, netns in hosts.items():
        ProcSysctls().write(
            netns, {"net.ipv6.conf.ul0.disable_ipv6": "0", "net.ipv6.conf.ul0.accept_dad": "0"}
        )
        batch = [f"addr add {endpoints[host]}/64 dev ul0 nodad", "link set ul0 up"]
        run(["ip", "-n", netns, "-batch", "-"], input="\n".join(batch) + "\n")


def converge(
    agents: dict[str, Agent],
    host: str,
    netns: str,
    run_dir: Path,
    state: Callable[[], HostState],
    timeout: float = 90,
) -> Report:
    """``host``'s agent (made on first use, kept in ``agents``) run until it converges."""
    agent = agents.setdefault(host, Agent(f"host-{host}", host_netns=netns, run_dir=run_dir))

    def done() -> Report | None:
        report = agent.run_once(state())
        return report if report.converged else None

    return wait_for(f"host {host}'s agent to converge", done, timeout=timeout)


@dataclass
class HandMadeLab:
    """A lab of ``HOSTS`` (each ``v6h-<tag><host>``, at ``ENDPOINT[host]`` on the underlay
    ``t7-<tag>-ul``), one agent each, fed ``state(host)``."""

    HOSTS: ClassVar[tuple[str, ...]]
    ENDPOINT: ClassVar[Mapping[str, str]]
    CONVERGE_SECONDS: ClassVar[float] = 90

    tag: str
    run_dir: Path
    agents: dict[str, Agent] = field(default_factory=dict)

    def netns(self, host: str) -> str:
        return f"v6h-{self.tag}{host}"

    @property
    def underlay(self) -> str:
        return f"t7-{self.tag}-ul"

    def state(self, host: str) -> HostState:
        raise NotImplementedError

    def build_underlay(self) -> None:
        build_underlay(self.underlay, {h: self.netns(h) for h in self.HOSTS}, self.ENDPOINT)

    def converge(self, host: str) -> Report:
        return converge(
            self.agents,
            host,
            self.netns(host),
            self.run_dir / host,
            lambda: self.state(host),
            self.CONVERGE_SECONDS,
        )
