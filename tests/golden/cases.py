"""Representative specs for the renderers' golden files and the daemon checks.

Each case is what the compiler would hand the agent for one situation of issue 3. The dnsmasq
paths are fixed here so that the golden files do not depend on where the tests run.
"""

from __future__ import annotations

from v6fabric.hoststate.metadata import METADATA_IPV6
from v6fabric.hoststate.model import (
    DhcpHost,
    DhcpOption,
    DhcpRange,
    DnsmasqSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    RaRoute,
)

METADATA = RaRoute(f"{METADATA_IPV6}/128")  # on every interface the compiler advertises (R12)
NET_A = "3f1c2b9a-5d6e-4f70-8a91-b2c3d4e5f601"
NET_B = "8d2e4f60-1a2b-4c3d-9e8f-a0b1c2d3e4f5"
NET_C = "c0ffee00-1111-4222-8333-944455556666"
NET_D = "d1d2d3d4-aaaa-4bbb-8ccc-ddddeeeeffff"
SUB_1 = "subnet-5e0a6f2c-3b1d-4e8a-9c7f-0d1e2f3a4b5c"
SUB_2 = "subnet-7b8c9d0e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
SUB_3 = "subnet-a1b2c3d4-e5f6-4a7b-8c9d-e0f1a2b3c4d5"
SUB_4 = "subnet-0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"

RADVD: dict[str, RadvdSpec] = {
    # A router port on a SLAAC subnet (ra_mode = address_mode = slaac).
    "slaac_router": RadvdSpec(
        namespace="v6r-6b1c0d9e-2f3a-4b5c-8d6e-7f8091a2b3c4",
        interfaces=(
            RaInterface(
                ifname="qr-1a2b3c4d-5e6",
                managed=False,
                other=False,
                mtu=1500,
                prefixes=(RaPrefix("2001:db8:1::/64", autonomous=True),),
                rdnss=("2001:db8:1::53",),
                routes=(METADATA,),
                source="fe80::f816:3eff:fe00:1",  # its own link-local, not the metadata one
            ),
        ),
    ),
    # dhcpv6-stateless: SLAAC addresses, O flag, DNS from DHCPv6 and from the RA.
    "stateless": RadvdSpec(
        namespace="v6r-6b1c0d9e-2f3a-4b5c-8d6e-7f8091a2b3c4",
        interfaces=(
            RaInterface(
                ifname="qr-2b3c4d5e-6f7",
                managed=False,
                other=True,
                mtu=1500,
                prefixes=(RaPrefix("2001:db8:2::/64", autonomous=True),),
                rdnss=("2001:db8:2::53",),
                dnssl=("example.org",),
            ),
        ),
    ),
    # dhcpv6-stateful: M and O, prefix on-link but not autonomous.
    "stateful": RadvdSpec(
        namespace="v6r-6b1c0d9e-2f3a-4b5c-8d6e-7f8091a2b3c4",
        interfaces=(
            RaInterface(
                ifname="qr-3c4d5e6f-708",
                managed=True,
                other=True,
                mtu=1450,
                prefixes=(RaPrefix("2001:db8:3::/64", autonomous=False),),
            ),
        ),
    ),
    # One router with two ports (given out of order): two SLAAC prefixes on one port (R17).
    "two_prefixes": RadvdSpec(
        namespace="v6r-6b1c0d9e-2f3a-4b5c-8d6e-7f8091a2b3c4",
        interfaces=(
            RaInterface(
                ifname="qr-5e6f7081-92a",
                managed=False,
                other=False,
                mtu=9000,
                prefixes=(RaPrefix("2001:db8:6::/64", autonomous=True),),
            ),
            RaInterface(
                ifname="qr-4d5e6f70-819",
                managed=True,
                other=True,
                mtu=1500,
                prefixes=(
                    RaPrefix("2001:db8:4::/64", autonomous=False),
                    RaPrefix("2001:db8:5::/64", autonomous=True),
                ),
            ),
        ),
    ),
    # A network with ipv6_ra_mode but no router: RAs from its DHCP namespace, no default route.
    "isolated": RadvdSpec(
        namespace=f"v6d-{NET_D}",
        interfaces=(
            RaInterface(
                ifname="ns-9f8e7d6c-5b4",
                managed=False,
                other=False,
                mtu=1500,
                prefixes=(RaPrefix("fd00:6:7::/64", autonomous=True),),
                rdnss=("fd00:6:7::53",),
                dnssl=("isolated.example",),
                routes=(METADATA,),  # the v6d- namespace serves metadata: it is the next hop
                default_lifetime=0,
            ),
        ),
    ),
    # Five DNS servers (two RDNSS lines), a search list, host routes as RIOs, an MTU too small
    # to advertise, slower timers and an explicit router lifetime.
    "many_rdnss": RadvdSpec(
        namespace="v6r-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        interfaces=(
            RaInterface(
                ifname="qr-6f708192-a3b",
                managed=False,
                other=True,
                mtu=1000,
                prefixes=(RaPrefix("2001:db8:7::/64", autonomous=True),),
                rdnss=(
                    "2001:db8:7::53",
                    "2001:db8:7::54",
                    "2001:db8:53::1",
                    "2001:4860:4860::8888",
                    "2001:4860:4860::8844",
                ),
                dnssl=("example.org", "lab.example.org"),
                routes=(
                    RaRoute("2001:db8:100::/48"),
                    RaRoute("fd00::/8", preference="low"),
                    RaRoute("2001:db8:ff::/64", preference="high"),
                    METADATA,
                ),
                default_lifetime=1800,
                min_interval=30,
                max_interval=100,
            ),
        ),
    ),
}

DNSMASQ: dict[str, DnsmasqSpec] = {
    # Options only: the one IPv6 range tags the host (no set: on its line).
    "stateless": DnsmasqSpec(
        namespace=f"v6d-{NET_A}",
        network_id=NET_A,
        interface="ns-0e1f2a3b-4c5",
        ranges=(DhcpRange(SUB_1, 6, "2001:db8:2::", 64, mode="stateless", lease_seconds=3600),),
        hosts=(DhcpHost("fa:16:3e:00:02:01", ("2001:db8:2:0:f816:3eff:fe00:201",), "vm-a1"),),
        options=(
            DhcpOption(SUB_1, 6, "dns-server", "[2001:db8:2::53]"),
            DhcpOption(SUB_1, 6, "domain-search", "example.org"),
        ),
    ),
    # Two hosts with reserved addresses, one of them without a name.
    "stateful": DnsmasqSpec(
        namespace=f"v6d-{NET_B}",
        network_id=NET_B,
        interface="ns-1f2a3b4c-5d6",
        ranges=(DhcpRange(SUB_2, 6, "2001:db8:3::", 64),),
        hosts=(
            DhcpHost("fa:16:3e:00:03:01", ("2001:db8:3::10",), "vm-b1"),
            DhcpHost("FA:16:3E:00:03:02", ("2001:db8:3::11",), ""),
        ),
        options=(DhcpOption(SUB_2, 6, "dns-server", "[2001:db8:3::53],[2001:db8:3::54]"),),
    ),
    # Dual stack: a DHCPv6 stateful subnet and a DHCPv4 subnet; one host with two IPv4 subnets'
    # addresses is not possible in one line, so the second goes on its own line.
    "dual_stack": DnsmasqSpec(
        namespace=f"v6d-{NET_C}",
        network_id=NET_C,
        interface="ns-2a3b4c5d-6e7",
        ranges=(
            DhcpRange(SUB_2, 6, "2001:db8:3::", 64, lease_seconds=86400),
            DhcpRange(SUB_3, 4, "10.0.0.0", 24, lease_seconds=43200),
            DhcpRange(SUB_4, 4, "10.0.1.0", 24, lease_seconds=43200),
        ),
        hosts=(
            DhcpHost("fa:16:3e:00:04:01", ("10.0.0.10", "2001:db8:3::10"), "vm-c1"),
            DhcpHost("fa:16:3e:00:04:02", ("10.0.0.11",), "vm-c2"),
            DhcpHost("fa:16:3e:00:04:03", ("2001:db8:3::12", "10.0.0.12", "10.0.1.12"), "vm-c3"),
        ),
        options=(
            DhcpOption(SUB_2, 6, "dns-server", "[2001:db8:3::53]"),
            DhcpOption(SUB_2, 6, "domain-search", "example.org"),
            DhcpOption(SUB_3, 4, "dns-server", "10.0.0.53,10.0.0.54"),
            DhcpOption(SUB_3, 4, "router", "10.0.0.1"),
            DhcpOption(  # metadata via the DHCP port, a host route, the default route
                SUB_3,
                4,
                "classless-static-route",
                "169.254.169.254/32,10.0.0.2,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1",
            ),
            DhcpOption(SUB_3, 4, "domain-search", "example.org"),
            DhcpOption(SUB_4, 4, "router", "10.0.1.1"),
            DhcpOption(
                SUB_4, 4, "classless-static-route", "169.254.169.254/32,10.0.1.2,0.0.0.0/0,10.0.1.1"
            ),
        ),
    ),
    # One network, several IPv6 subnets (R17): two stateful, one stateless, one SLAAC (no range).
    # vm-d1 gets both stateful addresses in one line, the stateless tag, and not its SLAAC one.
    "two_prefixes": DnsmasqSpec(
        namespace=f"v6d-{NET_D}",
        network_id=NET_D,
        interface="ns-3b4c5d6e-7f8",
        ranges=(
            DhcpRange(SUB_1, 6, "2001:db8:4::", 64),
            DhcpRange(SUB_2, 6, "2001:db8:5::", 64),
            DhcpRange(SUB_3, 6, "2001:db8:6::", 64, mode="stateless"),
        ),
        hosts=(
            DhcpHost(
                "fa:16:3e:00:05:01",
                (
                    "2001:db8:4::10",
                    "2001:db8:5::10",
                    "2001:db8:6:0:f816:3eff:fe00:501",
                    "2001:db8:7:0:f816:3eff:fe00:501",
                ),
                "vm-d1",
            ),
            DhcpHost("fa:16:3e:00:05:02", ("2001:db8:6:0:f816:3eff:fe00:502",), "vm-d2"),
        ),
        options=(
            DhcpOption(SUB_1, 6, "dns-server", "[2001:db8:4::53]"),
            DhcpOption(SUB_3, 6, "dns-server", "[2001:db8:6::53]"),
            DhcpOption(SUB_3, 6, "domain-search", "six.example"),
        ),
    ),
}

# The paths the golden dnsmasq configs were rendered with.
GOLDEN_RUN_DIR = "/run/v6fabric/dhcp"


def dnsmasq_paths(run_dir: str, network_id: str, *, log: bool = True) -> dict[str, str | None]:
    base = f"{run_dir}/{network_id}"
    return {
        "pid_file": f"{base}/pid",
        "lease_file": f"{base}/leases",
        "hosts_file": f"{base}/hosts",
        "opts_file": f"{base}/opts",
        "log_file": f"{base}/log" if log else None,
    }
