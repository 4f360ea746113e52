"""R1, R2 and X1 across hosts: tenant networks are VXLAN segments over an IPv6 or IPv4 underlay.

A lab of 3 hosts (``multihost.py``: host namespaces on an underlay, one agent process per host
reaching the server over it), run once with an IPv6-only underlay and once with IPv4. The
router and DHCP namespaces live on host 1 (the network host); workloads on hosts 2 and 3.

Proved by traffic: workloads configure their SLAAC addresses from the RAs of a router on
another host (the RA crosses the overlay), ping and hold TCP with a workload on another host
of their network, and reach a workload of another network through that router (routed on host
1: two overlay crossings); the frames on the underlay are VXLAN in the underlay's family, from
the sending host's endpoint, with the network's VNI. Two projects with the same prefix on the
same hosts reach within, never across: a capture on the NIC of the other project's workload sees
its own project's traffic and none of the other's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest.importorskip("scapy")

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.vxlan import VXLAN

from tests.e2e.attacks import Sniffer
from tests.e2e.lab_api import SLAAC, fixed_ip
from tests.e2e.multihost import HostLab, MultiHostLab, multihost_lab
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import pings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

VXLAN_PORT = 4789


@pytest.fixture(scope="module", params=["ipv6", "ipv4"])
def mh(request: pytest.FixtureRequest) -> Iterator[MultiHostLab]:
    with multihost_lab(hosts=3, underlay=request.param) as lab:
        yield lab


def _family(mh: MultiHostLab) -> str:
    return "ipv6" if mh.handle.plan.overlay_ip_version == 6 else "ipv4"


def _vni(view: HostLab, network: dict) -> int:
    return int(view.show("network", network["id"])["provider:segmentation_id"])


def _up(view: HostLab, workload: dict, port: dict) -> str:
    """Until the workload's port is ACTIVE and its SLAAC address usable; the address."""
    view.wait_active(port, timeout=60)
    address = fixed_ip(port)
    view.wait_addresses(workload, address, default_route=True, timeout=60)
    return address


def test_workloads_on_different_hosts_switch_and_route_over_the_overlay(mh: MultiHostLab) -> None:
    h1, h2, h3 = mh.on(1), mh.on(2), mh.on(3)
    net_a = h1.network(name="ov-a")
    net_b = h1.network(name="ov-b")
    sub_a = h1.subnet(net_a, "2001:db8:71::/64", **SLAAC)
    sub_b = h1.subnet(net_b, "2001:db8:72::/64", **SLAAC)
    h1.router(sub_a, sub_b, name="ov-router")  # on host 1: every packet between hosts crosses
    pa, pb, pc = h2.port(net_a), h3.port(net_a), h3.port(net_b)
    va, vb, vc = h2.workload("va", pa), h3.workload("vb", pb), h3.workload("vc", pc)
    a, b, c = _up(h2, va, pa), _up(h3, vb, pb), _up(h3, vc, pc)

    assert h2.ping(va, b, count=3)  # host 2 -> host 3, one network
    echo = tcp_echo(vb["namespace"], b, va["namespace"], b, "over-the-overlay")
    assert echo.reply == "echo:over-the-overlay", echo
    assert h2.ping(va, c, count=3)  # host 2 -> host 1 (routed) -> host 3, two networks
    assert pings(vc["namespace"], a, count=2)

    family = _family(mh)
    source = mh.handle.host(2).underlay[family]
    sniffer = Sniffer(h3.host_netns, mh.handle.plan.hosts[2].link)
    assert h2.ping(va, b, count=3)
    frames = sniffer.stop()
    tunnelled = [f for f in frames if UDP in f and f[UDP].dport == VXLAN_PORT]
    outer = IPv6 if family == "ipv6" else IP
    echoes = [f for f in tunnelled if ICMPv6EchoRequest in f[VXLAN]]
    assert echoes, [f.summary() for f in frames]
    for frame in echoes:
        assert outer in frame and frame[outer].src == source, frame.summary()
        assert frame[VXLAN].vni == _vni(h1, net_a), frame.summary()
        assert frame[VXLAN][IPv6].src == a and frame[VXLAN][IPv6].dst == b
    mh.reset()


def test_two_projects_with_the_same_prefix_on_the_same_hosts_never_meet(mh: MultiHostLab) -> None:
    h1, h2, h3 = mh.on(1), mh.on(2), mh.on(3)
    tenants = {}
    for project in ("project-red", "project-blue"):
        net = h1.network(name=f"iso-{project}", project_id=project)
        sub = h1.subnet(net, "2001:db8:77::/64", project_id=project, **SLAAC)
        h1.router(sub, name=f"iso-{project}", project_id=project)
        ports = [view.port(net, project_id=project) for view in (h2, h3)]
        vms = [
            view.workload(f"{project}-{view.host}", port, project_id=project)
            for view, port in zip((h2, h3), ports, strict=True)
        ]
        addresses = [_up(view, vm, p) for view, vm, p in zip((h2, h3), vms, ports, strict=True)]
        tenants[project] = (net, vms, addresses, ports)
    red, blue = tenants["project-red"], tenants["project-blue"]
    assert _vni(h1, red[0]) != _vni(h1, blue[0])

    for _net, vms, addresses, _ports in (red, blue):  # full connectivity inside each project
        assert pings(vms[0]["namespace"], addresses[1], count=3)
        assert pings(vms[1]["namespace"], addresses[0], count=3)
    # none across: red's workload on host 2 tries blue's workloads (same prefix: they look
    # on-link), and nothing of it reaches blue's workload on host 3 (a capture on its NIC gets
    # every frame the segment floods or forwards to it), where blue's own ping does
    sniffer = Sniffer(blue[1][1]["namespace"], "eth0")
    assert not pings(red[1][0]["namespace"], blue[2][1], count=3)
    assert not pings(red[1][0]["namespace"], blue[2][0], count=2)
    assert pings(blue[1][0]["namespace"], blue[2][1], count=2)
    frames = sniffer.stop()
    sources = {f[IPv6].src for f in frames if IPv6 in f}
    assert blue[2][0] in sources, sources  # the capture sees blue's traffic
    assert red[2][0] not in sources, sources
    mh.reset()
