"""Representative ``FirewallSpec``s for the nftables golden files and the kernel's checks of them.

Each is what the compiler would hand a host for one situation of issue 4.
"""

from __future__ import annotations

from dataclasses import replace

from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
)

NET_A = "3f1c2b9a-5d6e-4f70-8a91-b2c3d4e5f601"
NET_B = "8d2e4f60-1a2b-4c3d-9e8f-a0b1c2d3e4f5"
PROVIDER = "c0ffee00-1111-4222-8333-944455556666"
DEFAULT_SG = "0d5c3a1e-7b2f-4c8d-9e6a-1f2b3c4d5e6f"
WEB_SG = "7e1d0c2b-3a4f-4e5d-8c6b-9a0f1e2d3c4b"
STATELESS_SG = "5f4e3d2c-1b0a-4998-8877-665544332211"

# Neutron's default group: egress anywhere, ingress from members of the same group.
DEFAULT_RULES = tuple(
    SecurityGroupRule(
        direction, ethertype, remote_group=DEFAULT_SG if direction == "ingress" else None
    )
    for direction in ("ingress", "egress")
    for ethertype in ("IPv4", "IPv6")
)


def _own(cidr: str, mac: str) -> AllowedAddress:
    return AllowedAddress(cidr, mac)


TENANT = FirewallSpec(
    networks=(FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", zone=1),),
    ports=(
        FirewallPort(
            "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "tap1a2b3c4d-5e",
            NET_A,
            "fa:16:3e:00:00:01",
            allowed=(
                _own("2001:db8:1:0:f816:3eff:fe00:1/128", "fa:16:3e:00:00:01"),
                _own("10.0.0.11/32", "fa:16:3e:00:00:01"),
                # Allowed address pairs: a VIP with the port's MAC, a prefix with another MAC
                # (it holds the fixed IP above: the set gets the merged prefix only once).
                _own("2001:db8:1::100/128", "fa:16:3e:00:00:01"),
                _own("2001:db8:1:0:f816:3eff:fe00:0/112", "fa:16:3e:00:00:01"),
                _own("2001:db8:1:8000::/65", "fa:16:3e:aa:aa:aa"),
            ),
            security_groups=(DEFAULT_SG, WEB_SG),
        ),
        FirewallPort(
            "2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d6e",
            "tap2b3c4d5e-6f",
            NET_A,
            "fa:16:3e:00:00:02",
            allowed=(_own("2001:db8:1:0:f816:3eff:fe00:2/128", "fa:16:3e:00:00:02"),),
            security_groups=(DEFAULT_SG,),
        ),
        FirewallPort(
            "3c4d5e6f-7081-4c9d-8e0f-2a3b4c5d6e7f",
            "tap3c4d5e6f-70",
            NET_A,
            "fa:16:3e:00:00:fe",
            role="router",
        ),
        FirewallPort(
            "4d5e6f70-8192-4d0e-9f1a-3b4c5d6e7f80",
            "tap4d5e6f70-81",
            NET_A,
            "fa:16:3e:00:00:fd",
            role="dhcp",
        ),
    ),
    security_groups=(
        SecurityGroup(DEFAULT_SG, rules=DEFAULT_RULES),
        SecurityGroup(
            WEB_SG,
            rules=(
                SecurityGroupRule("ingress", "IPv6", 6, 80, 80, rule_id="a1b2c3d4-web-http"),
                SecurityGroupRule("ingress", "IPv6", 6, 443, 443, remote_prefix="2001:db8::/32"),
                SecurityGroupRule("ingress", "IPv6", 58, icmp_type=128),
                SecurityGroupRule("ingress", "IPv4", 1, icmp_type=8, icmp_code=0),
            ),
        ),
    ),
    remote_groups=(
        RemoteGroup.of(
            DEFAULT_SG,
            ipv6=(
                "2001:db8:1:0:f816:3eff:fe00:1/128",
                "2001:db8:1:0:f816:3eff:fe00:2/128",
                "2001:db8:1::100/128",
                "2001:db8:1:8000::/65",
            ),
            ipv4=("10.0.0.11/32",),
        ),
    ),
)

# The same tenant after a port joined the default group elsewhere and port 1 lost its VIP:
# only set elements differ, so the agent applies render_set_updates.
TENANT_MEMBERSHIP = replace(
    TENANT,
    ports=(
        replace(
            TENANT.ports[0],
            allowed=tuple(a for a in TENANT.ports[0].allowed if a.cidr != "2001:db8:1::100/128"),
        ),
        *TENANT.ports[1:],
    ),
    remote_groups=(
        RemoteGroup.of(
            DEFAULT_SG,
            ipv6=(
                "2001:db8:1:0:f816:3eff:fe00:1/128",
                "2001:db8:1:0:f816:3eff:fe00:2/128",
                "2001:db8:1:0:f816:3eff:fe00:3/128",
                "2001:db8:1:8000::/65",
            ),
            ipv4=("10.0.0.11/32", "10.0.0.13/32"),
        ),
    ),
)

# Then a port whose address pair holds the /65 member joined elsewhere: the interval set
# trades the /65 for the wider prefix (elements of an interval set must not overlap).
TENANT_WIDER_MEMBER = replace(
    TENANT_MEMBERSHIP,
    remote_groups=(
        RemoteGroup.of(
            DEFAULT_SG,
            ipv6=(*TENANT_MEMBERSHIP.remote_groups[0].ipv6, "2001:db8:1::/48"),
            ipv4=TENANT_MEMBERSHIP.remote_groups[0].ipv4,
        ),
    ),
)

# A provider network: RAs come from the upstream routers' link-locals; a stateless group
# (replies need rules of their own); one port with port security off.
PROVIDER_STATELESS = FirewallSpec(
    networks=(
        FirewallNetwork(PROVIDER, "v6b-c0ffee00-11", zone=42, ra_sources=("fe80::1", "fe80::2")),
    ),
    ports=(
        FirewallPort(
            "5e6f7081-92a3-4e1f-8a2b-4c5d6e7f8091",
            "tap5e6f7081-92",
            PROVIDER,
            "fa:16:3e:00:01:01",
            allowed=(_own("2001:db8:ff::10/128", "fa:16:3e:00:01:01"),),
            security_groups=(STATELESS_SG,),
        ),
        FirewallPort(
            "6f708192-a3b4-4f2a-9b3c-5d6e7f8091a2",
            "tap6f708192-a3",
            PROVIDER,
            "fa:16:3e:00:01:02",
            port_security=False,
        ),
    ),
    security_groups=(
        SecurityGroup(
            STATELESS_SG,
            stateful=False,
            rules=(
                SecurityGroupRule("ingress", "IPv6", 6, 22, 22),
                SecurityGroupRule("ingress", "IPv6", 17, 10000, 10100),
                SecurityGroupRule("ingress", "IPv6", 132, 3868, 3868),
                SecurityGroupRule("ingress", "IPv6", 47, remote_prefix="2001:db8:ff::/64"),
                SecurityGroupRule("egress", "IPv6", 6),
                SecurityGroupRule("egress", "IPv6", 58, icmp_type=129, icmp_code=0),
            ),
        ),
    ),
)

# Two tenants with the same prefix and the same addresses on one host: one zone each.
OVERLAPPING = FirewallSpec(
    networks=(
        FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", zone=1),
        FirewallNetwork(NET_B, "v6b-8d2e4f60-1a", zone=2),
    ),
    ports=tuple(
        FirewallPort(
            f"{n}0000000-0000-4000-8000-000000000000",
            f"tap{n}0000000-00",
            net,
            f"fa:16:3e:00:0{n}:01",
            allowed=(_own("2001:db8:1::5/128", f"fa:16:3e:00:0{n}:01"),),
            security_groups=(WEB_SG,),
        )
        for n, net in ((7, NET_A), (8, NET_B))
    ),
    security_groups=(
        SecurityGroup(
            WEB_SG,
            rules=(
                SecurityGroupRule(
                    "ingress", "IPv6", 6, 8000, 8080, remote_prefix="2001:db8:1::/64"
                ),
                SecurityGroupRule("ingress", "IPv6", 58, icmp_type=1, icmp_code=4),
                SecurityGroupRule("egress", "IPv6"),
            ),
        ),
    ),
)

EMPTY = FirewallSpec()

# A distributed router's networks (R20): network A over VXLAN, network B over GRE (a tap per
# remote host) reusing A's IPv4 gateway address. Their gateways, the legs' shared link-local
# and the metadata addresses never cross the uplinks in neighbour discovery.
DVR = replace(
    TENANT,
    networks=(
        FirewallNetwork(
            NET_A,
            "v6b-3f1c2b9a-5d",
            zone=1,
            uplinks=("vx-3f1c2b9a-5d",),
            local_only=(
                "2001:db8:1::1",
                "fe80::f816:3eff:fe00:fe",
                "fe80::a9fe:a9fe",
                "10.0.0.1",
                "169.254.169.254",
            ),
        ),
        FirewallNetwork(
            NET_B,
            "v6b-8d2e4f60-1a",
            zone=2,
            uplinks=("gt-8d2e4f-1a2b3", "gt-8d2e4f-4c5d6"),
            local_only=("2001:db8:2::1", "10.0.0.1"),
        ),
    ),
)
# A second gateway address on A, one remote host fewer on B: set elements only.
DVR_CHANGED = replace(
    DVR,
    networks=(
        replace(DVR.networks[0], local_only=(*DVR.networks[0].local_only, "2001:db8:1:1::1")),
        replace(DVR.networks[1], uplinks=("gt-8d2e4f-1a2b3",)),
    ),
)

RULESETS: dict[str, FirewallSpec] = {
    "tenant": TENANT,
    "provider_stateless": PROVIDER_STATELESS,
    "overlapping": OVERLAPPING,
    "empty": EMPTY,
    "dvr_uplinks": DVR,
}
# name -> (old, new) for render_set_updates
SET_UPDATES: dict[str, tuple[FirewallSpec, FirewallSpec]] = {
    "tenant_membership": (TENANT, TENANT_MEMBERSHIP),
    "tenant_wider_member": (TENANT_MEMBERSHIP, TENANT_WIDER_MEMBER),
    "dvr_routed_here": (TENANT, DVR),
    "dvr_local_only_changed": (DVR, DVR_CHANGED),
}

# name -> (old, new) for render_update: ports come and go, a group's rules change, the first
# group and port arrive on an empty host. Each is one transaction on the loaded tables.
WITHOUT_PORT_2 = replace(TENANT, ports=tuple(p for p in TENANT.ports if p.tap != "tap2b3c4d5e-6f"))
WEB_WITHOUT_HTTP = replace(
    TENANT,
    security_groups=(
        TENANT.security_groups[0],
        replace(TENANT.security_groups[1], rules=TENANT.security_groups[1].rules[1:]),
    ),
)
# A port with port 2's groups: it joins their profile (its chains exist), set elements only.
TWIN_MAC = "fa:16:3e:00:00:09"
WITH_TWIN = replace(
    TENANT,
    ports=(
        *TENANT.ports,
        replace(
            TENANT.ports[1],
            port_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            tap="tap9a8b7c6d-5e",
            mac=TWIN_MAC,
            allowed=(
                _own("2001:db8:1:0:f816:3eff:fe00:9/128", TWIN_MAC),
                _own("10.0.0.19/32", TWIN_MAC),
            ),
        ),
    ),
)
UPDATES: dict[str, tuple[FirewallSpec, FirewallSpec]] = {
    "tenant_port_joined": (TENANT, WITH_TWIN),
    "tenant_port_left": (WITH_TWIN, TENANT),
    "tenant_port_added": (WITHOUT_PORT_2, TENANT),
    "tenant_port_removed": (TENANT, WITHOUT_PORT_2),
    "tenant_rule_removed": (TENANT, WEB_WITHOUT_HTTP),
    "tenant_from_empty": (EMPTY, TENANT),
    "tenant_to_empty": (TENANT, EMPTY),
}
