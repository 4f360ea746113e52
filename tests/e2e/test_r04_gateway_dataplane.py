"""R4: a router's external gateway routes IPv6 to an external network that has no IPv6 subnet.

One host, its agent and no server: the test compiles the host's state from a hand-built
``Snapshot`` (the contract the server fills): a tenant network with a SLAAC subnet, a router
with an interface on it and a workload behind it; an external flat network with no subnet on
``physnet1``, whose host interface ``ext0`` is one end of a veth. The other end is in the
test's own "upstream" router namespace, which forwards to a "far" namespace on another prefix
and has a static route to the tenant prefix via the router's ``qg-`` link-local (the EUI-64 of
the gateway port's MAC), as a real upstream would be configured.

The router's default route comes, in one run, from the upstream's RAs (radvd there, the leg
with ``accept_ra=2``), in the other from ``Snapshot.ipv6_gateway`` (no radvd upstream: nothing
else could give it). Proved by traffic: the workload pings the far host, the far host pings the
workload's SLAAC address, and a TCP echo on the far host sees the workload's own address (no
NAT). A second agent pass applies nothing (the kernel's RA route is not ours; our link-local
route is recognised as installed).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import eui64, wait_for
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import pings
from v6fabric.agent.loop import Agent
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.drivers.commands import in_netns, run
from v6fabric.hoststate.model import HostState, router_namespace, workload_namespace

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("radvd") or not shutil.which("ping"),
    reason="needs root, radvd and ping",
)

HOST = "h1"
UPSTREAM_LL = "fe80::1"
TENANT_MAC, LEG_MAC, GATEWAY_MAC = "fa:16:3e:4a:00:01", "fa:16:3e:4a:00:02", "fa:16:3e:4a:00:03"


def prefixes(tag: str) -> tuple[str, str]:
    """The tenant's and the far network's /64s, per test (from its tag)."""
    base = f"fd{tag[:2]}:{tag[2:6]}"
    return f"{base}:1::/64", f"{base}:f::/64"


def snapshot(tag: str, ipv6_gateway: str | None) -> Snapshot:
    tenant_prefix, _far = prefixes(tag)
    tenant = {"id": f"{tag}n1-tenant", "mtu": 1500, "provider:network_type": "vxlan"}
    external = {
        "id": f"{tag}n2-external",
        "mtu": 1500,
        "router:external": True,
        "provider:network_type": "flat",
        "provider:physical_network": "physnet1",
    }
    gateway_ip = str(ipaddress.IPv6Network(tenant_prefix)[1])
    sub = {
        "id": f"{tag}s1-tenant",
        "network_id": tenant["id"],
        "cidr": tenant_prefix,
        "gateway_ip": gateway_ip,
        "ipv6_ra_mode": "slaac",
        "ipv6_address_mode": "slaac",
    }
    rtr = {
        "id": f"{tag}r1-router",
        "routes": [],
        "external_gateway_info": {
            "network_id": external["id"],
            "enable_snat": True,  # ignored: IPv6 is routed, never translated
            "external_fixed_ips": [],
        },
    }
    leg = _port(f"{tag}p1-leg", tenant, LEG_MAC, "network:router_interface", rtr["id"])
    leg["fixed_ips"] = [{"subnet_id": sub["id"], "ip_address": gateway_ip}]
    gateway = _port(f"{tag}p2-gateway", external, GATEWAY_MAC, "network:router_gateway", rtr["id"])
    workload_id = f"{tag}w1-vm"
    vm = _port(f"{tag}p3-vm", tenant, TENANT_MAC, "compute:nova", workload_id)
    vm["binding:host_id"] = HOST
    address = str(eui64(tenant_prefix, TENANT_MAC))
    vm["fixed_ips"] = [{"subnet_id": sub["id"], "ip_address": address}]
    vm["security_groups"] = [f"{tag}sg"]
    group = {
        "id": f"{tag}sg",
        "stateful": True,
        "security_group_rules": [
            {"id": f"{tag}in", "direction": "ingress", "ethertype": "IPv6"},
            {"id": f"{tag}out", "direction": "egress", "ethertype": "IPv6"},
        ],
    }
    return Snapshot.build(
        networks=[tenant, external],
        subnets=[sub],
        ports=[leg, gateway, vm],
        routers=[rtr],
        workloads=[{"id": workload_id, "name": "vm", "host": HOST, "port_ids": [vm["id"]]}],
        network_hosts=(HOST,),
        security_groups=[group],
        physical_interfaces=[(HOST, "physnet1", "ext0")],
        ipv6_gateway=ipv6_gateway,
    )


def _port(port_id: str, net: dict[str, Any], mac: str, owner: str, device: str) -> dict[str, Any]:
    return {
        "id": port_id,
        "network_id": net["id"],
        "mac_address": mac,
        "fixed_ips": [],
        "device_owner": owner,
        "device_id": device,
        "project_id": "" if owner.startswith("network:") else "p1",
        "binding:host_id": "",
    }


def ip_batch(netns: str, *lines: str) -> None:
    run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n")


def build_upstream(tag: str, host_netns: str, upstream: str, far: str) -> None:
    """upstream: ``eth0`` (only fe80::1) on the host's ``ext0``, ``eth1`` to far; far: one
    address, default via upstream."""
    tenant_prefix, far_prefix = prefixes(tag)
    far_net = ipaddress.IPv6Network(far_prefix)
    for name in (upstream, far):
        run(["ip", "netns", "add", name])
    ip_batch(host_netns, f"link add ext0 type veth peer name eth0 netns {upstream}")
    ip_batch(upstream, f"link add eth1 type veth peer name eth0 netns {far}")
    run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=upstream)
    # only fe80::1 on eth0: the one source of its RAs (eth1 keeps its own link-local: the
    # kernel solicits neighbours for forwarded packets from it)
    run(["sysctl", "-qw", "net.ipv6.conf.eth0.addr_gen_mode=1"], netns=upstream)
    ip_batch(
        upstream,
        "link set lo up",
        f"address add {UPSTREAM_LL}/64 dev eth0 nodad",
        f"address add {far_net[1]}/64 dev eth1 nodad",
        "link set eth0 up",
        "link set eth1 up",
    )
    ip_batch(
        far,
        "link set lo up",
        f"address add {far_net[2]}/64 dev eth0 nodad",
        "link set eth0 up",
        f"route add default via {far_net[1]}",
    )
    # the return path a real upstream gets from its operator (or PD snooping): the tenant
    # prefix via the router's gateway leg, at its link-local
    router_ll = eui64_link_local(GATEWAY_MAC)
    ip_batch(upstream, f"route add {tenant_prefix} via {router_ll} dev eth0")


def start_radvd(upstream: str, work: Path) -> subprocess.Popen[bytes]:
    """The upstream advertises itself as a default router, and no prefix (the external network
    has no subnet)."""
    conf = work / "radvd.conf"
    conf.write_text(
        "interface eth0 {\n    AdvSendAdvert on;\n    MinRtrAdvInterval 3;\n"
        "    MaxRtrAdvInterval 4;\n    AdvDefaultLifetime 60;\n};\n"
    )
    argv = ["radvd", "-n", "-C", str(conf), "-p", str(work / "radvd.pid"), "-m", "logfile"]
    return subprocess.Popen(
        in_netns([*argv, "-l", str(work / "radvd.log")], upstream),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def default_routes(netns: str) -> list[dict[str, Any]]:
    done = run(["ip", "-n", netns, "-j", "-6", "route", "show", "default"])
    return json.loads(done.stdout or "[]")  # type: ignore[no-any-return]


def has_address(netns: str, address: str) -> bool:
    done = run(["ip", "-n", netns, "-j", "-6", "addr", "show", "dev", "eth0"], check=False)
    infos = [a for link in json.loads(done.stdout or "[]") for a in link.get("addr_info", [])]
    return any(a.get("local") == address and not a.get("tentative") for a in infos)


@pytest.mark.parametrize("source", ["ra", "configured"])
def test_a_gateway_without_an_external_subnet_routes_both_ways_without_nat(
    source: str, ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    run_dir, work = lab_dirs
    host_netns = f"v6h-{ns_tag}"
    upstream, far = f"v6t-{ns_tag}up", f"v6t-{ns_tag}far"
    snap = snapshot(ns_tag, UPSTREAM_LL if source == "configured" else None)
    tenant_prefix, far_prefix = prefixes(ns_tag)
    far_address = str(ipaddress.IPv6Network(far_prefix)[2])
    workload_address = str(eui64(tenant_prefix, TENANT_MAC))
    router_ns = router_namespace(f"{ns_tag}r1-router")
    vm_ns = workload_namespace(f"{ns_tag}w1-vm")
    gateway_leg = "qg-" + f"{ns_tag}p2-gateway"[:11]

    agent = Agent(
        HOST, host_netns=host_netns, run_dir=run_dir, physical_networks={"physnet1": "ext0"}
    )
    assert agent.run_once(HostState(HOST, 0)).converged  # the host namespace
    build_upstream(ns_tag, host_netns, upstream, far)
    radvd = start_radvd(upstream, work) if source == "ra" else None
    try:
        state = compile_host(snap, HOST)
        (spec,) = [ns for ns in state.namespaces if ns.name == router_ns]
        assert spec.ra_uplink == (gateway_leg if source == "ra" else None)
        report = agent.run_once(state)
        assert report.converged, report.failed

        wait_for("the workload's SLAAC address", lambda: has_address(vm_ns, workload_address), 90)
        routes = wait_for("the router's default route", lambda: default_routes(router_ns), 90)
        assert {r.get("dev") for r in routes} == {gateway_leg}, routes
        assert {r.get("gateway") for r in routes} == {UPSTREAM_LL}, routes
        expected_protocol = "ra" if source == "ra" else "111"
        assert {str(r.get("protocol")) for r in routes} == {expected_protocol}, routes

        wait_for("workload -> far", lambda: pings(vm_ns, far_address), 90)
        assert pings(vm_ns, far_address, count=3)
        assert pings(far, workload_address, count=3), "far -> the workload's SLAAC address"
        echo = tcp_echo(far, far_address, vm_ns, far_address, "no-nat")
        assert echo.reply == "echo:no-nat", echo
        assert [str(peer) for peer in echo.peers] == [workload_address], echo.peers

        again = agent.run_once(state)  # the kernel's RA route is not ours; ours is recognised
        assert again.converged and again.applied == [], again.applied
        assert agent.run_once(HostState(HOST, 2)).converged
        assert router_ns not in run(["ip", "netns", "list"]).stdout
    finally:
        if radvd is not None:
            radvd.kill()
            radvd.wait(10)
