"""An upstream router on a lab's physical network, with a "far" host behind it: what a
router's external gateway reaches (R4, R20's north/south).

``with upstream(mh, "physnet1", tag, addresses=[...]) as (up, far):`` makes ``v6t-<tag>u`` (its
``eth0`` on the physical network, link-local ``fe80::1`` only, plus ``addresses``), and
``v6t-<tag>f`` (``FAR``, default route via the upstream's ``UPSTREAM_FAR``). ``radvd`` makes
the upstream advertise itself as a default router on the physical network. Both go afterwards,
whatever happens.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.conftest import remove_tagged
from tests.e2e.lab_api import LabApi
from tests.e2e.multihost import MultiHostLab
from v6fabric.drivers.commands import in_netns, run

UPSTREAM_LL = "fe80::1"
FAR_PREFIX, UPSTREAM_FAR, FAR = "2001:db8:f4::/64", "2001:db8:f4::1", "2001:db8:f4::2"
RADVD_CONF = """interface eth0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvDefaultLifetime 1800;
};
"""


def external_gateway(
    admin: LabApi, name: str, cidr: str, upstream_ip: str, router_ip: str
) -> dict[str, Any]:
    """A flat external network ``name`` on physnet1 with subnet ``cidr`` (``upstream_ip`` its
    gateway, no DHCP): the ``external_gateway_info`` that gives a router ``router_ip`` on it."""
    public = admin.network(
        name=name,
        **{"router:external": True, "provider:network_type": "flat"},
        **{"provider:physical_network": "physnet1"},
    )
    external = admin.subnet(public, cidr, gateway_ip=upstream_ip, enable_dhcp=False)
    return {
        "network_id": public["id"],
        "external_fixed_ips": [{"subnet_id": external["id"], "ip_address": router_ip}],
    }


def ip_lines(netns: str, *lines: str) -> None:
    run(["ip", "-batch", "-"], netns=netns, input="\n".join(lines) + "\n")


@contextmanager
def upstream(
    mh: MultiHostLab, physnet: str, tag: str, addresses: Iterable[str] = (), radvd: bool = False
) -> Iterator[tuple[str, str]]:
    """``addresses``: the upstream's CIDRs on the physical network besides ``fe80::1/64``."""
    up, far = f"v6t-{tag}u", f"v6t-{tag}f"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    daemon = None
    try:
        for name in (up, far):
            run(["ip", "netns", "add", name])
        mh.handle.attach_physical(physnet, up, "eth0")
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=up)
        run(["sysctl", "-qw", "net.ipv6.conf.eth0.addr_gen_mode=1"], netns=up)  # only fe80::1
        ip_lines(up, f"link add far0 type veth peer name eth0 netns {far}")
        ip_lines(
            up,
            "link set lo up",
            f"address add {UPSTREAM_LL}/64 dev eth0 nodad",
            *(f"address add {cidr} dev eth0 nodad" for cidr in addresses),
            f"address add {UPSTREAM_FAR}/64 dev far0 nodad",
            "link set eth0 up",
            "link set far0 up",
        )
        ip_lines(
            far,
            "link set lo up",
            f"address add {FAR}/64 dev eth0 nodad",
            "link set eth0 up",
            f"route add default via {UPSTREAM_FAR}",
        )
        if radvd:
            conf = work / "radvd.conf"
            conf.write_text(RADVD_CONF)
            argv = ["radvd", "-n", "-C", str(conf), "-p", str(work / "radvd.pid")]
            argv += ["-m", "logfile", "-l", str(work / "radvd.log")]
            daemon = subprocess.Popen(
                in_netns(argv, up), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        yield up, far
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait(10)
        remove_tagged(tag, [work])
