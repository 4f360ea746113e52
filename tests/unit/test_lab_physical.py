"""Physical networks in the lab's plan, the agent's ``--physical-network`` and its
registration."""

from __future__ import annotations

import pytest
import typer

from v6fabric.agent.loop import Agent
from v6fabric.cli.agent import _physical_networks
from v6fabric.lab import plan


def test_each_physical_network_is_a_segment_with_every_hosts_eth_k() -> None:
    lab = plan(hosts=2, underlay="ipv6", tag="abc123", physical_networks=("physnet1", "ext"))
    assert lab.physical_bridge("physnet1") == "pb1-abc123"
    assert lab.physical_bridge("ext") == "pb2-abc123"
    assert lab.hosts[1].physical == (
        ("physnet1", "eth1", "p1h2-abc123"),
        ("ext", "eth2", "p2h2-abc123"),
    )
    assert lab.hosts[0].physical_networks == {"physnet1": "eth1", "ext": "eth2"}
    names = [peer for host in lab.hosts for _p, _i, peer in host.physical]
    assert all(len(name) <= 15 for name in names) and len(set(names)) == len(names)
    assert plan(hosts=1, tag="abc123").hosts[0].physical == ()


@pytest.mark.parametrize("bad", [("p",) * 2, tuple(f"p{i}" for i in range(10))])
def test_bad_physical_networks_are_refused(bad: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        plan(hosts=1, physical_networks=bad)


def test_the_option_maps_names_to_interfaces_once_each() -> None:
    assert _physical_networks(["physnet1=eth1", "ext = ens4"]) == {
        "physnet1": "eth1",
        "ext": "ens4",
    }
    for bad in (
        ["physnet1"],
        ["=eth1"],
        ["p=a/b"],
        ["p=" + "x" * 16],
        ["p=a", "p=b"],
        ["p=a", "q=a"],
    ):
        with pytest.raises(typer.BadParameter):
            _physical_networks(bad)


def test_registration_carries_the_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("v6fabric.agent.capabilities.probe", lambda: {"kernel": {}})
    agent = Agent("h2", physical_networks={"physnet1": "eth1"})
    assert agent.capabilities() == {"kernel": {}, "physical_networks": {"physnet1": "eth1"}}
    assert "physical_networks" not in Agent("h1").capabilities()
