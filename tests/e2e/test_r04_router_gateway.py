"""R4: a router's external gateway, on an external network without an IPv6 subnet, end to end.

Two hosts (IPv6 underlay): host 1 has the network role and ``eth1`` on the lab's ``physnet1``
segment, host 2 runs the workload. An admin makes ``public``, a flat ``router:external``
network on physnet1. The upstream router is the test's own namespace on that segment
(link-local ``fe80::1`` only), with a "far" host behind it on another prefix. A tenant network
with a SLAAC subnet is routed by a router whose gateway is ``public``; the upstream is given a
route to the tenant prefix exactly as ``GET /v2.0/upstream_routes`` says (via the router's
gateway link-local, or its address on an external subnet).

Three ways for the router to find its default route, one lab each:
* ``ra``: the external network has no subnet; the upstream's radvd advertises it as default
  router and the router learns its default route from those RAs (``accept_ra=2``);
* ``configured``: no subnet and no RA at all; the server's ``ipv6_gateway`` names fe80::1;
* ``subnet``: the external network has an IPv6 subnet whose ``gateway_ip`` is the upstream's
  address, and the router's gateway an address chosen on it (``external_fixed_ips``); no RA.

Proved by traffic: the workload pings the far host and the far host pings the workload, both
ways by TCP too, and the far host sees the workload's own address (no NAT for IPv6).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import eui64, wait_for
from tests.e2e.lab_api import open_group
from tests.e2e.multihost import MultiHostLab, multihost_lab
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import pings
from tests.e2e.upstream import FAR, UPSTREAM_LL, ip_lines, upstream

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("radvd"), reason="needs root and radvd"
)

TENANT = "2001:db8:41::/64"
EXTERNAL = "2001:db8:e4::/64"  # the ``subnet`` mode's external subnet
UPSTREAM_EXTERNAL, ROUTER_EXTERNAL = "2001:db8:e4::1", "2001:db8:e4::10"
MODES = ("ra", "configured", "subnet")


@pytest.fixture(scope="module", params=MODES)
def mode_lab(request: pytest.FixtureRequest) -> Iterator[tuple[str, MultiHostLab]]:
    mode = request.param
    gateway = UPSTREAM_LL if mode == "configured" else None
    with multihost_lab(
        hosts=2, underlay="ipv6", physical_networks=("physnet1",), ipv6_gateway=gateway
    ) as lab:
        yield mode, lab


@pytest.fixture
def upstream_hosts(mode_lab: tuple[str, MultiHostLab]) -> Iterator[tuple[str, str]]:
    """The upstream router on physnet1 (radvd in ``ra`` mode) and the far host behind it:
    their namespaces."""
    mode, mh = mode_lab
    tag = f"t4gw{secrets.token_hex(3)}"
    with upstream(mh, "physnet1", tag, [f"{UPSTREAM_EXTERNAL}/64"], radvd=mode == "ra") as found:
        yield found


def test_a_workload_and_a_host_behind_the_upstream_reach_each_other_through_the_gateway(
    mode_lab: tuple[str, MultiHostLab], upstream_hosts: tuple[str, str]
) -> None:
    mode, mh = mode_lab
    up, far = upstream_hosts
    admin, compute = mh.on(1), mh.on(2)
    public = admin.network(
        name="r4-public",
        **{"router:external": True, "provider:network_type": "flat"},
        **{"provider:physical_network": "physnet1"},
    )
    gateway: dict = {"network_id": public["id"]}
    if mode == "subnet":
        external = admin.subnet(public, EXTERNAL, gateway_ip=UPSTREAM_EXTERNAL, enable_dhcp=False)
        gateway["external_fixed_ips"] = [
            {"subnet_id": external["id"], "ip_address": ROUTER_EXTERNAL}
        ]
    net = admin.network(name="r4-tenant")
    subnet = admin.subnet(net, TENANT, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    router = admin.router(subnet, name="r4-router", external_gateway_info=gateway)
    assert router["external_gateway_info"]["network_id"] == public["id"]

    routes = admin.call("GET", f"/v2.0/upstream_routes?router_id={router['id']}", None, 200)
    (route,) = routes["upstream_routes"]
    assert route["destination"] == TENANT
    nexthop = route["nexthop"]
    assert nexthop == ROUTER_EXTERNAL if mode == "subnet" else nexthop.startswith("fe80::")
    ip_lines(up, f"route add {TENANT} via {nexthop} dev eth0")

    port = compute.port(net, security_groups=[open_group(admin, "r4-open")["id"]])
    vm = compute.workload("r4-vm", port)
    address = str(eui64(TENANT, port["mac_address"]))
    compute.wait_active(port, timeout=90)
    compute.wait_addresses(vm, address, default_route=True, timeout=90)

    wait_for("the workload to reach the far host", lambda: compute.ping(vm, FAR, count=1), 60)
    assert pings(far, address, count=3), "the far host reaches the workload"
    outbound = tcp_echo(far, FAR, vm["namespace"], FAR, "out")
    assert outbound.reply == "echo:out"
    assert [str(peer) for peer in outbound.peers] == [address], "no NAT: its own address"
    inbound = tcp_echo(vm["namespace"], address, far, address, "in")
    assert inbound.reply == "echo:in"
    assert [str(peer) for peer in inbound.peers] == [FAR]
