"""``IpNetlink``, the real ``Netlink`` adapter: iproute2's ``ip`` through ``commands.run``.

Its own module because it is how the operations of ``drivers.netlink`` are carried out, not
what they are: their ``ip -batch`` lines, the per-line results of a batch and the parsing of
``ip``'s JSON. What it does:

* one read per namespace: ``ip -n NS -json -d -batch -`` with ``addr show`` (every link with its
  kind, master, MAC, MTU, flags, veth peer and addresses) and ``route show table all proto 111``;
* one write per namespace and phase: ``ip -n NS -force -batch -`` with one line per operation;
  ``-force`` keeps going after a failed line and names it (``Command failed -:N``), so each
  operation gets its own result and a failure stays pending without blocking the others.

Why the CLI and not pyroute2: ``ip -n`` enters named namespaces exactly as every other tool here
does (``/run/netns``), a batch costs one fork per namespace however many lines it has (the
500-port scale target needs a few dozen forks, not thousands), no dependency is added, and the
JSON output is stable across iproute2 versions. The exception is reading a few named links
(``read_links``, what an incremental observe does): ``drivers.rtnetlink`` asks the kernel from
this process and builds the same ``Link``, where a fork of ``ip`` cost ~3 ms. The fake beside
it is ``drivers.fake``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from v6fabric.drivers import neighbors, rtnetlink
from v6fabric.drivers.commands import run
from v6fabric.drivers.neighbors import (
    DeleteNeighbor,
    ReplaceNeighbor,
    neighbor_line,
    parse_neighbors,
)
from v6fabric.drivers.netlink import (
    RTPROT_V6FABRIC,
    AddAddress,
    AddBridge,
    AddGretap,
    AddVeth,
    AddVlan,
    AddVxlan,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    Link,
    LinkOp,
    NetnsView,
    ReplaceRoute,
    Route,
    SetBridgeOptions,
    SetBridgePort,
    SetLink,
    SetVxlanLearning,
    is_ipv6,
    normalise_cidr,
    normalise_destination,
    tolerated,
)
from v6fabric.drivers.netns import NETNS_RUN_DIR

log = logging.getLogger(__name__)


def _op_line(op: LinkOp) -> str:
    """The ``ip -batch`` line for one operation (the namespace is given by ``-n``)."""
    match op:
        case AddBridge(name=name, mtu=mtu):
            return f"link add {name} mtu {mtu} type bridge stp_state 0 forward_delay 0"
        case SetBridgeOptions(name=name):
            return f"link set dev {name} type bridge stp_state 0 forward_delay 0"
        case AddVeth():
            peer_ns = f" netns {op.peer_netns}" if op.peer_netns else ""
            return (
                f"link add {op.name} mtu {op.mtu} type veth peer name {op.peer}{peer_ns}"
                f" address {op.peer_mac} mtu {op.mtu}"
            )
        case AddVxlan():
            return (
                f"link add {op.name} mtu {op.mtu} type vxlan id {op.vni} local {op.local}"
                f" dstport {op.dstport} {'learning' if op.learning else 'nolearning'}"
            )
        case SetVxlanLearning(name=name, learning=learning):
            return f"link set dev {name} type vxlan {'learning' if learning else 'nolearning'}"
        case AddGretap():
            # over IPv6 without the tunnel encapsulation limit option (8 bytes more than the
            # overhead network MTUs are computed with: ``services.segments.OVERHEAD``)
            kind = "ip6gretap" if is_ipv6(op.local) else "gretap"
            return (
                f"link add {op.name} mtu {op.mtu} type {kind} key {op.key}"
                f" local {op.local} remote {op.remote}"
                + (" encaplimit none" if is_ipv6(op.local) else "")
            )
        case AddVlan():
            return f"link add link {op.lower} name {op.name} mtu {op.mtu} type vlan id {op.vid}"
        case SetBridgePort(name=name, isolated=isolated):
            return f"link set dev {name} type bridge_slave isolated {'on' if isolated else 'off'}"
        case SetLink():
            words = ["link", "set", "dev", op.name]
            if op.mac is not None:
                words += ["address", op.mac]
            if op.mtu is not None:
                words += ["mtu", str(op.mtu)]
            if op.master is not None:  # "": out of its bridge
                words += ["master", op.master] if op.master else ["nomaster"]
            if op.up is not None:
                words.append("up" if op.up else "down")
            return " ".join(words)
        case DeleteLink(name=name):
            return f"link del dev {name}"
        case AddAddress(ifname=ifname, cidr=cidr, deprecated=deprecated):
            line = f"addr replace {cidr} dev {ifname}" + (" nodad" if is_ipv6(cidr) else "")
            return line + (" preferred_lft 0" if deprecated else "")
        case DeleteAddress(ifname=ifname, cidr=cidr):
            return f"addr del {cidr} dev {ifname}"
        case ReplaceRoute(route=route) | DeleteRoute(route=route):
            verb = "replace" if isinstance(op, ReplaceRoute) else "del"
            words = ["route", verb, route.destination]
            if route.gateway:
                words += ["via", route.gateway]
            if route.device:
                words += ["dev", route.device]
            return " ".join([*words, "proto", str(RTPROT_V6FABRIC)])
        case ReplaceNeighbor() | DeleteNeighbor():
            return neighbor_line(op)
    raise TypeError(f"not a link operation: {op!r}")


def batch_results(
    ops: Sequence[Any],
    stderr: str,
    returncode: int,
    tolerate: Callable[[Any, str], bool] = tolerated,
) -> list[str | None]:
    """Per-line results of an ``ip -force -batch -`` (or ``bridge``) run, from its stderr;
    a failed line that ``tolerate`` accepts counts as done."""
    results: list[str | None] = [None] * len(ops)
    pending: list[str] = []
    failed_any = False
    for line in stderr.splitlines():
        found = re.match(r"Command failed -:(\d+)", line)
        if not found:
            pending.append(line)
            continue
        failed_any = True
        index = int(found.group(1)) - 1
        message = " ".join(pending).strip() or "failed"
        pending = []
        if 0 <= index < len(ops):
            results[index] = None if tolerate(ops[index], message) else message
    if returncode != 0 and not failed_any:
        text = stderr.strip() or f"ip exited {returncode}"
        results = [text] * len(ops)
    return results


def _parse_link(raw: Mapping[str, Any]) -> Link:
    info = raw.get("linkinfo") or {}
    data = info.get("info_data") or {}
    addresses: list[str] = []
    ll_ready = False
    for addr in raw.get("addr_info") or []:
        local = addr.get("local")
        if not local or addr.get("family") not in ("inet", "inet6"):
            continue
        if addr.get("family") == "inet6" and addr.get("scope") == "link":
            ll_ready = ll_ready or not (addr.get("tentative") or addr.get("dadfailed"))
        addresses.append(normalise_cidr(f"{local}/{addr.get('prefixlen')}"))
    kind = info.get("info_kind")
    vxlan = kind == "vxlan"
    local = (data.get("local") or data.get("local6")) if vxlan else None
    gre = kind in ("gretap", "ip6gretap")
    slave = info.get("info_slave_data") if info.get("info_slave_kind") == "bridge" else None
    return Link(
        name=raw["ifname"],
        ifindex=int(raw.get("ifindex", 0)),
        kind=kind,
        mac=str(raw.get("address", "")).lower(),
        mtu=int(raw.get("mtu", 0)),
        up="UP" in (raw.get("flags") or []),
        master=raw.get("master"),
        peer_ifindex=raw.get("link_index") if kind == "veth" else None,
        peer_netnsid=raw.get("link_netnsid") if kind == "veth" else None,
        addresses=tuple(sorted(addresses)),
        link_local_ready=ll_ready,
        stp=bool(data["stp_state"]) if kind == "bridge" and "stp_state" in data else None,
        forward_delay=data.get("forward_delay") if kind == "bridge" else None,
        vni=data.get("id") if vxlan else None,
        vxlan_local=str(ipaddress.ip_address(local)) if local else None,
        dstport=data.get("port") if vxlan else None,
        learning=bool(data.get("learning")) if vxlan else None,
        gre_key=_dotted_key(data.get("ikey")) if gre else None,
        tunnel_local=_address_or_none(data.get("local")) if gre else None,
        tunnel_remote=_address_or_none(data.get("remote")) if gre else None,
        vlan_id=data.get("id") if kind == "vlan" else None,
        lower=raw.get("link") if kind == "vlan" else None,
        isolated=bool(slave.get("isolated")) if slave is not None else None,
    )


def _dotted_key(text: str | None) -> int | None:
    """``ip`` prints a GRE key as an IPv4 address (``0.0.0.100``)."""
    return int(ipaddress.IPv4Address(text)) if text else None


def _address_or_none(text: str | None) -> str | None:
    return str(ipaddress.ip_address(text)) if text and text != "any" else None


def _parse_route(raw: Mapping[str, Any]) -> Route:
    dst = str(raw.get("dst", "default"))
    gateway = raw.get("gateway")
    # IPv6 routes always carry a preference ("pref"); IPv4 routes never do.
    ipv6 = is_ipv6(dst) or bool(gateway and is_ipv6(gateway)) or "pref" in raw
    return Route(
        destination=normalise_destination(dst, ipv6=ipv6),
        gateway=str(ipaddress.ip_address(gateway)) if gateway else None,
        device=raw.get("dev"),
    )


def _json_stream(text: str) -> list[Any]:
    """The JSON documents ``ip -json -batch`` prints one after another."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)


class IpNetlink:
    """``Netlink`` through iproute2's ``ip`` (see the module docstring for why), named links
    read in-process unless ``in_process`` is False."""

    def __init__(self, *, in_process: bool = True) -> None:
        self.in_process = in_process

    def namespaces(self) -> set[str]:
        try:
            return set(os.listdir(NETNS_RUN_DIR))
        except FileNotFoundError:
            return set()

    def add_namespaces(self, names: Sequence[str]) -> list[str | None]:
        lines = [f"netns add {name}" for name in names]
        done = run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n", check=False)
        return batch_results(lines, done.stderr, done.returncode)

    def delete_namespace(self, name: str) -> None:
        if name in self.namespaces():
            run(["ip", "netns", "delete", name])

    def namespace_pids(self, name: str) -> list[int]:
        done = run(["ip", "netns", "pids", name], check=False)
        return [int(word) for word in done.stdout.split() if word.isdigit()]

    def read(self, netns: str | None) -> NetnsView:
        script = (
            f"addr show\nroute show table all proto {RTPROT_V6FABRIC}\nneigh show nud permanent\n"
        )
        argv = ["ip", *(["-n", netns] if netns else []), "-json", "-d", "-batch", "-"]
        done = run(argv, input=script)
        docs = _json_stream(done.stdout)
        links = [_parse_link(raw) for raw in (docs[0] if docs else [])]
        routes = [
            _parse_route(raw)
            for raw in (docs[1] if len(docs) > 1 else [])
            if raw.get("table") in (None, "main")
        ]
        return NetnsView(
            links={link.name: link for link in links},
            routes=tuple(sorted(set(routes), key=repr)),
            neighbors=parse_neighbors(docs[2] if len(docs) > 2 else []),
        )

    def read_links(self, netns: str | None, names: Sequence[str]) -> dict[str, Link]:
        """By rtnetlink in-process (``rtnetlink``: a fork of ``ip`` costs more than the
        read); by ``ip`` where that fails (no privilege to enter, a namespace gone)."""
        if not names:
            return {}
        if self.in_process:
            try:
                raws = rtnetlink.read_links(netns, names)
            except OSError as exc:
                log.debug("links of %s read by ip: %s", netns, exc)
            else:
                return {link.name: link for link in map(_parse_link, raws)}  # only those named
        return self.read_links_by_ip(netns, names)

    def read_links_by_ip(self, netns: str | None, names: Sequence[str]) -> dict[str, Link]:
        if not names:
            return {}
        script = "".join(f"addr show dev {name}\n" for name in sorted(set(names)))
        argv = ["ip", *(["-n", netns] if netns else []), "-json", "-d", "-force", "-batch", "-"]
        done = run(argv, input=script, check=False)  # a missing link fails its line only
        links = [_parse_link(raw) for doc in _json_stream(done.stdout) for raw in doc]
        return {link.name: link for link in links if link.name in names}

    def apply(self, netns: str | None, ops: Sequence[LinkOp]) -> list[str | None]:
        """Runs of neighbour operations go to ``ip`` apart (``drivers.neighbors``), in order."""
        results: list[str | None] = []
        start = 0
        for end in range(1, len(ops) + 1):
            kind = isinstance(ops[start], neighbors.NeighborOp)
            if end < len(ops) and isinstance(ops[end], neighbors.NeighborOp) == kind:
                continue
            part = ops[start:end]
            if kind:
                results += neighbors.apply(netns, part, tolerated)  # type: ignore[arg-type]
            else:
                results += self._apply_lines(netns, part)
            start = end
        return results

    def _apply_lines(self, netns: str | None, ops: Sequence[LinkOp]) -> list[str | None]:
        if not ops:
            return []
        script = "".join(_op_line(op) + "\n" for op in ops)
        argv = ["ip", *(["-n", netns] if netns else []), "-force", "-batch", "-"]
        done = run(argv, input=script, check=False)
        return batch_results(ops, done.stderr, done.returncode)
