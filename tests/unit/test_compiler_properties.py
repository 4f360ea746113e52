"""Properties of ``compile_host`` over small generated snapshots: order independence, purity,
Linux name limits and the internal consistency an agent relies on."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_compiler import (
    SLAAC,
    STATEFUL,
    STATELESS,
    dhcp_port,
    mac,
    network,
    port,
    router,
    router_port,
    subnet,
    uid,
)
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.domain.addresses import eui64_address
from v6fabric.hoststate.codec import content_hash, decode, encode
from v6fabric.hoststate.model import HostState

PROPERTY = settings(max_examples=60, deadline=None)
HOSTS = ("h1", "h2", "h3")
MODES = [None, SLAAC, STATEFUL, STATELESS]
VALID_PAIRS = [
    (ra, addr) for ra in MODES for addr in MODES if ra is None or addr is None or ra == addr
]
MAX_IFNAME = 15  # IFNAMSIZ - 1
MAX_NAMESPACE = 64


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    counter = iter(range(1, 10_000))
    networks = [
        network(
            i,
            mtu=draw(st.sampled_from([1280, 1450, 1500, 9000])),
            admin_state_up=draw(st.sampled_from([True, True, True, False])),
        )
        for i in range(1, draw(st.integers(1, 3)) + 1)
    ]
    subnets: dict[str, list[dict[str, Any]]] = {}
    for i, net in enumerate(networks, start=1):
        subnets[net["id"]] = []
        for j in range(1, draw(st.integers(0, 3)) + 1):
            kind = draw(st.sampled_from(["v4", *VALID_PAIRS]))
            number = 10 * i + j
            if kind == "v4":
                cidr, dns, nexthop = f"10.{i}.{j}.0/24", [f"10.{i}.0.53"], f"10.{i}.{j}.254"
                dest = "10.200.0.0/16"
                sub = subnet(number, net, cidr, dns=draw(st.sampled_from([[], dns])))
            else:
                cidr, nexthop, dest = (
                    f"2001:db8:{i}:{j}::/64",
                    f"2001:db8:{i}:{j}::fe",
                    "2001:db8:ff::/48",
                )
                servers = draw(
                    st.lists(st.sampled_from(["2001:db8::53", "2001:db8::54", "::"]), unique=True)
                )
                sub = subnet(number, net, cidr, ra=kind[0], addr=kind[1], dns=servers)
            sub["host_routes"] = draw(
                st.sampled_from([[], [{"destination": dest, "nexthop": nexthop}]])
            )
            sub["enable_dhcp"] = kind != "v4" or draw(st.booleans())
            subnets[net["id"]].append(sub)

    routers = [
        router(
            i,
            admin_state_up=draw(st.sampled_from([True, True, False])),
            routes=draw(
                st.sampled_from(
                    [[], [{"destination": "2001:db8:fe::/48", "nexthop": "2001:db8:1:1::99"}]]
                )
            ),
        )
        for i in range(1, draw(st.integers(0, 2)) + 1)
    ]
    ports = []
    for net in networks:
        subs = subnets[net["id"]]
        if draw(st.booleans()):
            ports.append(dhcp_port(next(counter), net, *((s, host_address(s, 2)) for s in subs)))
        for rtr in routers:
            if subs and draw(st.booleans()):
                chosen = draw(
                    st.lists(st.sampled_from(subs), min_size=1, unique_by=lambda s: s["id"])
                )
                ports.append(
                    router_port(next(counter), rtr, net, *((s, host_address(s, 1)) for s in chosen))
                )
        for _ in range(draw(st.integers(0, 3))):
            number = next(counter)
            chosen = (
                draw(st.lists(st.sampled_from(subs), unique_by=lambda s: s["id"])) if subs else []
            )
            ports.append(
                port(
                    number,
                    net,
                    *((s, client_address(draw, s, number)) for s in chosen),
                    host=draw(st.sampled_from([*HOSTS, ""])),
                    admin_state_up=draw(st.sampled_from([True, True, False])),
                )
            )
    workload_ports = [p["id"] for p in ports if p["device_owner"].startswith("compute")]
    workloads = [
        {
            "id": uid("w", 500 + i),
            "name": draw(st.sampled_from([f"vm{i}", "Web 1", "", "42"])),
            "host": draw(st.sampled_from(HOSTS)),
            "port_ids": draw(
                st.lists(st.sampled_from([*workload_ports, uid("p", 9999)]), unique=True)
            ),
            "project_id": draw(st.sampled_from(["p1", "p2"])),
            **draw(st.sampled_from(INSTANCE_METADATA)),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    for item in ports:  # a workload's ports name it as their device (most of the time)
        owners = [w["id"] for w in workloads if item["id"] in w["port_ids"]]
        if owners and draw(st.integers(0, 4)):
            item["device_id"] = owners[0]
        item["allowed_address_pairs"] = draw(st.sampled_from(PAIRS))
    return Snapshot.build(
        revision=draw(st.integers(0, 5)),
        networks=networks,
        subnets=[s for subs in subnets.values() for s in subs],
        ports=ports,
        routers=routers,
        workloads=workloads,
        network_hosts=draw(st.sampled_from([(), ("h1",), ("h2", "h1")])),
        dns_domain=draw(st.sampled_from([None, "example.test"])),
    )


INSTANCE_METADATA = [
    {},
    {"user_data": "#cloud-config\n", "public_keys": [{"name": "k", "key": "ssh-ed25519 AAAA"}]},
    {"properties": {"b": "2", "a": "1"}, "public_keys": []},
]
PAIRS = [[], [{"ip_address": "2001:db8:ff::1"}], [{"ip_address": "10.9.9.9/32"}]]


def client_address(draw: st.DrawFn, sub: dict[str, Any], number: int) -> str:
    """A pool address, or on an auto-address subnet sometimes the port's EUI-64 one (R8: both
    are valid, and they reach the guest differently)."""
    auto = {sub.get("ipv6_ra_mode"), sub.get("ipv6_address_mode")} & {SLAAC, STATELESS}
    if auto and draw(st.booleans()):
        return str(eui64_address(ipaddress.IPv6Network(sub["cidr"]), mac(number)))
    return host_address(sub, 100 + number)


def host_address(sub: dict[str, Any], host_part: int) -> str:
    prefix = sub["cidr"].split("/")[0]
    return (
        f"{prefix[: prefix.rfind('.')]}.{host_part}"
        if sub["ip_version"] == 4
        else f"{prefix}{host_part:x}"
    )


def shuffled(draw: st.DrawFn, snap: Snapshot) -> Snapshot:
    def perm(items: tuple) -> list:
        return draw(st.permutations(list(items)))

    ports = []
    for item in perm(snap.ports):
        item = dict(item)
        item["fixed_ips"] = perm(tuple(item["fixed_ips"]))
        ports.append(item)
    return Snapshot.build(
        revision=snap.revision,
        networks=perm(snap.networks),
        subnets=perm(snap.subnets),
        ports=ports,
        routers=perm(snap.routers),
        workloads=perm(snap.workloads),
        network_hosts=snap.network_hosts,
        dns_domain=snap.dns_domain,
    )


def hosts_of(snap: Snapshot) -> tuple[str, ...]:
    return (*HOSTS, "")


@PROPERTY
@given(snapshots(), st.data())
def test_input_order_does_not_matter(snap, data):
    other = shuffled(data.draw, snap)
    for host in hosts_of(snap):
        assert compile_host(other, host) == compile_host(snap, host)


@PROPERTY
@given(snapshots())
def test_compile_is_a_pure_function(snap):
    before = copy.deepcopy(snap)
    for host in hosts_of(snap):
        first, second = compile_host(snap, host), compile_host(snap, host)
        assert first == second
        assert content_hash(first) == content_hash(second)
        assert decode(encode(first)) == first
    assert snap == before  # the input is not mutated


def names(state: HostState) -> tuple[list[str], list[str]]:
    interfaces = [n.bridge for n in state.networks]
    interfaces += [p.tap for p in state.ports] + [p.ifname for p in state.ports if p.ifname]
    interfaces += [i.ifname for r in state.radvd for i in r.interfaces]
    interfaces += [d.interface for d in state.dnsmasq]
    interfaces += [i.ifname for w in state.workloads for i in w.interfaces]
    namespaces = [n.name for n in state.namespaces] + [w.namespace for w in state.workloads]
    namespaces += [p.namespace for p in state.ports if p.namespace]
    return interfaces, namespaces


@PROPERTY
@given(snapshots())
def test_every_name_fits_linux_limits(snap):
    for host in hosts_of(snap):
        interfaces, namespaces = names(compile_host(snap, host))
        assert all(0 < len(name) <= MAX_IFNAME for name in interfaces)
        assert all(0 < len(name) <= MAX_NAMESPACE and "/" not in name for name in namespaces)


@PROPERTY
@given(snapshots())
def test_states_are_consistent_for_an_agent(snap):
    for host in hosts_of(snap):
        state = compile_host(snap, host)
        taps = [p.tap for p in state.ports]
        assert len(taps) == len(set(taps))
        assert {p.network_id for p in state.ports} == {n.network_id for n in state.networks}
        namespaces = {n.name for n in state.namespaces}
        in_namespace = {(p.namespace, p.ifname) for p in state.ports if p.namespace}
        assert {ns for ns, _ in in_namespace} <= namespaces
        for spec in state.radvd:
            assert spec.interfaces
            assert {(spec.namespace, i.ifname) for i in spec.interfaces} <= in_namespace
        for spec in state.dnsmasq:
            assert spec.ranges and (spec.namespace, spec.interface) in in_namespace
        if host != snap.network_host or not host:
            assert namespaces == set() and state.radvd == state.dnsmasq == ()
            assert all(p.kind == "workload" for p in state.ports)
        for workload in state.workloads:
            ifnames = [i.ifname for i in workload.interfaces]
            assert len(ifnames) == len(set(ifnames))
        metadata = state.metadata
        legs = {(item.namespace, item.ifname) for item in metadata.listeners}
        assert legs <= in_namespace
        served = {item.network_id for item in metadata.listeners}
        assert {item.network_id for item in metadata.ports} <= served
        devices = {item.device_id for item in metadata.ports}
        assert {item.instance_id for item in metadata.instances} <= devices
