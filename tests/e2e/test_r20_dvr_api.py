"""R20 through the API in a multi-host lab: a distributed router routes where the workloads are.

Three hosts on an IPv6 underlay: host 1 has the network role (the router's central instance,
its gateway on ``physnet1``), hosts 2 and 3 run workloads. An admin makes a router with
``distributed=True`` between two SLAAC networks A and B, with a gateway on a flat external
network; the upstream (the test's namespace on physnet1) routes the tenant prefixes back as
``/v2.0/upstream_routes`` says. Workloads: a2 (A) and b2 (B) on host 2, b3 (B) on host 3, and
a1 (A) on host 1, which so runs an instance beside the central one.

Proved by traffic, with a capture of every VXLAN datagram on each host's underlay and a watch
of every bridge's forwarding table on each host:
* every workload's default route is the same link-local (the EUI-64 of the router port's
  API MAC) on every host;
* a workload's multicast solicitation for its gateway (global and link-local) is answered by
  its own host's instance, with that host's leg MAC, and by no other;
* a2 <-> b2 (same host): nothing of it crosses the underlay;
* a2 <-> b3: each echo request crosses once, on B's VNI, from host 2's own leg MAC (routed on
  host 2); each reply once, on A's VNI, from host 3's (routed on host 3); none via host 1;
* no frame on any underlay carries a router port's API MAC, and no NS/NA/RA/redirect from or
  about the router's gateway addresses crosses;
* no MAC is ever seen behind two ports of one bridge;
* a2 and b3 get their own metadata, answered on their own hosts (none of it crosses);
* north/south both ways: the workloads reach the far host behind the upstream and it reaches
  them, by ping and TCP, with their own addresses (no NAT), through the central instance;
* a1, beside the central instance, is routed by host 1's own instance like any other.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

pytest.importorskip("scapy")

from tests.e2e.conftest import eui64, wait_for
from tests.e2e.dvr_probes import (
    FdbWatch,
    echoes,
    flaps,
    neighbor_discovery_about,
    touching,
)
from tests.e2e.lab_api import default_routers, fetch_metadata, fixed_ip, open_group
from tests.e2e.multihost import MultiHostLab, multihost_lab
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import ping_stats, pings
from tests.e2e.underlay import Crossing, VxlanCapture
from tests.e2e.upstream import FAR, external_gateway, ip_lines, upstream
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.drivers.commands import run
from v6fabric.hoststate.dvr import central_leg_mac, host_leg_mac
from v6fabric.hoststate.metadata import METADATA_IPV6

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("radvd", "tcpdump", "bridge", "ndisc6")),
    reason="needs root, radvd, tcpdump, bridge, ndisc6",
)

PREFIXES = {"A": "2001:db8:2a::/64", "B": "2001:db8:2b::/64"}
EXTERNAL, UPSTREAM_EXTERNAL, ROUTER_EXTERNAL = (
    "2001:db8:e20::/64",
    "2001:db8:e20::1",
    "2001:db8:e20::10",
)
COUNT = 5
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(hosts=3, underlay="ipv6", physical_networks=("physnet1",)) as lab:
        yield lab


@pytest.fixture
def upstream_hosts(mh: MultiHostLab) -> Iterator[tuple[str, str]]:
    with upstream(
        mh, "physnet1", f"t20{secrets.token_hex(3)}", [f"{UPSTREAM_EXTERNAL}/64"]
    ) as found:
        yield found


def test_a_distributed_router_routes_on_the_senders_host(
    mh: MultiHostLab, upstream_hosts: tuple[str, str]
) -> None:
    up, far = upstream_hosts
    admin, h2, h3 = mh.on(1), mh.on(2), mh.on(3)
    gateway = external_gateway(admin, "r20-public", EXTERNAL, UPSTREAM_EXTERNAL, ROUTER_EXTERNAL)
    nets, subnets = admin.slaac_networks("r20", PREFIXES)
    router = admin.router(
        subnets["A"], subnets["B"], name="r20-dvr", distributed=True, external_gateway_info=gateway
    )
    assert admin.show("router", router["id"])["distributed"] is True
    routes = admin.call("GET", f"/v2.0/upstream_routes?router_id={router['id']}", None, 200)
    for route in routes["upstream_routes"]:
        ip_lines(up, f"route add {route['destination']} via {route['nexthop']} dev eth0")

    legs = admin.call("GET", f"/v2.0/ports?device_id={router['id']}", None, 200)["ports"]
    leg = {side: next(p for p in legs if p["network_id"] == nets[side]["id"]) for side in PREFIXES}
    shared_macs = {p["mac_address"].lower() for p in legs}
    gateway_ll = {side: str(eui64_link_local(leg[side]["mac_address"])) for side in PREFIXES}
    gateway_addresses = {ip["ip_address"] for p in legs for ip in p["fixed_ips"]}
    vni = {
        side: admin.show("network", nets[side]["id"])["provider:segmentation_id"]
        for side in PREFIXES
    }

    group = open_group(admin, "r20-open")["id"]
    placed = {"a1": (admin, "A"), "a2": (h2, "A"), "b2": (h2, "B"), "b3": (h3, "B")}
    vms, ports, address = {}, {}, {}
    for name, (host, side) in placed.items():
        ports[name] = host.port(nets[side], security_groups=[group])
        vms[name] = host.workload(f"r20-{name}", ports[name])
        address[name] = str(eui64(PREFIXES[side], ports[name]["mac_address"]))
    for name, (host, side) in placed.items():
        host.wait_active(ports[name], timeout=TIMEOUT)
        host.wait_addresses(vms[name], address[name], default_route=True, timeout=TIMEOUT)
        nic = host.guest(vms[name]).interfaces.get("eth0")
        assert default_routers(nic) == {gateway_ll[side]}, f"{name}: the shared link-local"
    wait_for("a2 reaches b3", lambda: h2.ping(vms["a2"], address["b3"], count=1), TIMEOUT)
    wait_for("a2 reaches b2", lambda: h2.ping(vms["a2"], address["b2"], count=1), TIMEOUT)
    wait_for("b3 reaches a2", lambda: h3.ping(vms["b3"], address["a2"], count=1), TIMEOUT)

    plan = {h.index: h for h in mh.handle.plan.hosts}
    captures = {
        i: VxlanCapture(plan[i].netns, plan[i].link, mh.handle.lab_dir / f"r20-{i}.pcap")
        for i in plan
    }
    watches = {i: FdbWatch(plan[i].netns) for i in plan}
    try:
        answers = {}
        for name, (host, side) in placed.items():  # multicast NS for the gateway, as a fresh guest
            namespace = vms[name]["namespace"]
            run(["ip", "-6", "neigh", "flush", "dev", "eth0"], netns=namespace)
            gateway_ip = fixed_ip(leg[side])
            for target in (gateway_ip, gateway_ll[side]):
                argv = ["ndisc6", "-1", "-n", "-r", "3", target, "eth0"]
                answers[(name, target)] = (host.host, side, run(argv, netns=namespace).stdout)
        same = ping_stats(vms["a2"]["namespace"], address["b2"], count=COUNT)
        cross = ping_stats(vms["a2"]["namespace"], address["b3"], count=COUNT)
        back = ping_stats(vms["b3"]["namespace"], address["a2"], count=COUNT)
        for name in ("a2", "b3"):  # each from its own host's instance
            meta = wait_for(f"{name}'s metadata", lambda n=name: fetch_metadata(vms[n]), TIMEOUT)
            assert meta["uuid"] == vms[name]["id"]
        beside = ping_stats(vms["a1"]["namespace"], address["b3"], count=COUNT)
        wait_for("a2 reaches the far host", lambda: h2.ping(vms["a2"], FAR, count=1), TIMEOUT)
        wait_for("a1 reaches the far host", lambda: admin.ping(vms["a1"], FAR, count=1), TIMEOUT)
        assert pings(far, address["b3"], count=3), "the far host reaches b3"
        outbound = tcp_echo(far, FAR, vms["b3"]["namespace"], FAR, "out")
        inbound = tcp_echo(vms["a2"]["namespace"], address["a2"], far, address["a2"], "in")
    finally:
        crossed = {i: captures[i].stop() for i in plan}
        seen = {i: watches[i].stop() for i in plan}
    assert {same.received, cross.received, back.received, beside.received} == {COUNT}
    assert outbound.reply == "echo:out" and [str(p) for p in outbound.peers] == [address["b3"]]
    assert inbound.reply == "echo:in" and [str(p) for p in inbound.peers] == [FAR]

    host2, host3 = h2.host, h3.host
    for (name, target), (host_name, side, answer) in answers.items():
        mine = host_leg_mac(host_name, leg[side]["id"])
        assert mine in answer.lower(), f"{name} asked for {target}; its host answers: {answer}"
    everything: list[Crossing] = [c for found in crossed.values() for c in found]
    for i in plan:  # same host: never on any underlay
        assert echoes(crossed[i], address["a2"], address["b2"]) == []
        assert echoes(crossed[i], address["b2"], address["a2"], reply=True) == []
    sent = echoes(crossed[2], address["a2"], address["b3"])
    assert len(sent) == COUNT, "each request crosses host 2's underlay once"
    assert {(c.vni, c.src_mac, c.dst_mac) for c in sent} == {
        (vni["B"], host_leg_mac(host2, leg["B"]["id"]), ports["b3"]["mac_address"].lower())
    }, "routed on host 2: on B's segment, from host 2's own leg"
    replies = echoes(crossed[2], address["b3"], address["a2"], reply=True)
    assert len(replies) == COUNT, "each reply crosses once"
    assert {(c.vni, c.src_mac) for c in replies} == {
        (vni["A"], host_leg_mac(host3, leg["A"]["id"]))
    }
    assert len(echoes(crossed[3], address["a2"], address["b3"])) == COUNT
    assert echoes(crossed[1], address["a2"], address["b3"]) == [], "not via host 1"
    # host 1 also runs the central instance: its own instance routes a1's traffic all the same
    from_l3_host = echoes(crossed[1], address["a1"], address["b3"])
    assert len(from_l3_host) == COUNT
    assert {c.src_mac for c in from_l3_host} == {host_leg_mac(admin.host, leg["B"]["id"])}
    north = echoes(crossed[2], address["a2"], FAR)
    central = {central_leg_mac(router["id"], nets[s]["id"]) for s in PREFIXES}
    assert north and {c.dst_mac for c in north} <= central, "north/south via the central legs"

    shared = [c for c in everything if {c.src_mac, c.dst_mac} & shared_macs]
    assert shared == [], f"{len(shared)} frames with a router port's shared MAC on the underlay"
    about = neighbor_discovery_about(everything, gateway_addresses | set(gateway_ll.values()))
    assert about == [], about
    assert touching(everything, METADATA_IPV6) == [], "metadata is answered on the host"
    for i in plan:
        assert flaps(seen[i]) == [], f"host {i}: a MAC behind two ports"
