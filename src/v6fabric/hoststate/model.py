"""The southbound contract: everything one host should have, as frozen, versioned data.

The server compiles a ``HostState`` per host from the store; the host's agent makes Linux match
it. Anything an agent does is explained by its ``HostState``. Names of Linux objects are decided
here (by the compiler), so that the agent recognises its own objects after a crash:

* ``v6b-<network id[:11]>`` a network's Linux bridge
* ``tap<port id[:11]>`` the host-side end of every port (workload, router or DHCP)
* ``qr-<port id[:11]>`` / ``ns-<port id[:11]>`` the namespace side of a router / DHCP port
* ``qg-<port id[:11]>`` the namespace side of a router's gateway port (its external leg)
* ``sg-<central leg id[:11]>`` a distributed router's central leg on one of its networks
  (``hoststate.dvr``), in ``v6s-<router id>``, the router's central (north/south) namespace
* ``v6r-<router id>`` a router's namespace, ``v6d-<network id>`` a network's DHCP/RA namespace
* ``v6w-<workload id>`` a workload's namespace (a stand-in for a VM), ``eth0``.. inside it
* ``vx-<network id[:11]>`` a network's VXLAN device, on its bridge
* ``gt-<network id[:6]>-<hash>`` a GRE network's tap to one remote host (``gre_name``)
* ``vl-<network id[:11]>`` a VLAN network's 802.1Q sub-interface, on its bridge

Addresses are text in CIDR form (``2001:db8::1/64``), sorted, so equal states are equal values.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from v6fabric.hoststate.firewall import FirewallSpec
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.vrrp import VrrpSpec

HOSTSTATE_VERSION = 1

BRIDGE_PREFIX = "v6b-"
TAP_PREFIX = "tap"
ROUTER_IF_PREFIX = "qr-"
GATEWAY_IF_PREFIX = "qg-"
DHCP_IF_PREFIX = "ns-"
ROUTER_NS_PREFIX = "v6r-"
DHCP_NS_PREFIX = "v6d-"
CENTRAL_NS_PREFIX = "v6s-"  # a distributed router's central instance (its gateway, N/S)
CENTRAL_IF_PREFIX = "sg-"
WORKLOAD_NS_PREFIX = "v6w-"
HOST_NS_PREFIX = "v6h-"
VXLAN_PREFIX = "vx-"
VXLAN_PORT = 4789  # IANA's
GRE_PREFIX = "gt-"
VLAN_PREFIX = "vl-"
ID_CHARS = 11  # interface names are at most 15 characters


def bridge_name(network_id: str) -> str:
    return BRIDGE_PREFIX + network_id[:ID_CHARS]


def tap_name(port_id: str) -> str:
    return TAP_PREFIX + port_id[:ID_CHARS]


def router_namespace(router_id: str) -> str:
    return ROUTER_NS_PREFIX + router_id


def central_namespace(router_id: str) -> str:
    return CENTRAL_NS_PREFIX + router_id


def dhcp_namespace(network_id: str) -> str:
    return DHCP_NS_PREFIX + network_id


def workload_namespace(workload_id: str) -> str:
    return WORKLOAD_NS_PREFIX + workload_id


def vxlan_name(network_id: str) -> str:
    return VXLAN_PREFIX + network_id[:ID_CHARS]


def gre_name(network_id: str, remote: str) -> str:
    """A GRE network's tap to ``remote``: stable per (network, remote endpoint), 15 chars."""
    key = f"{network_id}/{ipaddress.ip_address(remote)}".encode()
    return f"{GRE_PREFIX}{network_id[:6]}-{hashlib.sha256(key).hexdigest()[:5]}"


def vlan_name(network_id: str) -> str:
    return VLAN_PREFIX + network_id[:ID_CHARS]


@dataclass(frozen=True)
class OverlaySpec:
    """A network's VXLAN segment on this host: ``device`` on the network's bridge, sending from
    ``local`` (this host's tunnel endpoint, IPv4 or IPv6), and nothing learnt from the wire.
    Broadcast and unknown destinations go to every one of ``remotes`` (the other hosts with a
    port on the network: head-end replication, no multicast underlay); the MACs behind each
    remote come as ``FdbEntry``s from the server's knowledge of which host has which port."""

    device: str
    vni: int
    local: str
    remotes: tuple[str, ...] = ()  # sorted
    dstport: int = VXLAN_PORT
    # "gre": no multipoint device; one tap per remote (``gre_name``), ``vni`` is the GRE key,
    # ``device`` unused by the agent, and no ``FdbEntry``s (the bridges learn).
    kind: str = "vxlan"
    # VXLAN only: learn the MACs not in the fdb from the wire. Set on a network with an HA
    # router's legs, whose MACs move between hosts with the VRRP master (the new master's
    # first frames, multicast and so flooded everywhere, teach every host at once, without
    # the server in the failover's path); pinned entries are never overwritten by learning.
    learning: bool = False


@dataclass(frozen=True)
class FdbEntry:
    """A port on another host: frames for ``mac`` on ``device`` go to the endpoint ``remote``."""

    device: str
    mac: str  # lower case
    remote: str

    @property
    def entry_id(self) -> str:
        """The order of ``HostState.fdb`` and its buckets on the wire."""
        return f"{self.device}/{self.mac}"


@dataclass(frozen=True)
class NetworkSpec:
    """A network present on this host: one Linux bridge, no addresses, no IPv6 of its own.

    ``physical_interface``: a provider (``flat``) network's host interface on its physical
    network (the agent's ``--physical-network NAME=IFACE``), enslaved to the bridge so that the
    workloads are directly on that segment. It is the host's: the agent never creates or
    deletes it, only enslaves it (and releases it when the network goes)."""

    network_id: str
    bridge: str
    mtu: int
    overlay: OverlaySpec | None = None  # None: the bridge alone (flat here, or one host)
    physical_interface: str | None = None  # None: no physical network here (or not flat)
    # A ``vlan`` network: its 802.1Q id. ``physical_interface`` then is the lower device of its
    # sub-interface (``vlan_name``), which alone joins the bridge (the interface does not).
    vlan: int | None = None


@dataclass(frozen=True)
class PortSpec:
    """A port bound to this host; its ``tap`` is enslaved to the network's bridge.

    ``kind`` "workload": the tap is created by whoever plugs the workload (as Nova does); the
    agent enslaves it once it appears and then reports the port ACTIVE. "router" and "dhcp": the
    agent creates a veth pair, ``tap`` on the bridge and ``ifname`` inside ``namespace`` with the
    port's MAC and ``addresses``. A router's gateway port is a "router" port too (``qg-``, on
    the external network's bridge): unfiltered, as it forwards the tenants' traffic.
    """

    port_id: str
    network_id: str
    kind: str  # "workload" | "router" | "dhcp"
    tap: str
    mac: str
    mtu: int
    admin_up: bool = True
    namespace: str | None = None
    ifname: str | None = None
    addresses: tuple[str, ...] = ()
    # A leg of an HA router (``hoststate.vrrp``): its link state and global addresses are
    # keepalived's (up with them on the master, down on a backup); the agent creates the veth,
    # enslaves the tap and sets the MAC, and leaves the rest alone.
    vrrp_managed: bool = False


@dataclass(frozen=True)
class RouteSpec:
    destination: str  # CIDR; "default" is written as ::/0 or 0.0.0.0/0
    gateway: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class NeighborSpec:
    """A permanent neighbour entry: ``address`` is at ``mac`` on ``ifname``. A distributed
    router's instances know every port of their networks this way, so they never solicit
    (their solicitations would carry the shared gateway addresses onto the overlay)."""

    ifname: str
    address: str  # plain IPv6 or IPv4 address, no prefix length
    mac: str  # lower case


@dataclass(frozen=True)
class NamespaceSpec:
    """A router (``v6r-``) or DHCP/RA (``v6d-``) namespace and its sysctls and routes.

    ``ra_uplink``: the interface (a router's ``qg-`` leg) whose upstream RAs give the namespace
    its default route, when neither the external subnet's gateway nor a configured next hop
    does: the agent sets ``accept_ra=2`` on it (a forwarding namespace ignores RAs otherwise)
    and ``autoconf=0`` (the router takes no SLAAC address the API does not know). The kernel
    installs that route itself (proto ra), so it is not one of ``routes``."""

    name: str
    forwarding: bool = False
    routes: tuple[RouteSpec, ...] = ()
    ra_uplink: str | None = None
    # Permanent entries the agent keeps exactly (others of nud permanent removed), sorted by
    # (ifname, address). Only distributed routers' namespaces have any (``hoststate.dvr``).
    neighbors: tuple[NeighborSpec, ...] = ()
    # An instance of a distributed router: the same namespace exists on other hosts too (only
    # labs that run several hosts on one machine care: they name it per host, ``localise``).
    distributed: bool = False


@dataclass(frozen=True)
class RaPrefix:
    cidr: str
    autonomous: bool  # A flag: SLAAC allowed
    on_link: bool = True


@dataclass(frozen=True)
class RaRoute:
    """An RFC 4191 route information option."""

    cidr: str
    preference: str = "medium"


@dataclass(frozen=True)
class RaInterface:
    """What radvd advertises on one interface."""

    ifname: str
    managed: bool  # M flag
    other: bool  # O flag
    mtu: int
    prefixes: tuple[RaPrefix, ...] = ()
    rdnss: tuple[str, ...] = ()
    dnssl: tuple[str, ...] = ()
    routes: tuple[RaRoute, ...] = ()
    default_lifetime: int | None = None  # None: radvd's default; 0: not a default router
    min_interval: int = 3
    max_interval: int = 10
    # The link-local to send from (the interface's own, from its MAC): the interface also holds
    # the metadata address, and an RA from that would make it the guests' default router.
    source: str | None = None


@dataclass(frozen=True)
class RadvdSpec:
    namespace: str
    interfaces: tuple[RaInterface, ...]
    # An HA router's radvd runs only on the VRRP master: keepalived's notify hook starts and
    # kills it; the agent writes its config and reloads it where it runs, nothing more.
    vrrp: bool = False


@dataclass(frozen=True)
class DhcpRange:
    """One subnet served by dnsmasq: ``static`` means only the addresses of ``DhcpHost``s."""

    tag: str  # "subnet-<id>"
    ip_version: int
    network: str  # the subnet's network address, e.g. 2001:db8:2:: or 10.0.0.0
    prefixlen: int
    mode: str = "static"  # "static" (addresses by reservation) | "stateless" (options only)
    lease_seconds: int = 86400


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    addresses: tuple[str, ...]  # plain addresses, IPv6 and IPv4 of this MAC
    hostname: str


@dataclass(frozen=True)
class DhcpOption:
    tag: str
    ip_version: int
    name: str  # dnsmasq option name: "dns-server", "domain-search", "router", ...
    value: str  # already formatted for dnsmasq: "[2001:db8::53],[2001:db8::54]"


@dataclass(frozen=True)
class DnsmasqSpec:
    namespace: str
    network_id: str
    interface: str
    ranges: tuple[DhcpRange, ...]
    hosts: tuple[DhcpHost, ...] = ()
    options: tuple[DhcpOption, ...] = ()


@dataclass(frozen=True)
class WorkloadInterface:
    """One NIC of a workload: a veth whose host end is the port's tap, with the port's MAC."""

    port_id: str
    ifname: str  # eth0, eth1, ... in the order the workload lists its ports
    tap: str
    mac: str
    mtu: int


@dataclass(frozen=True)
class WorkloadSpec:
    """A namespace workload the host runs, as a hypervisor runs a VM: it learns its addresses
    only from the network (RA, DHCPv6, DHCPv4), never from this spec."""

    workload_id: str
    name: str
    namespace: str
    interfaces: tuple[WorkloadInterface, ...]


@dataclass(frozen=True)
class HostState:
    host: str
    revision: int
    networks: tuple[NetworkSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    namespaces: tuple[NamespaceSpec, ...] = ()
    radvd: tuple[RadvdSpec, ...] = ()
    dnsmasq: tuple[DnsmasqSpec, ...] = ()
    workloads: tuple[WorkloadSpec, ...] = ()
    firewall: FirewallSpec = field(default_factory=FirewallSpec)
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    fdb: tuple[FdbEntry, ...] = ()  # sorted by ``entry_id``
    vrrp: tuple[VrrpSpec, ...] = ()  # HA router instances here, sorted by namespace
    version: int = field(default=HOSTSTATE_VERSION)
