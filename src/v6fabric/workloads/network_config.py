"""OpenStack's ``network_data.json`` applied inside a workload, as cloud-init's network stage does.

Only what nothing else in the guest does: the kernel does SLAAC and takes the default route and
on-link prefixes from RAs, dhclient does the DHCP types; static networks are ours:

* ``ipv6`` (a chosen address, R8: also a non-EUI-64 one on a SLAAC or DHCPv6-stateless subnet):
  the address with its prefix on the NIC whose MAC is the link's ``ethernet_mac_address``
  (optimistic DAD if the NIC has it), ``autoconf=0`` on that NIC so the kernel stops forming a
  SLAAC address there while ``accept_ra`` stays on (default route and on-link prefixes from the
  RA are kept), the SLAAC address it already formed in that prefix removed, and the network's
  routes except the default (that one comes from the RA);
* ``ipv4``: the address and every route (no RA or DHCP gives an IPv4 default route here).

:func:`plan` is pure (network_data and the NICs' current state in, the changes out: nothing to
do the second time); :func:`apply` carries a plan out in the caller's namespace.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any

from v6fabric.drivers.commands import ip_batch
from v6fabric.drivers.sysctl import Sysctls
from v6fabric.workloads.observe import GuestInterface, IPAddress, IPNetwork

log = logging.getLogger(__name__)

IPInterface = IPv4Interface | IPv6Interface
STATIC = ("ipv6", "ipv4")
# The kernel (SLAAC) or a DHCP client configures these: nothing to apply.
DYNAMIC = (
    "ipv6_slaac",
    "ipv6_dhcpv6-stateless",
    "ipv6_dhcpv6-stateful",
    "ipv6_dhcp",
    "ipv4_dhcp",
)
# ``ip``'s name for IFA_F_MANAGETEMPADDR, which the kernel sets on the addresses it formed from
# an RA prefix (SLAAC): the ones a chosen address in that prefix replaces.
SLAAC_FLAG = "mngtmpaddr"


@dataclass(frozen=True)
class AddressChange:
    ifname: str
    interface: IPInterface
    optimistic: bool = False

    def ip_line(self, verb: str) -> str:
        extra = " optimistic" if self.optimistic and verb == "add" else ""
        return f"addr {verb} {self.interface} dev {self.ifname}{extra}"


@dataclass(frozen=True)
class RouteChange:
    ifname: str
    destination: IPNetwork
    gateway: IPAddress | None = None

    def ip_line(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        return f"route replace {self.destination}{via} dev {self.ifname}"


@dataclass(frozen=True)
class Plan:
    """What to change, in order: sysctls first (so the kernel forms no new SLAAC address),
    then addresses added, the replaced SLAAC addresses removed, then routes."""

    sysctls: tuple[tuple[str, str], ...] = ()
    add: tuple[AddressChange, ...] = ()
    remove: tuple[AddressChange, ...] = ()
    routes: tuple[RouteChange, ...] = ()
    skipped: tuple[str, ...] = field(default=(), compare=False)  # networks left alone, and why

    @property
    def empty(self) -> bool:
        return not (self.sysctls or self.add or self.remove or self.routes)

    def ip_lines(self) -> list[str]:
        return [
            *(a.ip_line("add") for a in self.add),
            *(a.ip_line("del") for a in self.remove),
            *(r.ip_line() for r in self.routes),
        ]

    def describe(self) -> list[str]:
        """One line per change, for the status record."""
        return [f"sysctl {k}={v}" for k, v in self.sysctls] + [f"ip {x}" for x in self.ip_lines()]


def sysctl_keys(ifnames: Sequence[str]) -> list[str]:
    """The sysctls :func:`plan` looks at, per interface."""
    return [f"net.ipv6.conf.{n}.{k}" for n in ifnames for k in ("autoconf", "optimistic_dad")]


def _prefixlen(mask: Any, version: int) -> int:
    """``netmask`` as OpenStack writes it: dotted or colon mask, or a prefix length."""
    text = str(mask).strip()
    if text.isdigit():
        return int(text)
    bits = 32 if version == 4 else 128
    value = int(ipaddress.ip_address(text))
    length = bin(value).count("1")
    if value != ((1 << length) - 1) << (bits - length):
        raise ValueError(f"not a contiguous netmask: {text}")
    return length


def static_interface(network: Mapping[str, Any]) -> IPInterface:
    """The network's address with its prefix (``ip_address`` may carry ``/len`` itself)."""
    text = str(network["ip_address"])
    if "/" in text:
        return ipaddress.ip_interface(text)
    address = ipaddress.ip_address(text)
    return ipaddress.ip_interface(f"{address}/{_prefixlen(network['netmask'], address.version)}")


def static_routes(network: Mapping[str, Any]) -> list[tuple[IPNetwork, IPAddress | None]]:
    routes = []
    for route in network.get("routes") or ():
        base = ipaddress.ip_address(str(route["network"]))
        length = _prefixlen(route.get("netmask", base.max_prefixlen), base.version)
        gateway = route.get("gateway")
        routes.append(
            (
                ipaddress.ip_network(f"{base}/{length}", strict=False),
                ipaddress.ip_address(str(gateway)) if gateway else None,
            )
        )
    return routes


def _nic_of(
    network: Mapping[str, Any],
    links: Mapping[str, Mapping[str, Any]],
    nics: Sequence[GuestInterface],
) -> GuestInterface | None:
    mac = str(links.get(str(network.get("link")), {}).get("ethernet_mac_address", "")).lower()
    return next((n for n in nics if mac and n.mac.lower() == mac), None)


def plan(
    network_data: Mapping[str, Any],
    nics: Sequence[GuestInterface],
    sysctls: Mapping[str, str],
) -> Plan:
    """The changes that make ``nics`` (their current kernel state, and the values of
    :func:`sysctl_keys`) carry the static networks of ``network_data``."""
    links = {str(link.get("id")): link for link in network_data.get("links") or ()}
    wanted_sysctls: dict[str, str] = {}
    add: list[AddressChange] = []
    remove: list[AddressChange] = []
    routes: list[RouteChange] = []
    skipped: list[str] = []
    for network in network_data.get("networks") or ():
        kind, name = network.get("type"), network.get("id", "?")
        if kind in DYNAMIC:
            continue
        if kind not in STATIC:
            skipped.append(f"{name}: type {kind!r} is not supported")
            continue
        nic = _nic_of(network, links, nics)
        if nic is None:
            skipped.append(f"{name}: no interface has the MAC of link {network.get('link')!r}")
            continue
        try:
            address = static_interface(network)
            network_routes = static_routes(network)
        except (KeyError, ValueError) as exc:
            skipped.append(f"{name}: {exc!r}")
            continue
        if address.version == 6:
            key = f"net.ipv6.conf.{nic.ifname}.autoconf"
            if sysctls.get(key) != "0":
                wanted_sysctls[key] = "0"
            remove += [
                AddressChange(nic.ifname, a.interface)
                for a in nic.ipv6
                if SLAAC_FLAG in a.flags
                and a.address != address.ip
                and a.address in address.network
            ]
            network_routes = [(d, gw) for d, gw in network_routes if d.prefixlen > 0]
        if address.ip not in {a.address for a in nic.addresses}:
            optimistic = sysctls.get(f"net.ipv6.conf.{nic.ifname}.optimistic_dad") == "1"
            add.append(AddressChange(nic.ifname, address, optimistic and address.version == 6))
        present = {(r.destination, r.via) for r in nic.routes}
        routes += [
            RouteChange(nic.ifname, dest, gw)
            for dest, gw in network_routes
            if (dest, gw) not in present
        ]
    return Plan(
        tuple(wanted_sysctls.items()),
        tuple(dict.fromkeys(add)),
        tuple(dict.fromkeys(remove)),
        tuple(dict.fromkeys(routes)),
        tuple(skipped),
    )


def apply(changes: Plan, sysctls: Sysctls) -> None:
    """Carry ``changes`` out in this process's namespace (the workload's: the step runs there):
    sysctls as ``/proc/sys`` writes, the rest as one ``ip -batch``."""
    if changes.sysctls:
        sysctls.write(None, dict(changes.sysctls))
    ip_batch(None, changes.ip_lines())
    for line in changes.describe():
        log.info("network_data: %s", line)
