"""Who is asking: network + source address + the neighbour table's MAC, failing closed; and
the rtnetlink neighbour request/reply encoding the daemon uses to learn that MAC."""

from __future__ import annotations

import socket
import struct

from tests.unit.metadata_cases import MAC_A, MAC_B, port, two_networks
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.metadata.identify import PortIndex, identify, index_ports
from v6fabric.metadata.neighbours import (
    NDA_DST,
    NDA_LLADDR,
    NLMSG_ERROR,
    RTM_GETNEIGH,
    RTM_NEWNEIGH,
    neigh_request,
    parse_reply,
)

LL_A = "fe80::f816:3eff:fe00:a"


def index() -> PortIndex:
    return index_ports(two_networks(source=LL_A))


def test_known_source_and_mac_on_its_network_is_its_port() -> None:
    found = identify(index(), "net-a", LL_A, MAC_A)
    assert found is not None and found.device_id == "dev-a"


def test_zone_case_and_spelling_do_not_matter() -> None:
    for source in (f"{LL_A}%ns-aaaa", "FE80:0:0:0:F816:3EFF:FE00:000A%7"):
        found = identify(index(), "net-a", source, MAC_A.upper())
        assert found is not None and found.port_id == "port-a"


def test_ipv4_and_mapped_ipv4_sources() -> None:
    for source in ("127.0.0.1", "::ffff:127.0.0.1"):
        found = identify(index(), "net-a", source, MAC_A)
        assert found is not None and found.port_id == "port-a"


def test_fails_closed() -> None:
    idx = index()
    assert identify(idx, "net-a", LL_A, None) is None  # no neighbour entry
    assert identify(idx, "net-a", LL_A, "") is None
    assert identify(idx, "net-a", LL_A, MAC_B) is None  # someone else's MAC
    assert identify(idx, "net-b", LL_A, MAC_A) is None  # another network
    assert identify(idx, "net-a", "fe80::99", MAC_A) is None  # an address not listed
    assert identify(idx, "net-a", "not an address", MAC_A) is None


def test_a_shared_address_is_decided_by_the_mac() -> None:
    vip = "2001:db8:a::100"
    spec = MetadataSpec.of(
        ports=(
            port("p1", "net-a", MAC_A, (vip,), "dev-a"),
            port("p2", "net-a", MAC_B, (vip,), "dev-b"),
        )
    )
    idx = index_ports(spec)
    assert identify(idx, "net-a", vip, MAC_A).device_id == "dev-a"  # type: ignore[union-attr]
    assert identify(idx, "net-a", vip, MAC_B).device_id == "dev-b"  # type: ignore[union-attr]
    assert identify(idx, "net-a", vip, "fa:16:3e:ff:ff:ff") is None


def _reply(seq: int, kind: int, attrs: list[tuple[int, bytes]]) -> bytes:
    body = struct.pack("=BBHiHBB", socket.AF_INET6, 0, 0, 7, 2, 0, 1)
    for atype, value in attrs:
        attr = struct.pack("=HH", 4 + len(value), atype) + value
        body += attr + b"\0" * (-len(attr) % 4)
    return struct.pack("=IHHII", 16 + len(body), kind, 0, seq, 0) + body


def test_neighbour_request_encoding() -> None:
    raw = neigh_request(5, 7, LL_A + "%ns-aaaa")
    length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", raw)
    assert (length, kind, flags, seq) == (len(raw), RTM_GETNEIGH, 1, 5)
    family, _p1, _p2, ifindex, _state, _flags, _type = struct.unpack_from("=BBHiHBB", raw, 16)
    assert (family, ifindex) == (socket.AF_INET6, 7)
    alen, atype = struct.unpack_from("=HH", raw, 28)
    assert (alen, atype) == (20, NDA_DST)
    assert raw[32:48] == socket.inet_pton(socket.AF_INET6, LL_A)
    assert struct.unpack_from("=B", neigh_request(1, 2, "10.0.0.1"), 16)[0] == socket.AF_INET


def test_neighbour_reply_parsing() -> None:
    mac = bytes.fromhex("fa163e00000a")
    dst = socket.inet_pton(socket.AF_INET6, LL_A)
    assert parse_reply(_reply(9, RTM_NEWNEIGH, [(NDA_DST, dst), (NDA_LLADDR, mac)]), 9) == (
        True,
        MAC_A,
    )
    assert parse_reply(_reply(9, RTM_NEWNEIGH, [(NDA_DST, dst)]), 9) == (True, None)  # INCOMPLETE
    error = struct.pack("=IHHII", 36, NLMSG_ERROR, 0, 9, 0) + struct.pack("=i", -2) + b"\0" * 16
    assert parse_reply(error, 9) == (True, None)  # ENOENT
    assert parse_reply(_reply(8, RTM_NEWNEIGH, [(NDA_LLADDR, mac)]), 9) == (False, None)  # stale
