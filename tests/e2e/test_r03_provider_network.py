"""R3: a flat provider network on a physical network, across hosts, with no router of ours.

Three hosts (IPv6 underlay), each with ``eth1`` on the lab's ``physnet1`` segment (its agent's
``--physical-network physnet1=eth1``). An admin makes a flat network on physnet1 and a subnet
as Neutron models an upstream router: no ``ipv6_ra_mode``, address mode slaac, ``gateway_ip``
the upstream's link-local. The upstream router is the test's own namespace cabled into the
segment, running radvd for the prefix, with an address on the prefix and one beyond it.

Workloads on hosts 2 and 3 configure their EUI-64 addresses and a default route via the
upstream from its RAs, reach the upstream (on the prefix and beyond it: through the default
route) and each other, with no ``v6r-`` namespace anywhere in the lab; a capture on host 2's
``eth1`` shows the upstream's RA arriving there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import eui64, remove_tagged
from tests.e2e.lab_api import default_routers
from tests.e2e.multihost import MultiHostLab, multihost_lab
from v6fabric.drivers.commands import in_netns, run
from v6fabric.hoststate.model import ROUTER_NS_PREFIX
from v6fabric.lab import cleanup

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("radvd") or not shutil.which("tcpdump"),
    reason="needs root, radvd and tcpdump",
)

PREFIX = "2001:db8:3::/64"
UPSTREAM_LL, UPSTREAM_GLOBAL, BEYOND = "fe80::1", "2001:db8:3::1", "2001:db8:ff::1"
RADVD_CONF = f"""interface eth0 {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix {PREFIX} {{ AdvOnLink on; AdvAutonomous on; }};
}};
"""


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(hosts=3, underlay="ipv6", physical_networks=("physnet1",)) as lab:
        yield lab


@pytest.fixture
def upstream(mh: MultiHostLab) -> Iterator[str]:
    """The upstream router: a namespace of the test's on the physnet1 segment, radvd in it."""
    tag = f"t3up{secrets.token_hex(3)}"
    name = f"v6t-{tag}"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    run(["ip", "netns", "add", name])
    try:
        mh.handle.attach_physical("physnet1", name, "eth0")
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=name)
        run(["sysctl", "-qw", "net.ipv6.conf.eth0.addr_gen_mode=1"], netns=name)  # only fe80::1
        run(
            ["ip", "-batch", "-"],
            netns=name,
            input="\n".join(
                [
                    "link set lo up",
                    f"address add {UPSTREAM_LL}/64 dev eth0 nodad",
                    f"address add {UPSTREAM_GLOBAL}/64 dev eth0 nodad",
                    f"address add {BEYOND}/128 dev lo",
                    "link set eth0 up",
                ]
            )
            + "\n",
        )
        conf = work / "radvd.conf"
        conf.write_text(RADVD_CONF)
        pid_file = work / "radvd.pid"
        argv = ["radvd", "-n", "-C", str(conf), "-p", str(pid_file), "-m", "logfile"]
        radvd = subprocess.Popen(
            in_netns([*argv, "-l", str(work / "radvd.log")], name),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield name
        finally:
            radvd.kill()
            radvd.wait(10)
    finally:
        remove_tagged(tag, [work])


def _upstream_ra_on(netns: str, ifname: str) -> str:
    """The first RA from the upstream that reaches ``ifname``, as tcpdump prints it (waits for
    it: radvd sends one every 3-4 s)."""
    argv = ["timeout", "60", "tcpdump", "-i", ifname, "-n", "-l", "-vv", "-c", "1"]
    argv += [f"icmp6 and ip6[40] == 134 and src host {UPSTREAM_LL}"]
    return run(argv, netns=netns, timeout=90).stdout


def test_workloads_on_two_hosts_use_the_upstream_router_on_the_physical_network(
    mh: MultiHostLab, upstream: str
) -> None:
    admin = mh.on(1)
    net = admin.network(
        name="r3-provider",
        **{"provider:network_type": "flat", "provider:physical_network": "physnet1"},
    )
    subnet = admin.subnet(net, PREFIX, ipv6_address_mode="slaac", gateway_ip=UPSTREAM_LL)
    assert subnet.get("ipv6_ra_mode") is None
    vms, addresses = [], []
    for index in (2, 3):
        host = mh.on(index)
        port = host.port(net)
        vms.append((host, host.workload(f"r3-vm{index}", port), port))
        addresses.append(str(eui64(PREFIX, port["mac_address"])))
    for host, _vm, port in vms:
        host.wait_active(port, timeout=90)
    for (host, vm, _port), address in zip(vms, addresses, strict=True):
        host.wait_addresses(vm, address, default_route=True, timeout=90)
        nic = host.guest(vm).interfaces.get("eth0")
        assert default_routers(nic) == {UPSTREAM_LL}
    for (host, vm, _port), other in zip(vms, reversed(addresses), strict=True):
        assert host.ping(vm, UPSTREAM_GLOBAL, count=3), f"{vm['name']}: upstream on-link"
        assert host.ping(vm, BEYOND, count=3), f"{vm['name']}: beyond the upstream"
        assert host.ping(vm, other, count=3), f"{vm['name']}: the other host's workload"
    lab = mh.handle
    claimed = cleanup.lab_namespaces(lab.tag, lab.lab_dir)
    assert not [n for n in claimed if n.startswith(ROUTER_NS_PREFIX)]
    capture = _upstream_ra_on(lab.host(2).netns, "eth1")
    assert PREFIX.split("/")[0] in capture, capture
