"""Named links read by rtnetlink in-process: what ``ip -json -d addr show dev NAME`` gives.

An incremental observe reads one or two links of a namespace (the taps a pass touched);
forking ``ip`` for that costs ~3 ms each time, most of such an observe. Here one
``RTM_GETLINK`` by name per link (and one by index for its master's name), and one
``RTM_GETADDR`` dump filtered by the kernel to that link (``NETLINK_GET_STRICT_CHK``), on a
socket opened inside the namespace by a ``setns`` thread (``netns.run_in_netns``, ~0.1 ms) and
closed after the read (a socket holds its namespace alive). The result is exactly the ``Link``
``iproute._parse_link`` makes of ``ip``'s JSON, field by field (``tests/e2e`` compares both on
real namespaces). VXLAN devices' forwarding tables (``read_fdb``) likewise: one RTM_GETNEIGH
dump (AF_BRIDGE) filtered by the kernel to the device, for what ``bridge -json fdb show``
gives. Standard library only, as ``metadata.neighbours``.

Only reads: writes stay ``ip -batch`` lines (one fork per namespace and phase, whatever the
number of operations).
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import socket
import struct
from collections.abc import Iterator, Sequence
from typing import Any

from v6fabric.drivers.netns import run_in_netns

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_EXT_MASK, IFLA_LINK_NETNSID = 18, 29, 37
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BRPORT_ISOLATED = 33
IFLA_GRE_IKEY, IFLA_GRE_LOCAL, IFLA_GRE_REMOTE = 4, 6, 7
IFLA_VLAN_ID = 1
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING = 1, 4, 7
IFLA_VXLAN_PORT, IFLA_VXLAN_LOCAL6 = 15, 17
RTM_NEWNEIGH, RTM_GETNEIGH = 28, 30
NDA_DST, NDA_LLADDR = 1, 2
NUD_PERMANENT = 0x80  # an fdb entry added by us, not learnt
NTF_SELF = 0x02
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP = 0x1
RT_SCOPE_LINK = 253
SOL_NETLINK, NETLINK_GET_STRICT_CHK = 270, 12
# link types whose address ``ip`` prints as an IP address (``ll_addr_n2a``)
ARPHRD_IPV4_ADDRESSED = frozenset({768, 776, 778})  # TUNNEL, SIT, IPGRE
ARPHRD_IPV6_ADDRESSED = frozenset({769, 823})  # TUNNEL6, IP6GRE

_HDR = struct.Struct("=IHHII")  # nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg
_ATTR = struct.Struct("=HH")  # rtattr
_NDMSG = struct.Struct("=BBHiHBB")  # ndmsg
_U32, _S32 = struct.Struct("=I"), struct.Struct("=i")
_seq = itertools.count(1)


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    data = _ATTR.pack(_ATTR.size + len(payload), kind) + payload
    return data + b"\0" * (_align(len(data)) - len(data))


def _attrs(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """type -> payload of the attributes in ``data[start:end]`` (the nested flag masked)."""
    found: dict[int, bytes] = {}
    while start + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(data, start)
        if length < _ATTR.size:
            break
        found[kind & 0x3FFF] = data[start + _ATTR.size : start + length]
        start += _align(length)
    return found


def _string(payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode("utf-8", "replace")


class Rtnl:
    """One NETLINK_ROUTE socket, request by request (the caller closes it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        try:  # the kernel filters an address dump by link (>= 4.20); else filtered here
            sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            self.strict = True
        except OSError:
            self.strict = False

    def close(self) -> None:
        self.sock.close()

    def _ask(self, kind: int, flags: int, body: bytes) -> Iterator[tuple[int, bytes]]:
        """(message type, message) of the answers to one request, until it is answered."""
        seq = next(_seq) & 0xFFFFFFFF
        self.sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, got, _flags, got_seq, _pid = _HDR.unpack_from(data, offset)
                if length < _HDR.size:
                    raise OSError(errno.EPROTO, "short netlink message")
                message, offset = data[offset : offset + length], offset + _align(length)
                if got_seq != seq:
                    continue  # a late answer to an earlier request
                if got == NLMSG_DONE:
                    return
                if got == NLMSG_ERROR:
                    (code,) = _S32.unpack_from(message, _HDR.size)
                    if code:
                        raise OSError(-code, f"netlink: {errno.errorcode.get(-code, code)}")
                    return
                yield got, message
                if not flags & NLM_F_DUMP:
                    return

    def link(self, *, name: str | None = None, index: int = 0) -> bytes | None:
        """The RTM_NEWLINK of one link, None when there is no such link."""
        attrs = _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
        if name is not None:
            attrs += _attr(IFLA_IFNAME, name.encode() + b"\0")
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + attrs
        try:
            for kind, message in self._ask(RTM_GETLINK, 0, body):
                if kind == RTM_NEWLINK:
                    return message
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL, errno.ERANGE):
                return None  # no such link (EINVAL/ERANGE: a name the kernel cannot hold)
            raise
        return None

    def fdb(self, index: int) -> list[bytes]:
        """The RTM_NEWNEIGH messages of link ``index``'s forwarding table (AF_BRIDGE)."""
        body = _NDMSG.pack(socket.AF_BRIDGE, 0, 0, index if self.strict else 0, 0, 0, 0)
        found = []
        for kind, message in self._ask(RTM_GETNEIGH, NLM_F_DUMP, body):
            if kind == RTM_NEWNEIGH and _NDMSG.unpack_from(message, _HDR.size)[3] == index:
                found.append(message)
        return found

    def addresses(self, index: int) -> list[bytes]:
        """The RTM_NEWADDR messages of link ``index``, in the kernel's order."""
        body = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, index if self.strict else 0)
        found = []
        for kind, message in self._ask(RTM_GETADDR, NLM_F_DUMP, body):
            if kind == RTM_NEWADDR and _IFADDR.unpack_from(message, _HDR.size)[4] == index:
                found.append(message)
        return found


def _mac(payload: bytes, link_type: int) -> str:
    """``ip``'s ``ll_addr_n2a``: colon-separated hex, or an IP address for IP tunnels."""
    if len(payload) == 4 and link_type in ARPHRD_IPV4_ADDRESSED:
        return socket.inet_ntop(socket.AF_INET, payload)
    if len(payload) == 16 and link_type in ARPHRD_IPV6_ADDRESSED:
        return socket.inet_ntop(socket.AF_INET6, payload)
    return payload.hex(":")


def _address(message: bytes) -> dict[str, Any] | None:
    """One ``addr_info`` entry as ``ip -json`` prints it (the keys ``_parse_link`` reads)."""
    family, prefixlen, flags, scope, _index = _IFADDR.unpack_from(message, _HDR.size)
    attrs = _attrs(message, _HDR.size + _IFADDR.size, len(message))
    if IFA_FLAGS in attrs:
        (flags,) = _U32.unpack(attrs[IFA_FLAGS][:4])
    local = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
    names = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
    if local is None or family not in names:
        return None
    return {
        "family": names[family],
        "local": str(ipaddress.ip_address(local)),
        "prefixlen": prefixlen,
        "scope": "link" if scope == RT_SCOPE_LINK else str(scope),
        "tentative": bool(flags & IFA_F_TENTATIVE),
        "dadfailed": bool(flags & IFA_F_DADFAILED),
    }


def link_json(rtnl: Rtnl, message: bytes) -> dict[str, Any]:
    """The ``ip -json -d addr show`` object of one link (the keys ``_parse_link`` reads)."""
    _family, link_type, index, flags, _change = _IFINFO.unpack_from(message, _HDR.size)
    attrs = _attrs(message, _HDR.size + _IFINFO.size, len(message))
    raw: dict[str, Any] = {
        "ifindex": index,
        "ifname": _string(attrs.get(IFLA_IFNAME, b"")),
        "flags": ["UP"] if flags & IFF_UP else [],
    }
    if IFLA_MTU in attrs:
        raw["mtu"] = _U32.unpack(attrs[IFLA_MTU][:4])[0]
    if IFLA_ADDRESS in attrs:
        raw["address"] = _mac(attrs[IFLA_ADDRESS], link_type)
    netnsid = attrs.get(IFLA_LINK_NETNSID)
    if netnsid is not None:
        raw["link_netnsid"] = _S32.unpack(netnsid[:4])[0]
        peer = _S32.unpack(attrs[IFLA_LINK][:4])[0] if IFLA_LINK in attrs else 0
        if peer:  # ``ip`` names a peer in its own namespace, numbers one elsewhere
            raw["link_index"] = peer
    if IFLA_MASTER in attrs:
        (master,) = _U32.unpack(attrs[IFLA_MASTER][:4])
        found = rtnl.link(index=master)
        name = (
            _attrs(found, _HDR.size + _IFINFO.size, len(found)).get(IFLA_IFNAME) if found else None
        )
        raw["master"] = _string(name) if name is not None else f"if{master}"
    if IFLA_LINKINFO in attrs:
        info = attrs[IFLA_LINKINFO]
        nested = _attrs(info, 0, len(info))
        linkinfo: dict[str, Any] = {}
        if IFLA_INFO_KIND in nested:
            linkinfo["info_kind"] = _string(nested[IFLA_INFO_KIND])
        if linkinfo.get("info_kind") == "bridge" and IFLA_INFO_DATA in nested:
            data = _attrs(nested[IFLA_INFO_DATA], 0, len(nested[IFLA_INFO_DATA]))
            linkinfo["info_data"] = {
                key: _U32.unpack(data[kind][:4])[0]
                for key, kind in (
                    ("stp_state", IFLA_BR_STP_STATE),
                    ("forward_delay", IFLA_BR_FORWARD_DELAY),
                )
                if kind in data
            }
        if linkinfo.get("info_kind") == "vxlan" and IFLA_INFO_DATA in nested:
            linkinfo["info_data"] = _vxlan_data(nested[IFLA_INFO_DATA])
        if linkinfo.get("info_kind") in ("gretap", "ip6gretap") and IFLA_INFO_DATA in nested:
            linkinfo["info_data"] = _gre_data(nested[IFLA_INFO_DATA])
        if linkinfo.get("info_kind") == "vlan" and IFLA_INFO_DATA in nested:
            data = _attrs(nested[IFLA_INFO_DATA], 0, len(nested[IFLA_INFO_DATA]))
            if IFLA_VLAN_ID in data:
                linkinfo["info_data"] = {"id": struct.unpack("=H", data[IFLA_VLAN_ID][:2])[0]}
            lower = _S32.unpack(attrs[IFLA_LINK][:4])[0] if IFLA_LINK in attrs else 0
            found_lower = rtnl.link(index=lower) if lower else None
            if found_lower is not None:  # ``ip`` names the lower device by its name
                lower_attrs = _attrs(found_lower, _HDR.size + _IFINFO.size, len(found_lower))
                raw["link"] = _string(lower_attrs.get(IFLA_IFNAME, b""))
        if IFLA_INFO_SLAVE_KIND in nested:
            linkinfo["info_slave_kind"] = _string(nested[IFLA_INFO_SLAVE_KIND])
            slave = nested.get(IFLA_INFO_SLAVE_DATA, b"")
            flags = _attrs(slave, 0, len(slave))
            if IFLA_BRPORT_ISOLATED in flags:
                linkinfo["info_slave_data"] = {"isolated": bool(flags[IFLA_BRPORT_ISOLATED][0])}
        raw["linkinfo"] = linkinfo
    raw["addr_info"] = [a for a in map(_address, rtnl.addresses(index)) if a is not None]
    return raw


def _vxlan_data(payload: bytes) -> dict[str, Any]:
    """The keys of ``ip``'s vxlan ``info_data`` that ``_parse_link`` reads: ``local`` or
    ``local6`` (whichever the kernel sends, when not unspecified), as ``ip`` prints them."""
    data = _attrs(payload, 0, len(payload))
    found: dict[str, Any] = {}
    if IFLA_VXLAN_ID in data:
        found["id"] = _U32.unpack(data[IFLA_VXLAN_ID][:4])[0]
    if IFLA_VXLAN_LOCAL in data:
        if any(data[IFLA_VXLAN_LOCAL][:4]):
            found["local"] = socket.inet_ntop(socket.AF_INET, data[IFLA_VXLAN_LOCAL][:4])
    elif IFLA_VXLAN_LOCAL6 in data and any(data[IFLA_VXLAN_LOCAL6][:16]):
        found["local6"] = socket.inet_ntop(socket.AF_INET6, data[IFLA_VXLAN_LOCAL6][:16])
    if IFLA_VXLAN_PORT in data:
        found["port"] = struct.unpack("!H", data[IFLA_VXLAN_PORT][:2])[0]
    if IFLA_VXLAN_LEARNING in data:
        found["learning"] = bool(data[IFLA_VXLAN_LEARNING][0])
    return found


def _gre_data(payload: bytes) -> dict[str, Any]:
    """``ip``'s gretap/ip6gretap ``info_data`` keys that ``_parse_link`` reads: ``ikey`` (as
    an IPv4 address, as ``ip`` prints it), ``local``, ``remote``."""
    data = _attrs(payload, 0, len(payload))
    found: dict[str, Any] = {}
    if IFLA_GRE_IKEY in data:
        found["ikey"] = socket.inet_ntop(socket.AF_INET, data[IFLA_GRE_IKEY][:4])
    for key, kind in (("local", IFLA_GRE_LOCAL), ("remote", IFLA_GRE_REMOTE)):
        value = data.get(kind)
        if value is not None and len(value) in (4, 16) and any(value):
            family = socket.AF_INET if len(value) == 4 else socket.AF_INET6
            found[key] = socket.inet_ntop(family, value)
    return found


def _fdb_entry(message: bytes) -> dict[str, Any] | None:
    """A ``self`` entry with a destination, as ``bridge -json fdb show`` prints it (``mac``,
    ``dst``); None for any other (the bridge's, the device's own MAC)."""
    _family, _pad, _pad2, _index, state, flags, _type = _NDMSG.unpack_from(message, _HDR.size)
    attrs = _attrs(message, _HDR.size + _NDMSG.size, len(message))
    dst, mac = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
    if not flags & NTF_SELF or mac is None or dst is None or len(dst) not in (4, 16):
        return None
    family = socket.AF_INET if len(dst) == 4 else socket.AF_INET6
    return {
        "mac": mac.hex(":"),
        "dst": socket.inet_ntop(family, dst),
        "flags": ["self"],
        "state": "permanent" if state & NUD_PERMANENT else "",
    }


def read_fdb(netns: str | None, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The ``self`` entries with a destination of each of those ``names`` that exist (VXLAN
    devices): one link lookup and one fdb dump filtered by the kernel to that device each.
    Raises ``OSError`` as ``read_links``."""
    rtnl = open_rtnl(netns)
    try:
        found = {}
        for name in sorted(set(names)):
            message = rtnl.link(name=name)
            if message is not None:
                index = _IFINFO.unpack_from(message, _HDR.size)[2]
                found[name] = [e for e in map(_fdb_entry, rtnl.fdb(index)) if e is not None]
        return found
    finally:
        rtnl.close()


def open_rtnl(netns: str | None) -> Rtnl:
    """A socket in ``netns`` (None: this thread's own namespace)."""

    def make() -> socket.socket:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        try:
            sock.bind((0, 0))
            sock.settimeout(5.0)
        except OSError:
            sock.close()
            raise
        return sock

    return Rtnl(run_in_netns(netns, make) if netns else make())


def read_links(netns: str | None, names: Sequence[str]) -> list[dict[str, Any]]:
    """``ip -json -d addr show dev NAME`` objects of those ``names`` that exist. Raises
    ``OSError`` when the namespace cannot be entered or netlink fails."""
    rtnl = open_rtnl(netns)
    try:
        found = []
        for name in sorted(set(names)):
            message = rtnl.link(name=name)
            if message is not None:
                found.append(link_json(rtnl, message))
        return found
    finally:
        rtnl.close()
