"""The nftables renderer, pure: structure, checks of names and prefixes, set diffs, determinism.

The kernel's view of the same output is in tests/golden/test_nftables.py (root) and the traffic
proof in tests/e2e/test_nft_ruleset.py.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.golden.nft_cases import (
    DEFAULT_SG,
    NET_A,
    OVERLAPPING,
    PROVIDER_STATELESS,
    TENANT,
    TENANT_MEMBERSHIP,
    WEB_SG,
)
from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    MemberBucket,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
    member_bucket,
)
from v6fabric.render._common import eui64_link_local
from v6fabric.render.nftables import (
    Profile,
    render_ruleset,
    render_set_updates,
    render_update,
    sets_only_changed,
)


def _chain(text: str, name: str) -> list[str]:
    """The rules of chain ``name`` (without its hook line)."""
    match = re.search(rf"\tchain {re.escape(name)} {{\n(.*?)\n?\t}}\n", text, re.S)
    assert match, f"no chain {name}"
    return [line.strip() for line in match.group(1).splitlines() if "type filter hook" not in line]


def _set(text: str, name: str) -> list[str]:
    match = re.search(rf"\t(?:set|map) {re.escape(name)} {{\n(.*?)\t}}\n", text, re.S)
    assert match, f"no set {name}"
    body = match.group(1)
    if "elements = {" not in body:
        return []
    inner = body.split("elements = {", 1)[1].rsplit("}", 1)[0]
    return [e.strip().rstrip(",") for e in inner.splitlines() if e.strip()]


# --- structure ---------------------------------------------------------------------------------


def test_the_script_replaces_our_two_tables_and_nothing_else() -> None:
    text = render_ruleset(TENANT)
    commands = [line for line in text.splitlines() if line and not line.startswith(("\t", "#"))]
    assert commands[:4] == [
        "add table bridge v6fabric",
        "delete table bridge v6fabric",
        "add table inet v6fabric",
        "delete table inet v6fabric",
    ]
    assert [c for c in commands[4:] if not c.startswith("}")] == [
        "table bridge v6fabric {",
        "table inet v6fabric {",
    ]
    assert "flush ruleset" not in text


def test_hooks_and_priorities_follow_the_kernel_facts() -> None:
    text = render_ruleset(TENANT)
    hooks = re.findall(r"chain (\S+) \{\n\t\ttype filter hook (\w+) priority (-?\d+);", text)
    assert hooks == [
        ("prerouting", "prerouting", "-200"),  # bridge: guards, ingress port mark
        ("forward", "forward", "-200"),  # bridge: egress port mark before br_netfilter (0)
        ("uplinks", "forward", "-190"),  # bridge: the uplink guard (R20), also before it
        ("zones", "prerouting", "-300"),  # inet: before conntrack (-200)
        ("from_ports", "prerouting", "0"),
        ("to_ports", "forward", "0"),
    ]


def _profile(*groups: str) -> str:
    return Profile(stateful=True, groups=tuple(sorted(groups))).name


def _marks(text: str) -> dict[str, int]:
    """tap -> mark, from the ``port_marks`` map."""
    pairs = (e.split(" : ") for e in _set(text, "port_marks"))
    return {tap.strip('"'): int(mark, 16) for tap, mark in pairs}


def test_guarded_ports_get_their_profiles_marks_chains_and_dispatch_elements() -> None:
    text = render_ruleset(TENANT)
    web, default = _profile(DEFAULT_SG, WEB_SG), _profile(DEFAULT_SG)
    marks = _marks(text)
    assert set(marks) == {"tap1a2b3c4d-5e", "tap2b3c4d5e-6f"}
    profiles = {web: marks["tap1a2b3c4d-5e"], default: marks["tap2b3c4d5e-6f"]}
    assert len(set(profiles.values())) == 2 and 0 not in profiles.values()
    assert _chain(text, "prerouting") == [
        "meta mark set 0x0",
        "iifname @guarded_taps jump port_guard",
        "meta mark set iifname map @port_marks",
    ]
    assert "meta mark set oifname map @port_marks" in _chain(text, "forward")
    assert sorted(_set(text, "to_ports")) == sorted(
        f"{mark:#x} : jump to_{name}" for name, mark in profiles.items()
    )
    assert _chain(text, "to_ports") == ["meta mark vmap @to_ports"]
    assert _chain(text, f"from_{web}")[-3:] == [
        f"jump sg_{DEFAULT_SG}_egress",
        f"jump sg_{WEB_SG}_egress",
        'counter drop comment "no egress rule allows"',
    ]
    # A profile keeps its mark whoever else is on the host: its map elements stay.
    alone = dataclasses.replace(TENANT, ports=TENANT.ports[1:])
    assert _marks(render_ruleset(alone))["tap2b3c4d5e-6f"] == profiles[default]
    # Router and DHCP ports are neither guarded nor marked, but they may send RAs.
    assert "tap3c4d5e6f-70" not in "".join(_set(text, "guarded_taps") + _set(text, "port_marks"))
    assert _set(text, "ra_taps") == ['"tap3c4d5e6f-70"', '"tap4d5e6f70-81"']


def test_port_security_off_means_no_guard_no_mark_no_chain_no_elements() -> None:
    text = render_ruleset(PROVIDER_STATELESS)
    dispatch = _set(text, "guarded_taps") + _set(text, "port_marks") + _set(text, "to_ports")
    assert not any("tap6f708192-a3" in e for e in dispatch)
    assert "chain to_tap6f708192-a3" not in text
    assert not any("tap6f708192-a3" in e for e in _set(text, "src6") + _set(text, "macs"))
    # ... but it is one of "our" taps: an RA from it is not an upstream router's.
    assert '"tap6f708192-a3"' in _set(text, "all_taps")


def test_ports_with_the_same_groups_share_their_chains() -> None:
    twin = dataclasses.replace(
        TENANT.ports[1], port_id="twin", tap="taptwin", mac="fa:16:3e:00:00:09"
    )
    spec = dataclasses.replace(TENANT, ports=(*TENANT.ports, twin))
    text = render_ruleset(spec)
    assert _marks(text)["taptwin"] == _marks(text)["tap2b3c4d5e-6f"]
    assert len(re.findall(r"\tchain (?:from|to)_p[0-9a-f]{12} ", text)) == 4  # 2 profiles x 2
    assert "chain to_tap" not in text and "chain from_tap" not in text
    # Joining a profile that exists is elements of hash sets and plain maps only: no chain, no
    # verdict-map element (which would make the kernel validate every jump of the table), no
    # interval set (a pipapo set, copied whole by the kernel).
    assert sets_only_changed(TENANT, spec)
    lines = render_update(TENANT, spec).splitlines()
    assert all(line.startswith("add element bridge v6fabric ") for line in lines)
    touched = {line.split()[4] for line in lines}
    assert touched == {"macs", "src6", "nd_targets", "nd_lla", "guarded_taps", "port_marks"} | {
        "all_taps"
    }


def test_port_chain_order_stateful() -> None:
    rules = _chain(render_ruleset(TENANT), f"to_{_profile(DEFAULT_SG)}")
    assert rules[0] == "ct state established,related accept"
    assert rules[1].startswith("icmpv6 type { nd-router-advert, nd-neighbor-solicit")
    assert "meta nfproto ipv6 udp sport 547 udp dport 546 accept" in rules
    assert rules[-3:] == [
        "ct state invalid drop",
        f"jump sg_{DEFAULT_SG}_ingress",
        'counter drop comment "no ingress rule allows"',
    ]


def test_stateless_groups_have_no_conntrack() -> None:
    text = render_ruleset(PROVIDER_STATELESS)
    assert "ct state" not in text.split("table inet v6fabric", 1)[1]


def test_mixing_stateful_and_stateless_groups_on_a_port_is_refused() -> None:
    port = dataclasses.replace(
        PROVIDER_STATELESS.ports[0],
        security_groups=(*PROVIDER_STATELESS.ports[0].security_groups, WEB_SG),
    )
    spec = dataclasses.replace(
        PROVIDER_STATELESS,
        ports=(port,),
        security_groups=(*PROVIDER_STATELESS.security_groups, SecurityGroup(WEB_SG)),
    )
    with pytest.raises(ValueError, match="mixes stateful and stateless"):
        render_ruleset(spec)


def test_zones_per_bridge() -> None:
    text = render_ruleset(OVERLAPPING)
    assert _chain(text, "zones") == ["ct zone set iifname map @zones"]
    assert _set(text, "zones") == ['"v6b-3f1c2b9a-5d" : 1', '"v6b-8d2e4f60-1a" : 2']


def test_empty_spec_renders_tables_with_hooks_and_no_empty_element_lists() -> None:
    text = render_ruleset(FirewallSpec())
    assert "{ }" not in text and "elements = {\n\t\t}" not in text
    assert _set(text, "to_ports") == []


# --- sets ---------------------------------------------------------------------------------------


def test_eui64_link_local_of_every_allowed_mac_is_implied() -> None:
    assert str(eui64_link_local("fa:16:3e:00:00:01")) == "fe80::f816:3eff:fe00:1"
    src6 = _set(render_ruleset(TENANT), "src6")
    assert '"tap1a2b3c4d-5e" . fa:16:3e:00:00:01 . fe80::f816:3eff:fe00:1' in src6
    assert '"tap1a2b3c4d-5e" . fa:16:3e:aa:aa:aa . fe80::f816:3eff:feaa:aaaa' in src6


def test_overlapping_prefixes_become_one_element_adjacent_ones_stay_apart() -> None:
    text = render_ruleset(TENANT)
    src6, nets = _set(text, "src6"), _set(text, "src6_nets")
    # The fixed IP ...fe00:1 lies in the /112 pair: only the /112 is an element.
    assert not any(e.endswith("2001:db8:1:0:f816:3eff:fe00:1") for e in src6 + nets)
    assert '"tap1a2b3c4d-5e" . fa:16:3e:00:00:01 . 2001:db8:1:0:f816:3eff:fe00:0/112' in nets
    members = _set(render_ruleset(TENANT_MEMBERSHIP), f"rg6_{DEFAULT_SG}")
    assert {"2001:db8:1:0:f816:3eff:fe00:2", "2001:db8:1:0:f816:3eff:fe00:3"} <= set(members)


def test_nd_targets_are_raw_128_bit_values_and_ranges() -> None:
    text = render_ruleset(TENANT)
    targets, ranges = _set(text, "nd_targets"), _set(text, "nd_target_nets")
    assert '"tap2b3c4d5e-6f" . 0x20010db800010000f8163efffe000002' in targets
    assert (
        '"tap1a2b3c4d-5e" . 0x20010db8000180000000000000000000-0x20010db8000180007fffffffffffffff'
        in ranges
    )
    assert not any("-0x" in e for e in targets)
    assert '"tap1a2b3c4d-5e" . 0xfa163eaaaaaa' in _set(render_ruleset(TENANT), "nd_lla")


def test_upstream_routers_are_allowed_per_guarded_port() -> None:
    assert _set(render_ruleset(PROVIDER_STATELESS), "ra_upstream") == [
        '"tap5e6f7081-92" . fe80::1',
        '"tap5e6f7081-92" . fe80::2',
    ]


def test_set_updates_are_element_lines_only() -> None:
    assert sets_only_changed(TENANT, TENANT_MEMBERSHIP)
    lines = render_set_updates(TENANT, TENANT_MEMBERSHIP).splitlines()
    assert all(
        re.match(r"(add|delete) element (bridge|inet) v6fabric \S+ \{ .+ \}$", x) for x in lines
    )
    deletes = [i for i, line in enumerate(lines) if line.startswith("delete")]
    assert deletes == list(range(len(deletes))), "deletes first: a re-added prefix may overlap"
    assert (
        f"add element inet v6fabric rg6_{DEFAULT_SG} {{ 2001:db8:1:0:f816:3eff:fe00:3 }}" in lines
    )
    assert "add element inet v6fabric rg4_" + DEFAULT_SG + " { 10.0.0.13 }" in lines


def test_no_change_no_update() -> None:
    assert render_set_updates(TENANT, TENANT) == ""
    reordered = dataclasses.replace(TENANT, ports=TENANT.ports[::-1])
    assert render_set_updates(TENANT, reordered) == ""


@pytest.mark.parametrize(
    "change",
    [
        "rule",
        "port security",
        "new port in a new profile",
        "group of a port",
    ],
)
def test_structural_changes_need_the_full_ruleset(change: str) -> None:
    spec = TENANT
    if change == "rule":
        group = dataclasses.replace(
            spec.security_groups[1], rules=spec.security_groups[1].rules[1:]
        )
        new = dataclasses.replace(spec, security_groups=(spec.security_groups[0], group))
    elif change == "port security":
        port = dataclasses.replace(spec.ports[1], port_security=False)
        new = dataclasses.replace(spec, ports=(spec.ports[0], port, *spec.ports[2:]))
    elif change == "new port in a new profile":
        port = dataclasses.replace(spec.ports[1], port_id="new", tap="tapnew", security_groups=())
        new = dataclasses.replace(spec, ports=(*spec.ports, port))
    else:
        port = dataclasses.replace(spec.ports[1], security_groups=(WEB_SG,))
        new = dataclasses.replace(spec, ports=(spec.ports[0], port, *spec.ports[2:]))
    assert not sets_only_changed(spec, new)
    with pytest.raises(ValueError, match="render_ruleset"):
        render_set_updates(spec, new)


# --- remote groups: member buckets --------------------------------------------------------------


def _members(count: int) -> list[str]:
    """``count`` host members, spelled as ``ipaddress`` spells them (without its cost)."""
    return [f"2001:db8:{1 + (i >> 16):x}:{i & 0xFFFF:x}:1::1/128" for i in range(count)]


def _with_group(group: RemoteGroup) -> FirewallSpec:
    return dataclasses.replace(TENANT, remote_groups=(group,))


def _joined(group: RemoteGroup, cidr: str) -> RemoteGroup:
    """``group`` with ``cidr`` in its bucket: every other bucket the very same object (a delta)."""
    buckets = {b.key: b for b in group.buckets}
    old = buckets.get(member_bucket(cidr), MemberBucket(member_bucket(cidr)))
    buckets[old.key] = MemberBucket(old.key, (*old.ipv6, cidr), old.ipv4)
    return RemoteGroup(group.group_id, tuple(buckets.values()))


def test_one_member_of_100000_joining_or_leaving_is_one_element_line() -> None:
    group = RemoteGroup.of(DEFAULT_SG, ipv6=_members(100_000))
    assert len(group.buckets) == 256
    joined = _joined(group, "2001:db8:fb:2::1/128")  # ~390 members in its bucket
    before, after = _with_group(group), _with_group(joined)
    where = f"inet v6fabric rg6_{DEFAULT_SG}"
    assert render_update(before, after) == f"add element {where} {{ 2001:db8:fb:2::1 }}\n"
    assert render_update(after, before) == f"delete element {where} {{ 2001:db8:fb:2::1 }}\n"


def test_unchanged_buckets_are_skipped_by_identity_or_value_unread() -> None:
    # Members no renderer would take: reading any of them would raise.
    unreadable = [MemberBucket(k, (f"bucket {k} is never read",)) for k in range(1, 256)]
    group = RemoteGroup(DEFAULT_SG, (MemberBucket(0), *unreadable))
    cidr = next(m for m in _members(1000) if member_bucket(m) == 0)
    joined = RemoteGroup(DEFAULT_SG, (MemberBucket(0, (cidr,)), *unreadable))  # the same objects
    copies = [MemberBucket(b.key, tuple(b.ipv6)) for b in unreadable]  # equal, not the same
    copied = RemoteGroup(DEFAULT_SG, (MemberBucket(0, (cidr,)), *copies))
    element = cidr.removesuffix("/128")
    for new in (joined, copied):
        assert render_update(_with_group(group), _with_group(new)) == (
            f"add element inet v6fabric rg6_{DEFAULT_SG} {{ {element} }}\n"
        )
    with pytest.raises(ValueError):
        render_ruleset(_with_group(joined))  # a whole render reads them all


def test_a_new_prefix_member_replaces_the_one_it_holds_across_buckets() -> None:
    (group,) = TENANT.remote_groups
    wider = RemoteGroup.of(DEFAULT_SG, ipv6=(*group.ipv6, "2001:db8:1::/48"), ipv4=group.ipv4)
    update = render_update(TENANT, _with_group(wider)).splitlines()
    where = f"inet v6fabric rg6n_{DEFAULT_SG}"
    assert update == [
        f"delete element {where} {{ 2001:db8:1:8000::/65 }}",
        f"add element {where} {{ 2001:db8:1::/48 }}",
    ]


@pytest.mark.parametrize(
    "members",
    [
        ("2001:DB8::5/128",),  # the bucket is a function of the text: one spelling only
        ("2001:db8::5",),
        ("2001:db8:0::/64",),
    ],
)
def test_members_spelled_otherwise_than_ipaddress_are_refused(members: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="spelled"):
        render_ruleset(_with_group(RemoteGroup.of(DEFAULT_SG, ipv6=members)))


def test_a_member_in_another_bucket_than_its_own_is_refused() -> None:
    cidr = "2001:db8::5/128"
    stray = MemberBucket((member_bucket(cidr) + 1) % 256, (cidr,))
    with pytest.raises(ValueError, match="not in bucket"):
        render_ruleset(_with_group(RemoteGroup(DEFAULT_SG, (stray,))))


# --- determinism --------------------------------------------------------------------------------


def test_equal_states_are_equal_values_and_render_alike() -> None:
    shuffled = FirewallSpec(
        networks=TENANT.networks,
        ports=tuple(
            dataclasses.replace(p, allowed=p.allowed[::-1], security_groups=p.security_groups[::-1])
            for p in TENANT.ports[::-1]
        ),
        security_groups=tuple(
            dataclasses.replace(g, rules=g.rules[::-1]) for g in TENANT.security_groups[::-1]
        ),
        remote_groups=tuple(
            RemoteGroup.of(g.group_id, ipv6=g.ipv6[::-1], ipv4=g.ipv4[::-1])
            for g in TENANT.remote_groups[::-1]
        ),
    )
    assert shuffled == TENANT and hash(shuffled) == hash(TENANT)
    assert render_ruleset(shuffled) == render_ruleset(TENANT) == render_ruleset(TENANT)


def test_mac_case_and_address_spelling_do_not_change_the_output() -> None:
    port = TENANT.ports[1]
    upper = dataclasses.replace(
        port,
        mac=port.mac.upper(),
        allowed=(AllowedAddress("2001:DB8:1:0:F816:3EFF:FE00:2/128", port.mac.upper()),),
    )
    spec = dataclasses.replace(TENANT, ports=(TENANT.ports[0], upper, *TENANT.ports[2:]))
    assert render_ruleset(spec) == render_ruleset(TENANT)


# --- security group rules -----------------------------------------------------------------------


def _group_rule(**fields: object) -> str:
    rule = SecurityGroupRule(**{"direction": "ingress", "ethertype": "IPv6", **fields})  # type: ignore[arg-type]
    spec = dataclasses.replace(
        TENANT, security_groups=(TENANT.security_groups[0], SecurityGroup(WEB_SG, rules=(rule,)))
    )
    return _chain(render_ruleset(spec), f"sg_{WEB_SG}_{rule.direction}")[0]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "meta nfproto ipv6 accept"),
        ({"ethertype": "IPv4"}, "meta nfproto ipv4 accept"),
        ({"protocol": 6}, "meta nfproto ipv6 meta l4proto tcp accept"),
        ({"protocol": 6, "port_min": 22, "port_max": 22}, "meta nfproto ipv6 tcp dport 22 accept"),
        (
            {"protocol": 17, "port_min": 1000, "port_max": 2000},
            "meta nfproto ipv6 udp dport 1000-2000 accept",
        ),
        ({"protocol": 132, "port_min": 5}, "meta nfproto ipv6 sctp dport 5 accept"),
        ({"protocol": 112}, "meta nfproto ipv6 meta l4proto 112 accept"),
        ({"protocol": 58}, "meta nfproto ipv6 meta l4proto 58 accept"),
        ({"protocol": 58, "icmp_type": 128}, "meta nfproto ipv6 icmpv6 type 128 accept"),
        (
            {"protocol": 58, "icmp_type": 1, "icmp_code": 4},
            "meta nfproto ipv6 icmpv6 type 1 icmpv6 code 4 accept",
        ),
        (
            {"ethertype": "IPv4", "protocol": 1, "icmp_type": 8},
            "meta nfproto ipv4 icmp type 8 accept",
        ),
        ({"remote_prefix": "2001:db8::/32"}, "ip6 saddr 2001:db8::/32 accept"),
        (
            {"remote_prefix": "2001:db8::1/128", "direction": "egress"},
            "ip6 daddr 2001:db8::1 accept",
        ),
        ({"ethertype": "IPv4", "remote_prefix": "10.0.0.0/8"}, "ip saddr 10.0.0.0/8 accept"),
        ({"remote_group": DEFAULT_SG}, f"ip6 saddr @rg6_{DEFAULT_SG} accept"),
        (
            {"remote_group": DEFAULT_SG, "direction": "egress", "ethertype": "IPv4"},
            f"ip daddr @rg4_{DEFAULT_SG} accept",
        ),
        ({"rule_id": "0a1b-2c3d"}, 'meta nfproto ipv6 accept comment "rule 0a1b-2c3d"'),
    ],
)
def test_group_rules(fields: dict[str, object], expected: str) -> None:
    assert _group_rule(**fields) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"direction": "in"},
        {"ethertype": "ipv6"},
        {"protocol": 256},
        {"protocol": -1},
        {"port_min": 22},  # ports without a protocol
        {"protocol": 58, "port_min": 22},  # ICMP has no ports
        {"protocol": 47, "port_min": 1},
        {"protocol": 6, "port_min": 0},
        {"protocol": 6, "port_min": 10, "port_max": 9},
        {"protocol": 6, "port_min": 1, "port_max": 65536},
        {"protocol": 6, "icmp_type": 1},  # ICMP type on TCP
        {"protocol": 58, "icmp_code": 1},  # code without type
        {"protocol": 58, "icmp_type": 256},
        {"protocol": 1},  # icmp (v4) with IPv6
        {"ethertype": "IPv4", "protocol": 58},
        {"icmp_type": 1},
        {"remote_prefix": "10.0.0.0/8"},  # family mismatch
        {"remote_prefix": "2001:db8::1/64"},  # host bits
        {"remote_prefix": "2001:db8::/64; accept"},
        {"remote_prefix": "2001:db8::/64", "remote_group": DEFAULT_SG},
        {"remote_group": "no-such-group"},
        {"rule_id": 'x" drop'},
        {"rule_id": "with space"},
    ],
)
def test_group_rules_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _group_rule(**fields)


# --- names and addresses ------------------------------------------------------------------------

_PORT = TENANT.ports[1]


@pytest.mark.parametrize(
    "port",
    [
        dataclasses.replace(_PORT, tap='tap" drop'),
        dataclasses.replace(_PORT, tap="tap with space"),
        dataclasses.replace(_PORT, tap="tap0123456789abcdef"),  # longer than 15
        dataclasses.replace(_PORT, tap="tap\n}"),
        dataclasses.replace(_PORT, mac="fa:16:3e:00:00"),
        dataclasses.replace(_PORT, mac='fa:16:3e:00:00:02" }'),
        dataclasses.replace(_PORT, role="switch"),
        dataclasses.replace(_PORT, network_id="unknown"),
        dataclasses.replace(_PORT, security_groups=("unknown",)),
        dataclasses.replace(_PORT, allowed=(AllowedAddress("2001:db8::1/64", _PORT.mac),)),
        dataclasses.replace(_PORT, allowed=(AllowedAddress("2001:db8::/64", "not-a-mac"),)),
        dataclasses.replace(_PORT, allowed=(AllowedAddress("2001:db8::/64 }", _PORT.mac),)),
        dataclasses.replace(_PORT, tap=TENANT.ports[0].tap),  # shared tap
    ],
)
def test_bad_ports_are_refused(port: FirewallPort) -> None:
    spec = dataclasses.replace(TENANT, ports=(TENANT.ports[0], port, *TENANT.ports[2:]))
    with pytest.raises(ValueError):
        render_ruleset(spec)


@pytest.mark.parametrize(
    "networks",
    [
        (FirewallNetwork(NET_A, 'v6b-x" }', 1),),
        (FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 0),),
        (FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 65536),),
        (FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 1, ra_sources=("2001:db8::1",)),),
        (FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 1, ra_sources=("fe80::1 }",)),),
        (FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 1), FirewallNetwork("other", "v6b-other", 1)),
        (
            FirewallNetwork(NET_A, "v6b-3f1c2b9a-5d", 1),
            FirewallNetwork("other", "v6b-3f1c2b9a-5d", 2),
        ),
    ],
)
def test_bad_networks_are_refused(networks: tuple[FirewallNetwork, ...]) -> None:
    with pytest.raises(ValueError):
        render_ruleset(dataclasses.replace(TENANT, networks=networks))


@pytest.mark.parametrize(
    "groups",
    [
        {"security_groups": (SecurityGroup('sg"; flush ruleset'),)},
        {"security_groups": (SecurityGroup("sg with space"),)},
        {"security_groups": (SecurityGroup("-leading"),)},
        {"remote_groups": (RemoteGroup.of("rg\n"),)},
        {"remote_groups": (RemoteGroup.of("rg", ipv6=("10.0.0.1/32",)),)},
        {"remote_groups": (RemoteGroup.of("rg", ipv4=("2001:db8::1/128",)),)},
        {"remote_groups": (RemoteGroup.of("rg", ipv6=("2001:db8::1/64",)),)},
    ],
)
def test_bad_group_ids_and_members_are_refused(groups: dict[str, tuple[object, ...]]) -> None:
    (field, extra) = next(iter(groups.items()))
    spec = dataclasses.replace(TENANT, **{field: (*getattr(TENANT, field), *extra)})
    with pytest.raises(ValueError):
        render_ruleset(spec)
