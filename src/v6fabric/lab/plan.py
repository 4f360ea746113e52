"""What a lab of a given tag is made of: names and addresses, derived from the tag alone, so
that ``down`` can find everything of a lab even when its record is lost.

Names: the underlay namespace ``v6u-<tag>`` holds the bridge ``ub-<tag>`` and one veth end
``u<n>-<tag>`` per host; the host's namespace ``v6h-<tag><n>`` holds the other end
``ul-<tag>``. Addresses: IPv6 ``fd00:<from tag>::<10+n>/64`` and IPv4 a /24 of 198.18.0.0/15
(the benchmarking range), the controller at ``::1`` / ``.1`` on the bridge. Each lab's
underlay is a namespace of its own, so two labs' addresses never meet.

Physical networks (``physical_networks=("physnet1",)``): the k-th is a bridge ``pb<k>-<tag>``
in the underlay namespace (no addresses: a plain segment), with a veth ``p<k>h<n>-<tag>`` per
host whose other end is ``eth<k>`` in the host's namespace (its agent's
``--physical-network physnet1=eth1``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from v6fabric.hoststate.model import HOST_NS_PREFIX

LAB_ROOT = Path("/run/v6fabric/labs")  # <tag>.json records, and each lab's directory by default
UNDERLAY_NS_PREFIX = "v6u-"
UNDERLAYS = ("ipv6", "ipv4", "dual")
TAG_PATTERN = re.compile(r"[a-z0-9]{1,8}")  # fits interface names: 15 bytes at most
MAX_PHYSICAL = 9  # eth1..eth9, one digit in the bridge ports' names
BENCHMARK_V4 = ipaddress.IPv4Network("198.18.0.0/15")


@dataclass(frozen=True)
class HostPlan:
    index: int  # 1-based
    name: str  # the host's name in the API
    netns: str  # its "root" namespace
    link: str  # its underlay veth end (in ``netns``)
    peer: str  # the other end, a port of the underlay bridge
    ipv4: str | None
    ipv6: str | None
    roles: tuple[str, ...]
    physical: tuple[tuple[str, str, str], ...] = ()  # (physnet, host interface, bridge port)

    @property
    def physical_networks(self) -> dict[str, str]:
        """As registered: physical network -> this host's interface on it."""
        return {physnet: iface for physnet, iface, _peer in self.physical}

    @property
    def underlay(self) -> dict[str, str]:
        """As registered: ``{"ipv4": ..., "ipv6": ...}`` (families the lab has)."""
        found = {"ipv4": self.ipv4, "ipv6": self.ipv6}
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True)
class LabPlan:
    tag: str
    underlay: str  # ipv6, ipv4 or dual
    netns: str  # the underlay namespace
    bridge: str
    ipv4_prefix: int
    ipv6_prefix: int
    controller_ipv4: str | None
    controller_ipv6: str | None
    hosts: tuple[HostPlan, ...]
    physical_networks: tuple[str, ...] = ()

    def physical_bridge(self, physnet: str) -> str:
        """The segment of ``physnet`` (a bridge in the underlay namespace)."""
        return f"pb{self.physical_networks.index(physnet) + 1}-{self.tag}"

    @property
    def overlay_ip_version(self) -> int:
        """The tunnels' family: the underlay's, IPv6 for a dual one."""
        return 4 if self.underlay == "ipv4" else 6

    @property
    def controller(self) -> str:
        """The address agents reach the server at (of the overlay family)."""
        found = self.controller_ipv6 if self.overlay_ip_version == 6 else self.controller_ipv4
        assert found is not None
        return found

    @property
    def controller_addresses(self) -> list[str]:
        return [a for a in (self.controller_ipv6, self.controller_ipv4) if a]


def new_tag() -> str:
    return secrets.token_hex(3)


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.fullmatch(tag):
        raise ValueError(f"lab tag {tag!r}: 1-8 lower-case letters or digits")
    return tag


def underlay_netns(tag: str) -> str:
    return f"{UNDERLAY_NS_PREFIX}{tag}"


def host_netns(tag: str, index: int) -> str:
    return f"{HOST_NS_PREFIX}{tag}{index}"


def is_host_netns(tag: str, name: str) -> bool:
    """``v6h-<tag><n>``: exactly this tag (another lab's tag may start with this one)."""
    return re.fullmatch(re.escape(f"{HOST_NS_PREFIX}{tag}") + r"[0-9]+", name) is not None


def plan(
    hosts: int = 3,
    underlay: str = "ipv6",
    tag: str | None = None,
    physical_networks: tuple[str, ...] = (),
    *,
    l3_hosts: int = 1,
) -> LabPlan:
    """The lab of ``hosts`` hosts; hosts 1..``l3_hosts`` are compute+network (routers and
    networks' DHCP are spread over them), the others compute."""
    if not 0 <= len(physical_networks) <= MAX_PHYSICAL or len(set(physical_networks)) != len(
        physical_networks
    ):
        raise ValueError(f"physical networks: {MAX_PHYSICAL} at most, each once")
    if underlay not in UNDERLAYS:
        raise ValueError(f"underlay {underlay!r}: one of {', '.join(UNDERLAYS)}")
    if not 1 <= hosts <= 200:
        raise ValueError("a lab has 1 to 200 hosts")
    if not 1 <= l3_hosts <= hosts:
        raise ValueError(f"a lab of {hosts} hosts has 1 to {hosts} L3 hosts")
    tag = check_tag(tag or new_tag())
    digest = hashlib.sha256(tag.encode()).digest()
    v6net = ipaddress.IPv6Network(
        f"fd00:{digest[0] << 8 | digest[1]:x}:{digest[2] << 8 | digest[3]:x}::/64"
    )
    v4index = (digest[4] << 8 | digest[5]) % (BENCHMARK_V4.num_addresses // 256)
    v4net = ipaddress.IPv4Network((int(BENCHMARK_V4.network_address) + v4index * 256, 24))
    has6, has4 = underlay in ("ipv6", "dual"), underlay in ("ipv4", "dual")

    def v6(suffix: int) -> str | None:
        # <10+n> reads as the same digits in the address: host 1 is ::11
        return str(v6net.network_address + int(str(suffix), 16)) if has6 else None

    def v4(suffix: int) -> str | None:
        return str(v4net.network_address + suffix) if has4 else None

    return LabPlan(
        tag=tag,
        underlay=underlay,
        netns=underlay_netns(tag),
        bridge=f"ub-{tag}",
        ipv4_prefix=24,
        ipv6_prefix=64,
        controller_ipv4=v4(1),
        controller_ipv6=v6(1),
        hosts=tuple(
            HostPlan(
                index=n,
                name=f"lab-{tag}-{n}",
                netns=host_netns(tag, n),
                link=f"ul-{tag}",
                peer=f"u{n}-{tag}",
                ipv4=v4(10 + n),
                ipv6=v6(10 + n),
                roles=("compute", "network") if n <= l3_hosts else ("compute",),
                physical=tuple(
                    (physnet, f"eth{k}", f"p{k}h{n}-{tag}")
                    for k, physnet in enumerate(physical_networks, start=1)
                ),
            )
            for n in range(1, hosts + 1)
        ),
        physical_networks=tuple(physical_networks),
    )
