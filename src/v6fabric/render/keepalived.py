"""keepalived.conf from a ``VrrpSpec``: one VRRPv3 instance (IPv6) per HA router instance.

Why each setting (measured on this machine: dataplane.md §4 and docs/ha.md):

* ``state BACKUP`` + ``nopreempt`` + one priority everywhere: no instance takes the traffic
  back when it recovers (Neutron's choice); VRRP elects the first to time out.
* ``version 3`` + ``native_ipv6``: adverts over IPv6 from the ``ha-`` leg's own link-local, in
  centiseconds, so a sub-second ``advert_int`` (master down after 3 x advert + skew).
* ``unicast_peer``: the other instances' ``ha-`` link-locals; none: multicast to ff02::12.
* ``virtual_ipaddress`` entries carry ``no_track``: keepalived otherwise tracks each address's
  interface and, the legs being down on a backup by design, puts the instance in FAULT for
  good. IPv4 addresses go to ``virtual_ipaddress_excluded`` (not in the IPv6 adverts, but added
  and removed with the master state like the others).
* ``notify``: the hook (``render.vrrp_notify``) that brings the legs up or down and starts or
  kills radvd; ``script_user root`` + ``enable_script_security``: keepalived refuses to run a
  root script from a path a non-root user could write.
* ``vrrp_garp_master_delay``/``repeat``: keepalived's own unsolicited NAs for the addresses go
  out at the transition, while the legs are still down (the hook raises them just after); the
  delayed round, a second later, reaches the wire. The kernel's (``ndisc_notify``) at link-up
  are the first.
* ``vrrp_higher_prio_send_advert``: when two masters meet (a master cut off comes back), the
  one that steps down sends a last advert and the one that stays answers it with its NAs at
  once (``vrrp_garp_lower_prio_repeat``). The survivor had no transition, so no link-up NAs:
  without this the hosts' VXLAN devices kept sending to the one that stepped down until
  keepalived's delayed NAs a second later (measured: up to 1.02 s without traffic).
* ``vrrp_gna_interval`` 0.05 s + ``vrrp_garp_lower_prio_repeat 2`` + ``vrrp_garp_lower_prio_delay
  1``: the survivor's NAs again 50 ms later, and once more after a second. The one stepping
  down removes its addresses right after its last advert, its legs still up until its hook
  runs, and leaving the addresses' solicited-node groups sends MLD reports from the legs'
  MACs: when they cross after the survivor's first NAs, the VXLAN devices learn the MACs
  behind it again, and traffic went into its downed legs until the survivor sent anything
  (seen in 1 comeback in 4 to 10: 1.5 s and more, until the next failover or RA). keepalived
  keeps one pending NA per address, so more repeats within the interval add nothing.
"""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal, InvalidOperation

from v6fabric.hoststate.vrrp import VrrpSpec
from v6fabric.render._common import check_ifname, check_path, header, ipv6_address

MIN_ADVERT_CENTISECONDS = 1  # VRRPv3: a 12-bit field in centiseconds
MAX_ADVERT_CENTISECONDS = 4095
GARP_MASTER_DELAY = 1  # seconds
GARP_MASTER_REPEAT = 3
GNA_INTERVAL = "0.05"  # seconds between NAs for an address (the second one waits for it)
GARP_LOWER_PRIO_REPEAT = 2  # at once and after GNA_INTERVAL
GARP_LOWER_PRIO_DELAY = 1  # seconds: the backstop round
HOOK_SHELL = "/bin/sh"
INSTANCE_NAME = "VR"  # one instance a file: the name only appears in logs and the hook's args
_INDENT = "    "


def advert_interval_text(seconds: float) -> str:
    """``advert_int`` as keepalived reads it for VRRPv3: seconds with at most two decimals
    (0.01 .. 40.95); ``0.2`` not ``0.20000000000000001``. Anything finer is refused, not
    rounded: two hosts rounding differently would disagree on the interval."""
    try:
        value = Decimal(str(seconds))
    except InvalidOperation as exc:
        raise ValueError(f"advert interval is not a number: {seconds!r}") from exc
    centiseconds = value * 100
    if centiseconds != centiseconds.to_integral_value():
        raise ValueError(f"advert interval must be a multiple of 0.01 s, not {seconds}")
    if not MIN_ADVERT_CENTISECONDS <= centiseconds <= MAX_ADVERT_CENTISECONDS:
        raise ValueError(f"advert interval must be 0.01..40.95 s, not {seconds}")
    return format(value.normalize(), "f")


def render_keepalived(spec: VrrpSpec, *, notify: str | os.PathLike[str]) -> str:
    """The text of keepalived.conf for ``spec``, with ``notify`` as the hook's path.

    Raises ``ValueError`` for what keepalived would refuse or misread (VRID, priority,
    interval, names, addresses)."""
    if not 1 <= spec.vrid <= 255:
        raise ValueError(f"VRID must be 1..255, not {spec.vrid}")
    if not 1 <= spec.priority <= 254:  # 255 is the address owner's, which no instance is
        raise ValueError(f"priority must be 1..254, not {spec.priority}")
    if not spec.router_id or not spec.router_id.replace("-", "").isalnum():
        raise ValueError(f"not a router id we render: {spec.router_id!r}")
    legs = {check_ifname(leg) for leg in spec.legs}
    ipv6, ipv4 = [], []
    for address in sorted(spec.addresses, key=lambda a: (a.ifname, a.cidr)):
        if address.ifname not in legs:
            raise ValueError(f"address {address.cidr} is on {address.ifname}, not a leg")
        interface = ipaddress.ip_interface(address.cidr)
        line = f"{interface.with_prefixlen} dev {address.ifname} no_track"
        (ipv6 if interface.version == 6 else ipv4).append(line)
    peers = [str(ipv6_address(peer)) for peer in spec.peers]
    instance = [
        "state BACKUP",
        "nopreempt",
        "version 3",
        "native_ipv6",
        f"interface {check_ifname(spec.interface)}",
        f"virtual_router_id {spec.vrid}",
        f"priority {spec.priority}",
        f"advert_int {advert_interval_text(spec.advert_interval)}",
    ]
    instance += _block("unicast_peer", peers)
    instance += _block("virtual_ipaddress", ipv6)
    instance += _block("virtual_ipaddress_excluded", ipv4)
    # through the shell: the hook needs no executable bit, and only /bin/sh is checked by
    # enable_script_security
    instance.append(f'notify "{HOOK_SHELL} {check_path(notify, "notify hook")}"')
    global_defs = [
        f"router_id {spec.router_id}",
        "script_user root",
        "enable_script_security",
        f"vrrp_garp_master_delay {GARP_MASTER_DELAY}",
        f"vrrp_garp_master_repeat {GARP_MASTER_REPEAT}",
        f"vrrp_gna_interval {GNA_INTERVAL}",
        f"vrrp_garp_lower_prio_delay {GARP_LOWER_PRIO_DELAY}",
        f"vrrp_garp_lower_prio_repeat {GARP_LOWER_PRIO_REPEAT}",
        "vrrp_higher_prio_send_advert true",
    ]
    return (
        header(f"keepalived for HA router {spec.router_id} in namespace {spec.namespace}")
        + _section("global_defs", global_defs)
        + _section(f"vrrp_instance {INSTANCE_NAME}", instance)
    )


def _block(name: str, lines: list[str]) -> list[str]:
    """A nested block, or nothing when empty (keepalived warns about an empty one)."""
    if not lines:
        return []
    return [f"{name} {{", *(f"{_INDENT}{line}" for line in lines), "}"]


def _section(title: str, lines: list[str]) -> str:
    body = "".join(f"{_INDENT}{line}\n" for line in lines)
    return f"\n{title} {{\n{body}}}\n"
