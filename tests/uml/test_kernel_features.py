"""802.1Q VLANs and GRE taps work inside the UML guest, proved by traffic and captures.

This host's kernel has neither (``ip link add ... type vlan`` is "Operation not supported",
``gretap``/``ip6gretap`` "Unknown device type"); the UML kernel has both as modules, loaded on
demand. These are the building blocks of VLAN and GRE provider networks.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.traffic import pings
from tests.uml.conftest import Capture
from v6fabric.drivers.commands import ip_batch, run

pytestmark = pytest.mark.uml


def _veth_pair(a: str, a_name: str, b: str, b_name: str) -> str:
    return f"link add {a_name} netns {a} type veth peer name {b_name} netns {b}"


def test_two_namespaces_ping_over_vlan_100_through_a_vlan_filtering_bridge(
    netns_tag: str,
) -> None:
    a, b, switch = f"{netns_tag}a", f"{netns_tag}b", f"{netns_tag}s"
    ip_batch(
        None,
        [
            f"netns add {a}",
            f"netns add {b}",
            f"netns add {switch}",
            _veth_pair(a, "eth0", switch, "pa"),
            _veth_pair(b, "eth0", switch, "pb"),
        ],
    )
    ip_batch(
        switch,
        [
            "link add br0 type bridge vlan_filtering 1",
            "link set pa master br0",
            "link set pb master br0",
            "link set pa up",
            "link set pb up",
            "link set br0 up",
        ],
    )
    for port in ("pa", "pb"):  # tagged members of VLAN 100 (untagged traffic stays on VLAN 1)
        run(["bridge", "-n", switch, "vlan", "add", "vid", "100", "dev", port])
    for ns, host in ((a, 1), (b, 2)):
        ip_batch(
            ns,
            [
                "link set eth0 up",
                "link add link eth0 name eth0.100 type vlan id 100",
                f"address add fd00:100::{host}/64 dev eth0.100 nodad",
                "link set eth0.100 up",
            ],
        )

    capture = Capture(switch, "pb", "vlan 100 and icmp6 and ip6[40] == 128")
    try:
        assert pings(a, "fd00:100::2", count=3)
        frames = capture.lines()
    finally:
        capture.close()
    assert frames, "no tagged echo request seen on the bridge port"
    assert "ethertype 802.1Q (0x8100)" in frames[0] and "vlan 100" in frames[0], frames
    assert "fd00:100::1 > fd00:100::2: ICMP6, echo request" in frames[0], frames

    # The bridge filters by VLAN: once pb leaves VLAN 100, nothing gets through.
    run(["bridge", "-n", switch, "vlan", "del", "vid", "100", "dev", "pb"])
    run(["ip", "-n", a, "neigh", "flush", "dev", "eth0.100"])
    assert not pings(a, "fd00:100::2", count=2)


UNDERLAYS = {
    "gretap-over-ipv4": ("gretap", "192.0.2.1", "192.0.2.2", 24, "ip"),
    # ip6gretap puts a tunnel encapsulation limit option before GRE: not "ip6 proto 47"
    "ip6gretap-over-ipv6": ("ip6gretap", "fd00:1::1", "fd00:1::2", 64, "ip6"),
}


@pytest.mark.parametrize("kind", UNDERLAYS)
def test_an_ethernet_overlay_over_gre_carries_ping6(netns_tag: str, kind: str) -> None:
    device, local, remote, length, family = UNDERLAYS[kind]
    ends = {f"{netns_tag}1": (local, remote, 1), f"{netns_tag}2": (remote, local, 2)}
    names = list(ends)
    ip_batch(
        None, [*(f"netns add {ns}" for ns in names), _veth_pair(names[0], "ul0", names[1], "ul0")]
    )
    for ns, (mine, theirs, host) in ends.items():
        ip_batch(
            ns,
            [
                f"address add {mine}/{length} dev ul0" + (" nodad" if ":" in mine else ""),
                "link set ul0 up",
                f"link add gt0 type {device} local {mine} remote {theirs}",
                f"address add fd00:2::{host}/64 dev gt0 nodad",
                "link set gt0 up",
            ],
        )

    capture = Capture(names[1], "ul0", family, count=0)
    try:
        assert pings(names[0], "fd00:2::2", count=3)
        frames = capture.stop()
    finally:
        capture.close()
    echoes = [f for f in frames if "fd00:2::1 > fd00:2::2: ICMP6, echo request" in f]
    assert echoes, frames
    # The overlay's Ethernet frame inside GRE (TEB) in the underlay's family; over IPv6 after
    # the tunnel encapsulation limit option (DSTOPT).
    outer = re.compile(rf"{re.escape(local)} > {re.escape(remote)}: (DSTOPT )?GREv0, proto TEB")
    for frame in echoes:
        assert outer.search(frame), frame
