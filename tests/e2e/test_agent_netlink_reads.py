"""Named links read by rtnetlink in-process (``drivers.rtnetlink``) are exactly what the ``ip``
parser makes of ``ip -json -d addr show dev NAME``, on real namespaces (root only): bridges
with and without STP, veth pairs across namespaces and within one, a tap, lo, a dummy and
an IP tunnel where the kernel has their modules, IPv4 and IPv6 addresses (tentative, deprecated, of
link scope), enslaved and not, VXLAN devices (IPv4, IPv6 and no local endpoint) and their
forwarding tables, and names that do not exist."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from v6fabric.drivers import rtnetlink
from v6fabric.drivers.commands import run
from v6fabric.drivers.fdb import ZERO_MAC, AddFdb, BridgeFdb
from v6fabric.drivers.iproute import IpNetlink, _parse_link
from v6fabric.drivers.sysctl import ProcSysctls

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]


def _ip(netns: str, *lines: str, check: bool = True) -> None:
    run(
        ["ip", "-n", netns, "-batch", "-"],
        input="".join(f"{line}\n" for line in lines),
        check=check,
    )


def test_in_process_link_reads_equal_the_ip_parser(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    a, b = f"t7-{ns_tag}-a", f"t7-{ns_tag}-b"
    netlink = IpNetlink()
    assert netlink.add_namespaces([a, b]) == [None, None]
    _ip(
        a,
        "link add v6b-x mtu 1450 type bridge stp_state 0 forward_delay 0",
        "link add v6b-stp type bridge stp_state 1",
        f"link add tapx mtu 1450 type veth peer name qr-x netns {b} address fa:16:3e:0c:00:21",
        "link add vin type veth peer name vout",  # a pair within one namespace
        "link add adr0 type veth peer name adr1",
        "tuntap add dev tapv mode tap",
        "link add vx-6 mtu 1450 type vxlan id 42 local fd00::1 dstport 4789 nolearning",
        "link add vx-4 type vxlan id 43 local 192.0.2.1 dstport 4790",  # learning on
        "link add vx-0 type vxlan id 44 dstport 4789",  # no local endpoint
    )
    # no DAD where the links have carrier: an address must not turn ready between the reads
    ProcSysctls().write(a, {f"net.ipv6.conf.{n}.accept_dad": "0" for n in ("adr0", "adr1")})
    _ip(
        a,
        "link set dev tapx master v6b-x up",
        "link set dev v6b-x up",
        "link set dev tapv master v6b-x",
        "link set dev vin up",
        "link set dev adr0 up",
        "link set dev adr1 up",
        "link set dev lo up",
        "link set dev vx-6 master v6b-x up",
        "addr add 2001:db8:9::1/64 dev adr0",
        "addr add 2001:db8:9::2/64 dev adr0 preferred_lft 0",
        "addr add 10.9.0.1/24 dev adr0",
        "addr add 10.9.0.9 peer 10.9.0.10/32 dev adr0",
        "addr add fe80::a9fe:a9fe/64 dev adr0 preferred_lft 0",
        "addr add 2001:db8:8::1/64 dev vin",  # its peer is down: tentative for good
        "addr add fe80::8/64 dev vin",
    )
    _ip(b, "link set dev qr-x up", "addr add 2001:db8:1::1/64 dev qr-x nodad", "link set lo up")
    for line in (
        "link add dum0 type dummy",
        "link add gre9 type gre remote 192.0.2.1 local 192.0.2.2",
    ):
        _ip(a, line, check=False)  # where the kernel has the module
    names = [
        "v6b-x",
        "v6b-stp",
        "tapx",
        "vin",
        "vout",
        "adr0",
        "tapv",
        "lo",
        "dum0",
        "gre9",
        "vx-6",
        "vx-4",
        "vx-0",
        "nope",
    ]
    for netns, wanted in ((a, names), (b, ["qr-x", "lo", "tapx"]), (None, ["lo", "nope"])):
        by_ip = netlink.read_links_by_ip(netns, wanted)
        assert by_ip, (netns, wanted)
        for one in wanted:  # one by one too: a master or peer read on its own
            assert netlink.read_links(netns, [one]) == netlink.read_links_by_ip(netns, [one])
        in_process = {
            link.name: link for link in map(_parse_link, rtnetlink.read_links(netns, wanted))
        }
        assert in_process == by_ip  # not by a fallback to ``ip``
        assert netlink.read_links(netns, wanted) == by_ip
    links = netlink.read_links(a, names)
    assert links["tapx"].peer_netnsid is not None and links["tapx"].peer_ifindex
    assert links["vin"].peer_ifindex is None  # ``ip`` names a same-namespace peer, no index
    assert links["v6b-stp"].stp and links["v6b-x"].stp is False
    assert "2001:db8:8::1/64" in links["vin"].addresses and not links["vin"].link_local_ready
    assert links["adr0"].link_local_ready and "10.9.0.9/32" in links["adr0"].addresses
    assert "nope" not in links
    assert (links["vx-6"].vni, links["vx-6"].vxlan_local, links["vx-6"].learning) == (
        42,
        "fd00::1",
        False,
    )
    assert (links["vx-4"].vxlan_local, links["vx-4"].dstport, links["vx-4"].learning) == (
        "192.0.2.1",
        4790,
        True,
    )
    assert links["vx-0"].vxlan_local is None
    fdb = BridgeFdb()
    ops = [
        AddFdb(a, "vx-6", ZERO_MAC, "fd00::2"),
        AddFdb(a, "vx-6", ZERO_MAC, "fd00::3"),
        AddFdb(a, "vx-6", "fa:16:3e:0c:00:31", "fd00::2"),
        AddFdb(a, "vx-4", "fa:16:3e:0c:00:32", "192.0.2.2"),
    ]
    assert fdb.apply(a, ops) == [None] * 4
    devices = ["vx-6", "vx-4", "vx-0", "v6b-x", "nope"]
    by_bridge = fdb.read_by_bridge(a, devices)
    assert rtnetlink.read_fdb(a, devices)  # in-process, not a fallback
    assert fdb.read(a, devices) == by_bridge
    assert by_bridge["vx-6"] == {
        (ZERO_MAC, "fd00::2"),
        (ZERO_MAC, "fd00::3"),
        ("fa:16:3e:0c:00:31", "fd00::2"),
    }  # not the device's own MAC, which the bridge holds for its port
    assert by_bridge["vx-4"] == {("fa:16:3e:0c:00:32", "192.0.2.2")}
    assert by_bridge["vx-0"] == by_bridge["v6b-x"] == frozenset() and "nope" not in by_bridge
    assert netlink.read_links(f"t7-{ns_tag}-gone", ["lo"]) == {}  # by ip: as before
    for name in (b, a):
        netlink.delete_namespace(name)
