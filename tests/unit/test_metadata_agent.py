"""The agent's side of the metadata proxy (``agent.metadata_proxy``): one host-wide daemon,
its config and the service's addresses on every listening interface, against the fakes."""

from __future__ import annotations

import dataclasses
import json
import signal

from tests.unit.test_reconcile import HOST_NS, RUN_DIR, STAND_IN, current_plan, new_host
from tests.unit.test_reconcile_cases import DHCP_NS, NET, NS_IF, QR, ROUTER_NS, lab_state
from v6fabric.agent import metadata_proxy
from v6fabric.agent.actions import RemoveFile, StartDaemon, StopDaemon, WriteFile
from v6fabric.agent.loop import Agent
from v6fabric.drivers.files import digest
from v6fabric.drivers.netlink import DeleteAddress
from v6fabric.hoststate.buckets import edited
from v6fabric.hoststate.metadata import (
    MetadataInstance,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)
from v6fabric.hoststate.model import HostState
from v6fabric.metadata.config import Backend, ProxyConfig, is_bucket_name, parse_config, to_json

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


def loaded(fake) -> ProxyConfig:
    """What the proxy would load from the fake's files."""
    return parse_config(
        fake.files.read(CONF) or "", lambda name: fake.files.read(CONF.parent / name)
    )


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
    assert [x["ifname"] for x in config["listeners"]] == [NS_IF, QR]
    assert loaded(fake).spec == serving(ipv4=True).metadata
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
    assert [n for n in fake.files.listdir(CONF.parent) if n.startswith("metadata.")] == []
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


def many(count: int, changed: int | None = None) -> HostState:
    """``count`` ports and instances; ``changed``: that one's hostname differs."""
    ports = [
        MetadataPort(
            f"p{i}", NET, f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}", ("::1",), f"w{i}", "t1"
        )
        for i in range(count)
    ]
    instances = [
        MetadataInstance(f"w{i}", "t1", f"vm{i}", f"vm{i}-{'x' if i == changed else ''}")
        for i in range(count)
    ]
    spec = MetadataSpec.of(serving().metadata.listeners, ports, instances)
    return dataclasses.replace(lab_state(), metadata=spec)


def bucket_writes(actions) -> list[str]:
    return sorted(a.path.name for a in actions if isinstance(a, WriteFile))


def test_a_change_writes_its_bucket_and_the_head_only() -> None:
    fake, agent = new_host()
    before = many(40)
    agent.run_once(before)
    files = {name for name in fake.files.listdir(CONF.parent) if name.startswith("metadata.")}
    assert len(files) > 40  # the head, the marker, the pid file and a file per bucket
    # w7 changes; every other bucket is the very same object, as a state delta gives them
    (bucket,) = set(many(40, changed=7).metadata.instance_buckets) - set(
        before.metadata.instance_buckets
    )
    spec = dataclasses.replace(
        before.metadata,
        instance_buckets=edited(before.metadata.instance_buckets, {bucket.key: bucket}),
    )
    after = dataclasses.replace(before, metadata=spec)
    plan = current_plan(agent, after)
    assert bucket_writes(plan) == sorted(["metadata.conf", f"metadata.instances-{bucket.key}.json"])
    pid = fake.processes.pid(PID_FILE)
    agent.run_once(after)
    assert fake.processes.signals == [(pid, signal.SIGHUP)]
    assert loaded(fake).spec == spec
    assert current_plan(agent, after) == []


def test_a_gone_bucket_loses_its_file() -> None:
    fake, agent = new_host()
    agent.run_once(many(3))
    fewer = many(2)
    plan = current_plan(agent, fewer)
    removed = [a.path.name for a in plan if isinstance(a, RemoveFile)]
    assert len(removed) == 2  # w2's instance bucket and p2's port bucket
    agent.run_once(fewer)
    assert all(fake.files.read(CONF.parent / name) is None for name in removed)
    assert loaded(fake).spec == fewer.metadata


def restarted(fake):
    """A new agent process on the same host: it remembers nothing and observes afresh."""
    metadata_proxy._HEADS.clear()
    metadata_proxy._LAST.clear()
    metadata_proxy._LAST_ACTIONS.clear()
    metadata_proxy._PORTS.clear()
    metadata_proxy._INSTANCES.clear()
    return Agent(
        "h1", host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN
    )


def test_an_agent_restart_with_nothing_changed_leaves_the_proxy_alone() -> None:
    fake, agent = new_host()
    state = many(5)
    agent.run_once(state)
    agent = restarted(fake)
    assert current_plan(agent, state) == []
    assert agent.run_once(state).applied == []
    assert fake.processes.signals == []


def test_an_agent_restart_with_a_change_rewrites_the_buckets_and_removes_stale_ones() -> None:
    fake, agent = new_host()
    agent.run_once(many(5))
    agent = restarted(fake)
    fewer = many(3, changed=1)
    plan = current_plan(agent, fewer)
    assert sum(isinstance(a, RemoveFile) for a in plan) == 4  # p3, p4, w3, w4
    agent.run_once(fewer)
    assert loaded(fake).spec == fewer.metadata
    names = {n for n in fake.files.listdir(CONF.parent) if is_bucket_name("metadata", n)}
    assert names == set(loaded(fake).buckets)
    assert current_plan(agent, fewer) == []


def test_an_upgrade_from_the_single_file_restarts_the_proxy_once() -> None:
    fake, agent = new_host()
    state = many(3)
    agent.run_once(state)
    for name in fake.files.listdir(CONF.parent):  # as an agent before buckets left them
        if is_bucket_name("metadata", name):
            fake.files.remove(CONF.parent / name)
    old = to_json(state.metadata)
    fake.files.write(CONF, old)
    fake.files.write(CONF.parent / "metadata.loaded", digest(old) + "\n")
    agent = restarted(fake)
    pid = fake.processes.pid(PID_FILE)
    (start,) = [a for a in current_plan(agent, state) if isinstance(a, StartDaemon)]
    assert start.restart
    agent.run_once(state)
    assert fake.processes.pid(PID_FILE) != pid
    assert loaded(fake).spec == state.metadata  # the single file is now the head
    assert current_plan(agent, state) == []
