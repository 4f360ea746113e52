"""L3 HA in the southbound contract: one ``VrrpSpec`` per HA router instance on a host.

An HA router (``ha=True``) runs on two or more L3 hosts at once. Every instance has the same
legs (``qr-``/``qg-``, same names, same MACs: the router ports' own, so the workloads' neighbour
entries and their default route via the leg's EUI-64 link-local stay valid across a failover),
but only the VRRP master's legs are up: a backup's legs are down, so it neither answers, nor
routes, nor advertises (no RA from a backup, no MAC seen on two hosts). keepalived (VRRP
version 3 over IPv6) runs in each instance's namespace on its ``ha-`` leg, a port of the
project's HA network, and on each transition its notify hook (not the agent: the agent may be
dead) brings the legs up or down and starts radvd or kills it (SIGKILL: a stopping radvd would
send a final RA with router lifetime 0 from the shared link-local, dataplane.md §4). The
legs' global addresses are keepalived's virtual addresses, added only on the master.
"""

from __future__ import annotations

from dataclasses import dataclass

HA_IF_PREFIX = "ha-"  # the namespace side of an HA router instance's port on the HA network
VRRP_ADVERT_INTERVAL = 0.2  # seconds; see the HA section of docs (issue 7) for the choice


@dataclass(frozen=True)
class VirtualAddress:
    """An address keepalived holds on the master only: ``cidr`` on leg ``ifname``."""

    cidr: str  # e.g. 2001:db8:1::1/64 or 10.0.0.1/24
    ifname: str  # qr-... or qg-...


@dataclass(frozen=True)
class VrrpSpec:
    """One instance of an HA router on this host: keepalived in ``namespace``.

    ``interface`` is the instance's ``ha-`` leg (its own EUI-64 link-local is the VRRP source);
    ``peers`` are the other instances' ``ha-`` link-locals (unicast adverts: no multicast on
    the HA network needed; empty: multicast to ff02::12). ``legs`` are up only while this
    instance is master; ``addresses`` are the gateway addresses on them. All instances have
    the same priority and no preemption (Neutron's choice): a recovered instance does not
    take the traffic back.
    """

    namespace: str  # v6r-<router id>
    router_id: str
    vrid: int  # 1..255, unique among the HA routers of one HA network
    interface: str  # ha-<port id[:11]>
    legs: tuple[str, ...]  # sorted: qr-..., qg-...
    addresses: tuple[VirtualAddress, ...] = ()  # sorted by (ifname, cidr)
    peers: tuple[str, ...] = ()  # sorted link-locals
    priority: int = 50
    advert_interval: float = VRRP_ADVERT_INTERVAL
