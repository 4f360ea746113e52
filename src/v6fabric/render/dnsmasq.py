"""dnsmasq files from a ``DnsmasqSpec``: the main config, the hosts file and the options file.

The main config changes only when the network's subnets change (a restart). Ports live in the
hosts and options files, which dnsmasq re-reads on SIGHUP, so port changes never restart it and
never disturb leases. What dnsmasq 2.90 was measured to do with these files:

* Every subnet is ``dhcp-range=set:<tag>,<network>,static,<prefixlen|netmask>,<lease>s``: only
  hosts with an address in the hosts file get one. A stateless subnet uses the same form: its
  hosts have no address in it, so clients get options only (Information-Request), and the lease
  time becomes the information-refresh-time. ``ra-stateless`` is not used: any ``ra-*`` or
  ``slaac`` mode makes dnsmasq send RAs even without ``enable-ra``, and radvd sends the RAs.
* One hosts line can hold several IPv6 addresses and an IPv4 address:
  ``<mac>,[2001:db8:2::10],[2001:db8:3::10],10.0.0.10,vm1``. A DHCPv6 client gets both IPv6
  addresses in one IA_NA. dnsmasq(8) allows one IPv4 address a line, so further IPv4
  addresses go on further lines for the same MAC (DHCPv6 for that MAC still works).
* dnsmasq tags an Information-Request with a subnet's tag only when the link has exactly one
  IPv6 range. With several, stateless options reach only hosts whose line sets the tag, so a
  host with an address in a stateless subnet gets ``set:<tag>`` for it (and not the address);
  with one, no line sets a tag. dnsmasq 2.90 segfaults on the SIGHUP after it served a host
  whose line has ``set:`` (it frees that tag list wrongly on reload), so such a hosts file is
  applied by a restart instead (``needs_restart``), and only where the tag is needed.
* dnsmasq does not check hosts lines: a hostname like ``3600`` becomes a lease time and
  ``ignore`` denies the host; hostnames are therefore checked here.
* dnsmasq drops privileges (to ``nobody``) before it reads the hosts and options files, at
  start and on SIGHUP: they must be world-readable (0644) in directories ``nobody`` can
  traverse (not under a 0700 one such as pytest's base temp dir), or it logs "cannot read",
  keeps running, and serves no reservations and no options.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable

from v6fabric.hoststate.model import DhcpHost, DhcpRange, DnsmasqSpec
from v6fabric.render._common import check_ifname, check_path, header

MIN_LEASE_SECONDS = 120  # dnsmasq's minimum
MIN_IPV6_PREFIXLEN = 64  # dnsmasq refuses shorter IPv6 ranges
MODES = frozenset({"static", "stateless"})

_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_OPTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
# One label as dnsmasq reads it (a trailing hyphen passes: host-2001-db8-1-0-1-- is fine).
_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
# Fields dnsmasq reads as something other than a hostname: a lease time, or a keyword.
_NOT_A_HOSTNAME = re.compile(r"\d+[smhdw]?|infinite|deprecated|ignore", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def render_dnsmasq_conf(
    spec: DnsmasqSpec,
    *,
    pid_file: str | os.PathLike[str],
    lease_file: str | os.PathLike[str],
    hosts_file: str | os.PathLike[str],
    opts_file: str | os.PathLike[str],
    log_file: str | os.PathLike[str] | None,
) -> str:
    """The main config (``--conf-file``): DHCP only, on one interface, one range per subnet.

    The lease file is a real one (no ``leasefile-ro``) so that a restart keeps the leases.
    Paths are absolute; the directories holding the hosts and options files must be
    traversable, and those files readable, by ``nobody`` (see the module docstring).
    """
    ranges = _checked_ranges(spec)
    lines = [
        "port=0",
        f"interface={check_ifname(spec.interface)}",
        "bind-interfaces",
        "except-interface=lo",
        "dhcp-authoritative",
        # Addresses are reserved per MAC by the API: the DHCPv4 ping check would only block
        # the whole dnsmasq (and its DHCPv6 replies) for about 3 s per new lease.
        "no-ping",
        "no-hosts",
        "no-resolv",
        f"dhcp-leasefile={check_path(lease_file, 'lease_file')}",
        f"pid-file={check_path(pid_file, 'pid_file')}",
        f"dhcp-hostsfile={check_path(hosts_file, 'hosts_file')}",
        f"dhcp-optsfile={check_path(opts_file, 'opts_file')}",
    ]
    if log_file is not None:
        lines += ["log-dhcp", f"log-facility={check_path(log_file, 'log_file')}"]
    for dhcp_range, network in ranges:
        size = network.prefixlen if network.version == 6 else network.netmask
        lines.append(
            f"dhcp-range=set:{dhcp_range.tag},{network.network_address},static,{size},"
            f"{dhcp_range.lease_seconds}s"
        )
    return _file(spec, "dnsmasq", lines)


def render_dnsmasq_hosts(spec: DnsmasqSpec) -> str:
    """The hosts file (``--dhcp-hostsfile``): one line per host, in the spec's order.

    Of a host's addresses, those in a static range are reserved for it; one in a stateless range
    sets that range's tag on the host (options only); those in no range of the spec (SLAAC
    subnets) are left out. Give the renderer every address of the port.
    """
    ranges = _checked_ranges(spec)
    tagged = _several_ipv6_ranges(spec)
    seen_macs: set[str] = set()
    owners: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    lines: list[str] = []
    for host in spec.hosts:
        mac = _check_mac(host)
        if mac in seen_macs:
            raise ValueError(f"two hosts with MAC {mac} in dnsmasq spec for {spec.network_id}")
        seen_macs.add(mac)
        name = [_check_hostname(host)] if host.hostname else []
        tags: list[str] = []
        ipv6: list[str] = []
        ipv4: list[str] = []
        for address in map(ipaddress.ip_address, host.addresses):
            owner = owners.setdefault(address, mac)
            if owner != mac:
                raise ValueError(f"{address} is given to both {owner} and {mac}")
            dhcp_range = _range_of(address, ranges)
            if dhcp_range is None:
                continue
            if dhcp_range.mode == "stateless":
                if tagged and f"set:{dhcp_range.tag}" not in tags:
                    tags.append(f"set:{dhcp_range.tag}")
            elif address.version == 6:
                ipv6.append(f"[{address}]")
            else:
                ipv4.append(str(address))
        lines.append(",".join([mac, *tags, *ipv6, *ipv4[:1], *name]))
        lines.extend(",".join([mac, extra, *name]) for extra in ipv4[1:])
    return _file(spec, "dnsmasq hosts", lines)


def _several_ipv6_ranges(spec: DnsmasqSpec) -> bool:
    return sum(1 for r in spec.ranges if r.ip_version == 6) > 1


def needs_restart(hosts_text: str) -> bool:
    """Whether this hosts file must be applied by a restart, not SIGHUP (a line sets a tag:
    dnsmasq 2.90 crashes on the reload after serving such a host)."""
    return ",set:" in hosts_text


def render_dnsmasq_opts(spec: DnsmasqSpec) -> str:
    """The options file (``--dhcp-optsfile``): ``tag:<tag>,option6:<name>,<value>`` a line.

    ``option6:`` for IPv6, ``option:`` for IPv4; an empty value sends the option empty (as
    Neutron does to suppress DNS servers).
    """
    lines = []
    for option in spec.options:
        if option.ip_version not in (4, 6):
            raise ValueError(f"ip_version must be 4 or 6: {option!r}")
        if not _OPTION_NAME.fullmatch(option.name):
            raise ValueError(f"not a dnsmasq option name: {option.name!r}")
        if _CONTROL.search(option.value):
            raise ValueError(f"control character in option value: {option.value!r}")
        kind = "option6" if option.ip_version == 6 else "option"
        value = f",{option.value}" if option.value else ""
        lines.append(f"tag:{_check_tag(option.tag)},{kind}:{option.name}{value}")
    return _file(spec, "dnsmasq options", lines)


def _file(spec: DnsmasqSpec, what: str, lines: Iterable[str]) -> str:
    subject = f"{what} for network {spec.network_id} in namespace {spec.namespace}"
    return header(subject) + "".join(f"{line}\n" for line in lines)


def _checked_ranges(spec: DnsmasqSpec) -> list[tuple[DhcpRange, _Network]]:
    if not spec.ranges:
        raise ValueError(f"dnsmasq spec for {spec.network_id} has no ranges")
    ranges: list[tuple[DhcpRange, _Network]] = []
    for dhcp_range in spec.ranges:
        network = ipaddress.ip_network(f"{dhcp_range.network}/{dhcp_range.prefixlen}")
        if network.version != dhcp_range.ip_version:
            raise ValueError(f"range {dhcp_range.tag}: {network} is not IPv{dhcp_range.ip_version}")
        if dhcp_range.mode not in MODES or (network.version == 4 and dhcp_range.mode != "static"):
            raise ValueError(f"range {dhcp_range.tag}: mode {dhcp_range.mode!r} is not valid")
        if network.version == 6 and network.prefixlen < MIN_IPV6_PREFIXLEN:
            raise ValueError(f"range {dhcp_range.tag}: dnsmasq needs /64 or longer, not {network}")
        if dhcp_range.lease_seconds < MIN_LEASE_SECONDS:
            raise ValueError(f"range {dhcp_range.tag}: lease shorter than {MIN_LEASE_SECONDS} s")
        _check_tag(dhcp_range.tag)
        ranges.append((dhcp_range, network))
    tags = [r.tag for r, _ in ranges]
    networks = [n for _, n in ranges]
    if len(set(tags)) != len(tags) or len(set(networks)) != len(networks):
        raise ValueError(f"dnsmasq spec for {spec.network_id} repeats a range tag or network")
    return ranges


def _range_of(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    ranges: list[tuple[DhcpRange, _Network]],
) -> DhcpRange | None:
    for dhcp_range, network in ranges:
        if address.version == network.version and address in network:
            return dhcp_range
    return None


def _check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise ValueError(f"not a dnsmasq tag: {tag!r}")
    return tag


def _check_mac(host: DhcpHost) -> str:
    mac = host.mac.lower()
    if not _MAC.fullmatch(mac):
        raise ValueError(f"not a MAC address: {host.mac!r}")
    return mac


def _check_hostname(host: DhcpHost) -> str:
    name = host.hostname
    if not _HOSTNAME.fullmatch(name) or _NOT_A_HOSTNAME.fullmatch(name):
        raise ValueError(
            f"hostname {name!r} of {host.mac} is not one DNS label dnsmasq reads as a name "
            "(letters, digits, hyphens, not first; not digits only, a lease time or a keyword)"
        )
    return name
