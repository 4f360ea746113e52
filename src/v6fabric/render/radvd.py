"""radvd.conf from a ``RadvdSpec``: one ``interface`` block per router (or DHCP) interface.

What every block says, and why (see notes/dataplane.md §1 and notes/neutron-api.md §3):

* ``AdvRASolicitedUnicast on``: an RS is answered at once with a unicast RA (RFC 7772). Solicited
  multicast RAs are rate-limited to one per 3 s, so a workload whose RS fell into that window
  waited for its next RS (4 s later).
* ``AdvLinkMTU`` only for an MTU radvd accepts (>= 1280, the IPv6 minimum). radvd also wants it
  no larger than the interface's own MTU; when it is larger radvd logs "AdvLinkMTU ... must be
  zero or between 1280 and <link mtu>" and sends no RA at all on that interface, so the agent
  sets the interface MTU before it starts radvd.
* ``AdvDefaultLifetime`` only when the spec sets it; 0 means "not a default router" (an isolated
  network's RAs from its DHCP namespace). Otherwise radvd's default, 3 x MaxRtrAdvInterval.
* RDNSS carries at most 3 servers per line (radvd's grammar), so longer lists use several lines,
  in the spec's order (the order of preference).
* RDNSS and DNSSL lifetimes are 2 x MaxRtrAdvInterval. radvd 2.19 defaults them to
  MaxRtrAdvInterval itself (measured; its man page says 2x), so with RAs every 3..10 s a guest's
  DNS servers would expire just as the next RA arrives; above 2x radvd logs a warning.

radvd checks the interval and lifetime rules only when it starts on a live interface (``-c``
accepts ``MinRtrAdvInterval 9; MaxRtrAdvInterval 10;``), so they are checked here instead.
"""

from __future__ import annotations

from v6fabric.hoststate.model import RadvdSpec, RaInterface
from v6fabric.render._common import (
    check_domain,
    check_ifname,
    header,
    ipv6_address,
    ipv6_network,
    on_off,
)

RDNSS_PER_LINE = 3
MIN_LINK_MTU = 1280
DNS_LIFETIME_FACTOR = 2  # RDNSS/DNSSL lifetime in units of MaxRtrAdvInterval
_PREFERENCES = frozenset({"low", "medium", "high"})
_INDENT = "    "


def render_radvd(spec: RadvdSpec) -> str:
    """The text of radvd.conf for ``spec``; interfaces sorted by name.

    Raises ``ValueError`` for anything radvd would refuse or misread, including a spec without
    interfaces (radvd will not start on an empty file: the agent stops radvd instead).
    """
    if not spec.interfaces:
        raise ValueError(f"radvd spec for {spec.namespace} has no interfaces")
    names = [iface.ifname for iface in spec.interfaces]
    if len(set(names)) != len(names):
        raise ValueError(f"radvd spec for {spec.namespace} repeats an interface: {names}")
    blocks = [_interface_block(iface) for iface in sorted(spec.interfaces, key=lambda i: i.ifname)]
    return header(f"radvd for namespace {spec.namespace}") + "".join(blocks)


def _interface_block(iface: RaInterface) -> str:
    _check_timers(iface)
    lines = [
        "AdvSendAdvert on;",
        f"MinRtrAdvInterval {iface.min_interval};",
        f"MaxRtrAdvInterval {iface.max_interval};",
        f"AdvManagedFlag {on_off(iface.managed)};",
        f"AdvOtherConfigFlag {on_off(iface.other)};",
    ]
    if iface.mtu >= MIN_LINK_MTU:
        lines.append(f"AdvLinkMTU {iface.mtu};")
    lines.append("AdvRASolicitedUnicast on;")
    if iface.source is not None:
        lines.append(f"AdvRASrcAddress {{ {ipv6_address(iface.source)}; }};")
    if iface.default_lifetime is not None:
        lines.append(f"AdvDefaultLifetime {iface.default_lifetime};")
    for prefix in iface.prefixes:
        lines.append(
            f"prefix {ipv6_network(prefix.cidr)} {{ AdvOnLink {on_off(prefix.on_link)}; "
            f"AdvAutonomous {on_off(prefix.autonomous)}; }};"
        )
    dns_lifetime = DNS_LIFETIME_FACTOR * iface.max_interval
    servers = [str(ipv6_address(server)) for server in iface.rdnss]
    for start in range(0, len(servers), RDNSS_PER_LINE):
        lines.append(
            f"RDNSS {' '.join(servers[start : start + RDNSS_PER_LINE])} "
            f"{{ AdvRDNSSLifetime {dns_lifetime}; }};"
        )
    if iface.dnssl:
        lines.append(
            f"DNSSL {' '.join(check_domain(d) for d in iface.dnssl)} "
            f"{{ AdvDNSSLLifetime {dns_lifetime}; }};"
        )
    for route in iface.routes:
        if route.preference not in _PREFERENCES:
            raise ValueError(f"route preference must be low, medium or high: {route!r}")
        lines.append(
            f"route {ipv6_network(route.cidr)} {{ AdvRoutePreference {route.preference}; }};"
        )
    body = "".join(f"{_INDENT}{line}\n" for line in lines)
    return f"\ninterface {check_ifname(iface.ifname)}\n{{\n{body}}};\n"


def _check_timers(iface: RaInterface) -> None:
    """radvd.conf(5)'s rules, which radvd enforces only at start on a live interface."""
    low, high = iface.min_interval, iface.max_interval
    if not 4 <= high <= 1800:
        raise ValueError(f"{iface.ifname}: MaxRtrAdvInterval must be 4..1800 s, not {high}")
    if not 3 <= low <= 0.75 * high:
        raise ValueError(
            f"{iface.ifname}: MinRtrAdvInterval must be 3..0.75 x MaxRtrAdvInterval "
            f"({0.75 * high:g}), not {low}"
        )
    lifetime = iface.default_lifetime
    if lifetime is not None and lifetime != 0 and not high <= lifetime <= 9000:
        raise ValueError(
            f"{iface.ifname}: AdvDefaultLifetime must be 0 or {high}..9000 s, not {lifetime}"
        )
