"""The agent's side of the metadata proxy (``agent.metadata_proxy``): one host-wide daemon,
its config and the service's addresses on every listening interface, against the fakes."""

from __future__ import annotations

import dataclasses
import json
import signal

from tests.unit.test_reconcile import RUN_DIR, current_plan, new_host
from tests.unit.test_reconcile_cases import DHCP_NS, NET, NS_IF, QR, ROUTER_NS, lab_state
from v6fabric.agent.actions import StartDaemon, StopDaemon
from v6fabric.drivers.netlink import DeleteAddress
from v6fabric.hoststate.model import (
    HostState,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)
from v6fabric.metadata.config import Backend

PID_FILE = RUN_DIR / "host" / "metadata.pid"
CONF = RUN_DIR / "host" / "metadata.conf"


def serving(ipv4: bool = False, ports: int = 1) -> HostState:
    spec = MetadataSpec.of(
        listeners=(
            MetadataListener(DHCP_NS, NS_IF, NET, ipv4=ipv4),
            MetadataListener(ROUTER_NS, QR, NET),
        ),
        ports=tuple(
            MetadataPort(f"p{i}", NET, f"fa:16:3e:00:02:0{i}", ("2001:db8:9::20",), "w1", "t1")
            for i in range(ports)
        ),
    )
    return dataclasses.replace(lab_state(), metadata=spec)


def addresses_of(fake, netns: str, ifname: str) -> set[str]:
    return set(fake.kernel.read(netns).links[ifname].addresses)


def test_the_proxy_starts_in_the_agents_namespace_with_its_addresses_in_place() -> None:
    fake, agent = new_host()
    report = agent.run_once(serving(ipv4=True))
    assert report.converged
    (start,) = [a for a in report.applied if isinstance(a, StartDaemon) and a.kind == "metadata"]
    assert start.netns is None and start.pid_file == PID_FILE and "--config" in start.argv
    assert fake.processes.pid(PID_FILE) is not None
    assert {"fe80::a9fe:a9fe/64", "169.254.169.254/32"} <= addresses_of(fake, DHCP_NS, NS_IF)
    assert "fe80::a9fe:a9fe/64" in addresses_of(fake, ROUTER_NS, QR)
    assert "169.254.169.254/32" not in addresses_of(fake, ROUTER_NS, QR)
    config = json.loads(fake.files.read(CONF) or "")
    assert config["backend"] is None
    assert [x["ifname"] for x in config["spec"]["listeners"]] == [NS_IF, QR]
    assert current_plan(agent, serving(ipv4=True)) == []  # converged: nothing more to do


def test_a_changed_config_is_a_sighup_and_no_listener_stops_it() -> None:
    fake, agent = new_host()
    agent.run_once(serving())
    pid = fake.processes.pid(PID_FILE)
    agent.run_once(serving(ports=2))
    assert fake.processes.pid(PID_FILE) == pid
    assert fake.processes.signals == [(pid, signal.SIGHUP)]
    plan = current_plan(agent, lab_state())
    assert any(isinstance(a, StopDaemon) and a.kind == "metadata" for a in plan)
    assert DeleteAddress(DHCP_NS, NS_IF, "fe80::a9fe:a9fe/64") in plan
    agent.run_once(lab_state())
    assert fake.processes.pid(PID_FILE) is None
    assert fake.files.read(CONF) is None
    assert "fe80::a9fe:a9fe/64" not in addresses_of(fake, ROUTER_NS, QR)


def test_the_backend_is_the_agents_own_setting() -> None:
    backend = Backend("http://nova.test:8775", str(RUN_DIR / "secret"))
    _fake, agent = new_host()
    agent.metadata_backend = backend
    agent.run_once(serving())
    text = _fake.files.read(CONF) or ""
    assert json.loads(text)["backend"] == {
        "url": "http://nova.test:8775",
        "secret_file": str(RUN_DIR / "secret"),
    }
