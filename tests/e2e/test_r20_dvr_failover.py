"""R20 when the L3 host dies: east/west through a distributed router does not notice, and
north/south comes back once the scheduler has moved the central instance.

Four hosts on an IPv6 underlay, every one on ``physnet1``: hosts 1 and 2 are L3 hosts, a3 (on
network A) runs on host 3 and b4 (on B) on host 4. A distributed router joins A and B and has a
gateway with a fixed address on a flat external network; the upstream routes the tenant
prefixes to that address. The router's central instance is on one of the L3 hosts (the API's
``/l3-agents`` says which); that host dies as a machine does (``die``). While it is dead:
a3 keeps pinging b4 every 50 ms and no echo is lost (east/west never used the central host);
the server finds the host silent, moves the router to the other L3 host, and a3 reaches the
far host behind the upstream again, through the same gateway address (the central legs'
link-locals and MACs come from the router and the network, not from the host, so no
instance's default route changes). Nothing is timed; the time to recover is printed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import eui64, wait_for
from tests.e2e.lab_api import open_group
from tests.e2e.multihost import MultiHostLab, die, multihost_lab
from tests.e2e.traffic import ContinuousPing
from tests.e2e.upstream import FAR, external_gateway, ip_lines, upstream

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("radvd"), reason="needs root and radvd"
)

PREFIXES = {"A": "2001:db8:3a::/64", "B": "2001:db8:3b::/64"}
EXTERNAL, UPSTREAM_EXTERNAL, ROUTER_EXTERNAL = (
    "2001:db8:e21::/64",
    "2001:db8:e21::1",
    "2001:db8:e21::10",
)
DOWN_SECONDS = 6.0  # the server's L3 agent down time in this lab (Neutron's default: 75)
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(
        hosts=4,
        underlay="ipv6",
        physical_networks=("physnet1",),
        l3_hosts=2,
        l3_agent_down_seconds=DOWN_SECONDS,
        heartbeat_seconds=1.0,
    ) as lab:
        yield lab


def central_host(mh: MultiHostLab, router: dict) -> str | None:
    """The one L3 host ``/l3-agents`` shows alive for the router, if exactly one."""
    found = mh.on(3).call("GET", f"/v2.0/routers/{router['id']}/l3-agents", None, 200)
    alive = [agent["host"] for agent in found["agents"] if agent.get("alive", True)]
    return alive[0] if len(alive) == 1 else None


def test_the_l3_host_dies_east_west_goes_on_and_north_south_comes_back(mh: MultiHostLab) -> None:
    admin, h3, h4 = mh.on(1), mh.on(3), mh.on(4)
    gateway = external_gateway(admin, "r20f-public", EXTERNAL, UPSTREAM_EXTERNAL, ROUTER_EXTERNAL)
    nets, subnets = admin.slaac_networks("r20f", PREFIXES)
    router = admin.router(
        subnets["A"], subnets["B"], name="r20f-dvr", distributed=True, external_gateway_info=gateway
    )
    group = open_group(admin, "r20f-open")["id"]
    placed = {"a3": (h3, "A"), "b4": (h4, "B")}
    vms, address = {}, {}
    for name, (host, side) in placed.items():
        port = host.port(nets[side], security_groups=[group])
        vms[name] = host.workload(f"r20f-{name}", port)
        address[name] = str(eui64(PREFIXES[side], port["mac_address"]))
        host.wait_active(port, timeout=TIMEOUT)
        host.wait_addresses(vms[name], address[name], default_route=True, timeout=TIMEOUT)

    with upstream(mh, "physnet1", f"t20f{secrets.token_hex(3)}", [f"{UPSTREAM_EXTERNAL}/64"]) as (
        up,
        _far,
    ):
        for prefix in PREFIXES.values():
            ip_lines(up, f"route add {prefix} via {ROUTER_EXTERNAL} dev eth0")
        wait_for("a3 reaches b4", lambda: h3.ping(vms["a3"], address["b4"]), TIMEOUT)
        wait_for("a3 reaches the far host", lambda: h3.ping(vms["a3"], FAR), TIMEOUT)
        doomed = wait_for("the central instance's host", lambda: central_host(mh, router), TIMEOUT)
        assert doomed in {mh.on(1).host, mh.on(2).host}

        east_west = ContinuousPing(vms["a3"]["namespace"], address["b4"], 400, interval=0.05)
        time.sleep(1.0)
        died = time.monotonic()
        die(mh, mh.handle.host(doomed).index)
        moved = wait_for(
            "the router moved to the other L3 host",
            lambda: next((h for h in [central_host(mh, router)] if h not in (None, doomed)), None),
            TIMEOUT,
        )
        wait_for("a3 reaches the far host again", lambda: h3.ping(vms["a3"], FAR), TIMEOUT)
        back = time.monotonic() - died
        result = east_west.result(timeout=TIMEOUT)
    print(f"\ncentral {doomed} died -> {moved}; north/south back after {back:.1f} s")
    print(f"east/west meanwhile: {result.received}/{result.sent} echoes answered")
    assert result.sent > 0 and result.lost == 0, result.output
