"""The multi-host lab's names and addresses (pure), and the options that carry them."""

from __future__ import annotations

import ipaddress

import pytest
import typer

from v6fabric.agent.loop import Agent
from v6fabric.cli.agent import _underlay
from v6fabric.lab.plan import BENCHMARK_V4, is_host_netns, plan
from v6fabric.settings import Settings


def test_ipv6_lab_names_and_addresses_follow_the_tag() -> None:
    lab = plan(3, "ipv6", "ab12")
    assert lab.netns == "v6u-ab12"
    assert [h.netns for h in lab.hosts] == ["v6h-ab121", "v6h-ab122", "v6h-ab123"]
    assert [h.roles for h in lab.hosts] == [("compute", "network"), ("compute",), ("compute",)]
    net = ipaddress.IPv6Network(f"{lab.controller_ipv6}/64", strict=False)
    assert net.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert [h.underlay for h in lab.hosts] == [
        {"ipv6": str(net.network_address + int(s, 16))} for s in ("11", "12", "13")
    ]
    assert lab.controller_ipv4 is None and lab.overlay_ip_version == 6
    assert plan(3, "ipv6", "ab12") == lab  # the tag alone decides: down can find it all
    assert all(len(n) <= 15 for h in lab.hosts for n in (h.link, h.peer, lab.bridge))


def test_the_first_l3_hosts_have_the_network_role() -> None:
    lab = plan(3, "ipv6", "ab12", l3_hosts=2)
    assert [h.roles for h in lab.hosts] == [
        ("compute", "network"),
        ("compute", "network"),
        ("compute",),
    ]
    for bad in (0, 4):
        with pytest.raises(ValueError, match="L3 hosts"):
            plan(3, "ipv6", "ab12", l3_hosts=bad)


def test_ipv4_and_dual_labs() -> None:
    v4 = plan(2, "ipv4", "zz")
    assert v4.overlay_ip_version == 4 and v4.controller == v4.controller_ipv4
    assert ipaddress.ip_address(v4.controller).packed[3] == 1
    assert all(ipaddress.ip_address(h.ipv4) in BENCHMARK_V4 and not h.ipv6 for h in v4.hosts)
    dual = plan(2, "dual", "zz")
    assert dual.overlay_ip_version == 6 and dual.controller == dual.controller_ipv6
    assert set(dual.hosts[1].underlay) == {"ipv4", "ipv6"}
    assert dual.controller_addresses == [dual.controller_ipv6, dual.controller_ipv4]


@pytest.mark.parametrize("bad", [dict(tag="Has-Caps"), dict(tag="x" * 9), dict(underlay="v4")])
def test_bad_plans_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        plan(2, **bad)


def test_host_namespaces_of_a_tag_are_not_those_of_a_longer_one() -> None:
    assert is_host_netns("ab", "v6h-ab1")
    assert not is_host_netns("ab", "v6h-abc1")
    assert not is_host_netns("ab", "v6h-ab")


def test_overlay_ip_version_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6FABRIC_OVERLAY_IP_VERSION", "6")
    assert Settings.from_env().overlay_ip_version == 6
    assert Settings.from_env(overlay_ip_version=4).overlay_ip_version == 4  # the option wins
    monkeypatch.setenv("V6FABRIC_OVERLAY_IP_VERSION", "5")
    with pytest.raises(ValueError):
        Settings.from_env()


def test_underlay_addresses_by_family() -> None:
    assert _underlay(["fd00::11", "198.18.0.11"]) == {"ipv6": "fd00::11", "ipv4": "198.18.0.11"}
    for bad in (["fd00::11", "fd00::12"], ["nonsense"]):
        with pytest.raises(typer.BadParameter):
            _underlay(bad)


def test_registration_carries_roles_and_underlay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("v6fabric.agent.capabilities.probe", lambda: {"kernel": {}})
    agent = Agent("h2", roles=("compute",), underlay={"ipv6": "fd00::12"})
    assert agent.roles == ("compute",)
    assert agent.capabilities() == {"kernel": {}, "underlay": {"ipv6": "fd00::12"}}
    assert "underlay" not in Agent("h1").capabilities()
