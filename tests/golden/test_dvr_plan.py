"""A distributed router (R20) compiled for two workload hosts and its central host, against
checked-in JSON: the review of what each host is told (legs and their per-host MACs, routes,
neighbours, radvd, metadata listeners, the overlay's pinned entries, the firewall's uplinks and
``local_only``).

The world: router R (distributed) with interfaces on net1 (an IPv6 port and an IPv4 port) and
net2, its gateway on ext, scheduled on ``n1`` (no workload there: the central instance only);
a workload on net1 on ``c1`` and one on net2 on ``c2``; net1's DHCP port on ``n1``.

Regenerate with ``V6FABRIC_UPDATE_GOLDEN=1 pytest tests/golden/test_dvr_plan.py`` and read the
diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_compiler import SLAAC, network, port, router, router_port, subnet
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.domain.constants import DEVICE_OWNER_DVR_INTERFACE
from v6fabric.hoststate.codec import to_dict
from v6fabric.hoststate.model import HostState

EXPECTED = Path(__file__).parent / "expected_dvr"
UPDATE = os.environ.get("V6FABRIC_UPDATE_GOLDEN") == "1"
HOSTS = ("c1", "c2", "n1")
DVR = DEVICE_OWNER_DVR_INTERFACE  # a distributed router's interfaces, as the server makes them


def _snapshot() -> Snapshot:
    net1, net2, ext = network(1, mtu=1450), network(2, mtu=1450), network(3)
    s1 = subnet(1, net1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, dns=["2001:db8::53"])
    s1v4 = subnet(2, net1, "10.0.1.0/24")
    s2 = subnet(3, net2, "2001:db8:2::/64", ra=SLAAC, addr=SLAAC)
    sx = subnet(4, ext, "2001:db8:ff::/64", ra=SLAAC, addr=SLAAC)
    rtr = {
        **router(1, routes=[{"destination": "2001:db8:99::/48", "nexthop": "2001:db8:1::fe"}]),
        "distributed": True,
        "external_gateway_info": {"network_id": ext["id"], "external_fixed_ips": []},
    }
    ports = [
        router_port(10, rtr, net1, (s1, "2001:db8:1::1"), owner=DVR),
        router_port(11, rtr, net1, (s1v4, "10.0.1.1"), owner=DVR),
        router_port(12, rtr, net2, (s2, "2001:db8:2::1"), owner=DVR),
        port(13, ext, (sx, "2001:db8:ff::5"), owner="network:router_gateway", device_id=rtr["id"]),
        port(16, net1, (s1, "2001:db8:1::2"), (s1v4, "10.0.1.2"), owner="network:dhcp", host="n1"),
        port(20, net1, (s1, "2001:db8:1::a"), (s1v4, "10.0.1.10"), host="c1"),
        port(21, net2, (s2, "2001:db8:2::b"), host="c2"),
    ]
    return Snapshot.build(
        revision=3,
        networks=[net1, net2, ext],
        subnets=[s1, s1v4, s2, sx],
        ports=ports,
        routers=[rtr],
        network_hosts=("n1",),
        tunnel_endpoints={"c1": "fd00::1", "c2": "fd00::2", "n1": "fd00::9"},
        router_hosts=[(rtr["id"], "n1")],
        dhcp_hosts={net1["id"]: "n1"},
    )


def plan(state: HostState) -> dict[str, Any]:
    """The parts of a host's state a distributed router decides."""
    return {
        "networks": to_dict(state.networks),
        "ports": to_dict(tuple(p for p in state.ports if p.kind == "router")),
        "namespaces": to_dict(state.namespaces),
        "radvd": to_dict(state.radvd),
        "metadata_listeners": to_dict(state.metadata.listeners),
        "fdb": to_dict(state.fdb),
        "firewall_networks": to_dict(state.firewall.networks),
        "firewall_router_ports": to_dict(
            tuple(p for p in state.firewall.ports if p.role == "router")
        ),
    }


def _text(host: str) -> str:
    return json.dumps(plan(compile_host(_snapshot(), host)), indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("host", HOSTS)
def test_golden(host: str) -> None:
    text = _text(host)
    path = EXPECTED / f"{host}.json"
    if UPDATE:
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with V6FABRIC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_no_orphan_expected_files() -> None:
    assert {p.name for p in EXPECTED.iterdir()} == {f"{host}.json" for host in HOSTS}
