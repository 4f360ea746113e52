"""What a workload actually has, read from its kernel (and its own resolv.conf).

Used by tests and the CLI to compare the guest with what the API promised. Addresses and
routes come from ``ip -json`` inside the namespace; resolver settings from the resolv.conf its
guest agent wrote; the RA flags and DHCPv6 client mode from the guest agent's state file.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from pathlib import Path

from v6fabric.drivers.commands import run
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.processes import GUEST_MODULE, process_cmdline, workload_pid
from v6fabric.workloads.resolver import parse_resolv_conf

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
FOREVER = 0xFFFFFFFF
_NOT_FLAGS = {"family", "local", "address", "prefixlen", "scope", "label", "broadcast",
              "valid_life_time", "preferred_life_time", "peer", "metric"}  # fmt: skip


@dataclass(frozen=True)
class GuestAddress:
    interface: IPv4Interface | IPv6Interface
    flags: frozenset[str] = frozenset()  # dynamic, mngtmpaddr, nodad, tentative, optimistic...
    valid_lifetime: int | None = None  # seconds; None: forever
    preferred_lifetime: int | None = None

    @property
    def address(self) -> IPAddress:
        return self.interface.ip

    @property
    def prefixlen(self) -> int:
        return self.interface.network.prefixlen


@dataclass(frozen=True)
class GuestRoute:
    destination: IPNetwork
    dev: str
    via: IPAddress | None = None
    protocol: str = ""
    metric: int | None = None

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0


@dataclass(frozen=True)
class GuestInterface:
    ifname: str
    mac: str
    mtu: int
    up: bool
    link_local: tuple[GuestAddress, ...] = ()
    addresses: tuple[GuestAddress, ...] = ()  # global scope, IPv6 then IPv4
    routes: tuple[GuestRoute, ...] = ()  # unicast routes of the main table via this interface
    # From the guest agent: the RA flags it heard and the DHCPv6 client it runs.
    ra_managed: bool | None = None
    ra_other: bool | None = None
    dhcpv6: str | None = None  # "stateful", "stateless" or None

    @property
    def ipv6(self) -> tuple[GuestAddress, ...]:
        return tuple(a for a in self.addresses if a.interface.version == 6)

    @property
    def ipv4(self) -> tuple[GuestAddress, ...]:
        return tuple(a for a in self.addresses if a.interface.version == 4)

    @property
    def default_routes(self) -> tuple[GuestRoute, ...]:
        return tuple(r for r in self.routes if r.is_default)

    @property
    def onlink_prefixes(self) -> tuple[IPNetwork, ...]:
        """Prefixes reachable directly on this link (no gateway), host routes excluded."""
        return tuple(
            r.destination
            for r in self.routes
            if r.via is None
            and not r.is_default
            and r.destination.prefixlen < r.destination.max_prefixlen
            and not r.destination.is_link_local
        )


@dataclass(frozen=True)
class GuestView:
    namespace: str
    interfaces: dict[str, GuestInterface] = field(default_factory=dict)
    nameservers: tuple[IPAddress, ...] = ()
    search: tuple[str, ...] = ()
    guest_running: bool = False


def _json(argv: list[str]) -> list[dict]:
    out = run(argv).stdout.strip()
    return json.loads(out or "[]")


def _lifetime(value: int | None) -> int | None:
    return None if value is None or value >= FOREVER else value


def _address(info: dict) -> GuestAddress:
    flags = frozenset(k for k, v in info.items() if v is True and k not in _NOT_FLAGS)
    return GuestAddress(
        ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"),
        flags,
        _lifetime(info.get("valid_life_time")),
        _lifetime(info.get("preferred_life_time")),
    )


def _routes(entries: list[dict], version: int) -> list[GuestRoute]:
    routes: list[GuestRoute] = []
    for entry in entries:
        if entry.get("type", "unicast") != "unicast":
            continue
        dst = entry.get("dst", "default")
        network = ipaddress.ip_network(
            ("::/0" if version == 6 else "0.0.0.0/0") if dst == "default" else dst, strict=False
        )
        if network.is_multicast:
            continue
        hops = entry.get("nexthops") or [entry]
        for hop in hops:
            if "dev" not in hop:
                continue
            via = hop.get("gateway")
            routes.append(
                GuestRoute(
                    network,
                    hop["dev"],
                    ipaddress.ip_address(via) if via else None,
                    str(entry.get("protocol", "")),
                    entry.get("metric"),
                )
            )
    return routes


def find_run_dir(namespace: str) -> Path | None:
    """The run directory of the workload's guest agent (from its command line), if running."""
    for word in run(["ip", "netns", "pids", namespace], check=False).stdout.split():
        argv = process_cmdline(int(word))
        if GUEST_MODULE in argv and "--run-dir" in argv:
            index = argv.index("--run-dir") + 1
            if index < len(argv):
                return Path(argv[index])
    return None


def read_interfaces(
    netns: str | None = None, state: dict[str, dict] | None = None
) -> dict[str, GuestInterface]:
    """Every interface but ``lo`` with its addresses and main-table routes, from the kernel of
    ``netns`` (None: this process's own namespace, as the guest's cloud-init step reads it);
    ``state``: the guest agent's per-interface state file entries, for the RA/DHCP fields."""
    ip = ["ip", "-n", netns] if netns else ["ip"]
    links = _json([*ip, "-json", "addr", "show"])
    routes = _routes(_json([*ip, "-json", "-6", "route", "show", "table", "main"]), 6)
    routes += _routes(_json([*ip, "-json", "-4", "route", "show", "table", "main"]), 4)
    interfaces: dict[str, GuestInterface] = {}
    for link in links:
        name = link["ifname"]
        if name == "lo":
            continue
        infos = sorted(
            ((i.get("scope", ""), _address(i)) for i in link.get("addr_info", ())),
            key=lambda item: (-item[1].interface.version, item[1].interface),
        )
        guest = (state or {}).get(name, {})
        interfaces[name] = GuestInterface(
            ifname=name,
            mac=link.get("address", ""),
            mtu=link.get("mtu", 0),
            up="UP" in link.get("flags", ()),
            link_local=tuple(a for scope, a in infos if scope == "link"),
            addresses=tuple(a for scope, a in infos if scope == "global"),
            routes=tuple(r for r in routes if r.dev == name),
            ra_managed=guest.get("managed"),
            ra_other=guest.get("other"),
            dhcpv6=guest.get("dhcpv6"),
        )
    return interfaces


def observe(namespace: str, *, run_dir: Path | None = None) -> GuestView:
    """The workload's interfaces, addresses, routes and resolver, as the guest has them."""
    found_dir = run_dir or find_run_dir(namespace)
    state: dict = {}
    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    running = False
    if found_dir is not None:
        paths = WorkloadPaths.of(found_dir, namespace)
        with contextlib.suppress(OSError):
            servers, search = parse_resolv_conf(paths.resolv_conf.read_text())
        try:
            state = json.loads(paths.state.read_text()).get("interfaces", {})
        except (OSError, ValueError):
            state = {}
        running = workload_pid(paths.guest_pid, namespace) is not None
    interfaces = read_interfaces(namespace, state)
    nameservers = tuple(ipaddress.ip_address(s.split("%", 1)[0]) for s in servers)
    return GuestView(namespace, interfaces, nameservers, search, running)
