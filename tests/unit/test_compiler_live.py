"""``compiler.live``: compiling a host from the live inputs, brought forward record by record,
gives exactly what compiling a full read of the store gives, over random histories."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_compiler import SLAAC, network, router, router_port, subnet, uid
from tests.unit.test_compiler import port as client_port
from tests.unit.test_compiler_properties import HOSTS, host_address, snapshots
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.compiler.live import KINDS, LiveInputs
from v6fabric.domain.constants import ROUTER_INTERFACE_OWNERS
from v6fabric.hoststate.firewall import RemoteGroup
from v6fabric.services.router_interfaces import interface_owner

PROPERTY = settings(max_examples=60, deadline=None)
GROUPS = ("sg-a", "sg-b", "sg-c")
ENDPOINTS = ("fd00:99::1", "fd00:99::2", "198.18.0.3")  # hosts' tunnel endpoints (overlays)
PHYSNETS = ("physnet1", "physnet2")  # flat and vlan provider networks' physical networks
IFACES = ("eth1", "eth2")  # hosts' interfaces on them


@st.composite
def with_groups(draw: st.DrawFn, distributed: bool = False) -> Snapshot:
    """A generated snapshot whose compute ports are in groups naming each other as remote;
    ``distributed``: about half the routers that are not HA are distributed (R20)."""
    snap = draw(snapshots())
    groups = []
    for group_id in GROUPS:
        rules = [{"id": f"{group_id}-egress", "direction": "egress", "ethertype": "IPv6"}]
        for remote in draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=2)):
            rules.append(
                {
                    "id": f"{group_id}-from-{remote}",
                    "direction": "ingress",
                    "ethertype": "IPv6",
                    "remote_group_id": remote,
                }
            )
        groups.append({"id": group_id, "stateful": True, "security_group_rules": rules})
    ports = []
    for port in snap.ports:
        port = dict(port)
        if port["device_owner"].startswith("compute"):
            port["security_groups"] = draw(st.lists(st.sampled_from(GROUPS), unique=True))
            port["allowed_address_pairs"] = draw(
                st.sampled_from(
                    [[], [{"ip_address": "2001:db8:ff::/64"}], [{"ip_address": "10.9.9.9"}]]
                )
            )
        elif port["device_owner"] == "network:router_interface":
            # the binding of a router's leg says nothing about where it runs (the scheduler does)
            port["binding:host_id"] = draw(st.sampled_from(["", *HOSTS]))
        ports.append(port)
    routers = []
    for number, wire in enumerate(snap.routers, start=1):  # some have an external gateway
        if not snap.networks or not draw(st.booleans()):
            routers.append(wire)
            continue
        external = draw(st.sampled_from(snap.networks))
        subnets = [s for s in snap.subnets if s["network_id"] == external["id"]]
        chosen = (
            draw(st.lists(st.sampled_from(subnets), unique_by=lambda s: s["id"])) if subnets else []
        )
        leg = client_port(
            8000 + number,
            external,
            *((s, host_address(s, 200 + number)) for s in chosen),
            owner="network:router_gateway",
            device_id=wire["id"],
            host=draw(st.sampled_from(["", *HOSTS])),
        )
        ports.append({**leg, "project_id": ""})
        info = {"network_id": external["id"], "enable_snat": False, "external_fixed_ips": []}
        routers.append({**wire, "external_gateway_info": info})
    routers = [{**r, "ha": True} if draw(st.integers(0, 2)) == 0 else r for r in routers]
    if distributed:
        routers = [
            {**r, "distributed": True} if not r.get("ha") and draw(st.booleans()) else r
            for r in routers
        ]
    ha = {r["id"] for r in routers if r.get("ha")}
    ports = _owned_by_mode(ports, routers)
    router_hosts = draw(placements(snap, ha))
    ha_ports, ha_networks, vrids = draw(ha_legs(routers, router_hosts))
    ports += ha_ports
    endpoints = draw(st.dictionaries(st.sampled_from(HOSTS), st.sampled_from(ENDPOINTS)))
    networks = []
    for net in snap.networks:  # some are flat provider networks on a physical network
        physnet = draw(st.sampled_from([None, *PHYSNETS]))
        if physnet is not None:
            vlan = draw(st.sampled_from([None, 10, 20]))  # flat, or a VLAN of it
            net = {
                **net,
                "provider:network_type": "vlan" if vlan else "flat",
                "provider:physical_network": physnet,
                "provider:segmentation_id": vlan,
            }
        elif draw(st.booleans()):  # GRE instead of VXLAN: taps per remote, no fdb
            net = {**net, "provider:network_type": "gre"}
        networks.append(net)
    physical = draw(
        st.lists(
            st.tuples(st.sampled_from(HOSTS), st.sampled_from(PHYSNETS), st.sampled_from(IFACES)),
            unique_by=lambda item: item[:2],
        )
    )
    return replace(
        snap,
        networks=(*networks, *ha_networks),
        ports=tuple(ports),
        routers=tuple(routers),
        security_groups=tuple(groups),
        tunnel_endpoints=tuple(sorted(endpoints.items())),
        physical_interfaces=tuple(sorted(physical)),
        router_hosts=router_hosts,
        ipv6_gateway=draw(st.sampled_from([None, "fe80::1"])),
        dhcp_hosts=draw(dhcp_placements(snap)),
        ha_vrids=tuple(sorted(vrids.items())),
        ha_advert_interval=draw(st.sampled_from([0.2, 1.0])),
    )


def _owned_by_mode(ports: list[dict[str, Any]], routers: list[dict[str, Any]]) -> list[dict]:
    """Router interfaces with their router's mode's device_owner, as the server gives them (a
    router's mode may differ from one snapshot of a history to the next: the owner with it)."""
    owners = {
        r["id"]: interface_owner(bool(r.get("distributed")), bool(r.get("ha"))) for r in routers
    }
    return [
        {**p, "device_owner": owners[p["device_id"]]}
        if p["device_owner"] in ROUTER_INTERFACE_OWNERS and p["device_id"] in owners
        else p
        for p in ports
    ]


@st.composite
def ha_legs(
    draw: st.DrawFn,
    routers: list[dict[str, Any]],
    router_hosts: tuple[tuple[str, str], ...] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """The HA routers' (issue 7) ``ha-`` ports on one HA network, mostly one per instance host
    (now and then one missing or one on a host without an instance), and their VRIDs (now
    and then none)."""
    ha = [wire for wire in routers if wire.get("ha")]
    if not ha:
        return [], [], {}
    ha_net = {**network(90), "project_id": ""}
    ports, vrids = [], {}
    for number, wire in enumerate(ha, start=1):
        if draw(st.integers(0, 5)):
            vrids[wire["id"]] = number
        hosts = {h for r, h in router_hosts or () if r == wire["id"]}
        if draw(st.integers(0, 3)) == 0:
            hosts ^= {draw(st.sampled_from(HOSTS))}
        for host in sorted(hosts):
            ha_port = client_port(
                9000 + 10 * number + HOSTS.index(host),
                ha_net,
                owner="network:router_ha_interface",
                device_id=wire["id"],
                host=host,
            )
            ports.append({**ha_port, "project_id": ""})
    return ports, [ha_net], vrids


@st.composite
def placements(
    draw: st.DrawFn, snap: Snapshot, ha: set[str] = frozenset()
) -> tuple[tuple[str, str], ...] | None:
    """The L3 scheduler's placement: mostly each router on any host (a compute-only one too)
    or unscheduled, an HA router on up to three, plus now and then a stale row; sometimes none
    at all (every router on the network host)."""
    if draw(st.integers(0, 4)) == 0:
        return None
    found: set[tuple[str, str]] = set()
    for wire in snap.routers:
        if wire["id"] in ha:
            hosts = draw(st.lists(st.sampled_from(HOSTS), unique=True, max_size=3))
            found.update((wire["id"], host) for host in hosts)
            continue
        host = draw(st.sampled_from([*HOSTS, None]))
        if host is not None:
            found.add((wire["id"], host))
    if draw(st.integers(0, 3)) == 0:
        found.add(("gone-router", draw(st.sampled_from(HOSTS))))
    return tuple(sorted(found))


@st.composite
def dhcp_placements(draw: st.DrawFn, snap: Snapshot) -> tuple[tuple[str, str], ...] | None:
    """The DHCP scheduler's placement: mostly each network's DHCP on any host (a compute-only
    one too) or unplaced, now and then a stale row; sometimes none at all (every network's
    DHCP on the network host)."""
    if draw(st.integers(0, 4)) == 0:
        return None
    found = {}
    for wire in snap.networks:
        host = draw(st.sampled_from([*HOSTS, None]))
        if host is not None:
            found[wire["id"]] = host
    if draw(st.integers(0, 3)) == 0:
        found["gone-network"] = draw(st.sampled_from(HOSTS))
    return tuple(sorted(found.items()))


def records(snap: Snapshot, kind: str) -> dict[str, Any]:
    return {wire["id"]: wire for wire in getattr(snap, kind)}


def bring_forward(live: LiveInputs, old: Snapshot | None, new: Snapshot) -> None:
    """What the server does per write: replace the records that differ, drop the gone ones."""
    for kind in KINDS:
        before = records(old, kind) if old is not None else {}
        after = records(new, kind)
        changed: dict[str, Any] = {k: None for k in before if k not in after}
        changed.update({k: v for k, v in after.items() if before.get(k) != v})
        live.update(kind, changed)
    live.revision = new.revision
    live.network_hosts = new.network_hosts
    live.dns_domain = new.dns_domain
    live.tunnel_endpoints = dict(new.tunnel_endpoints)
    live.physical_interfaces = new.physical_interfaces
    live.router_hosts = new.router_hosts
    live.ipv6_gateway = new.ipv6_gateway
    live.dhcp_hosts = None if new.dhcp_hosts is None else dict(new.dhcp_hosts)
    live.ha_vrids = dict(new.ha_vrids)
    live.ha_advert_interval = new.ha_advert_interval


def assert_same_compile(live: LiveInputs, full: Snapshot) -> None:
    for host in (*HOSTS, ""):
        assert compile_host(live.snapshot_for(host), host) == compile_host(full, host), host
        assert compile_host(live.snapshot(), host) == compile_host(full, host), host


@PROPERTY
@given(st.lists(with_groups(distributed=True), min_size=1, max_size=4))
def test_a_host_compiled_from_live_inputs_equals_a_full_compile(history):
    live = LiveInputs()
    previous = None
    for snap in history:
        bring_forward(live, previous, snap)
        assert_same_compile(live, snap)
        previous = snap


def test_one_new_member_rebuilds_one_bucket_and_keeps_the_others():
    live = LiveInputs()
    members = [_member(i) for i in range(2000)]
    live.update("ports", {p["id"]: p for p in members})
    live.update("security_groups", {"sg-a": _group()})
    before = live.snapshot_for("h1").remote_members["sg-a"]
    newcomer = _member(5000)
    live.update("ports", {newcomer["id"]: newcomer})
    after = live.snapshot_for("h1").remote_members["sg-a"]

    assert after == RemoteGroup.of(
        "sg-a", ipv6=[m["fixed_ips"][0]["ip_address"] + "/128" for m in [*members, newcomer]]
    )
    old = {bucket.key: bucket for bucket in before.buckets}
    changed = [b for b in after.buckets if old.get(b.key) is not b]
    assert len(changed) == 1 and "2001:db8::1388/128" in changed[0].ipv6


def test_a_member_leaving_and_a_shared_address_are_counted():
    live = LiveInputs()
    bound, two, three = _member(1), _member(2), _member(3)
    three["fixed_ips"] = two["fixed_ips"]  # two ports standing for one address (a VIP)
    live.update("security_groups", {"sg-a": _group()})
    live.update("ports", {p["id"]: p for p in (bound, two, three)})
    live.update("ports", {two["id"]: None})
    members = live.snapshot_for("h1").remote_members["sg-a"]
    assert sorted(members.ipv6) == ["2001:db8::1/128", "2001:db8::2/128"]
    live.update("ports", {three["id"]: None})
    assert live.snapshot_for("h1").remote_members["sg-a"].ipv6 == ("2001:db8::1/128",)


def test_deleting_a_subnet_names_the_ports_its_cascade_changed():
    live = LiveInputs()
    live.update(
        "ports", {"p1": _member(1), "p2": {**_member(2), "fixed_ips": [], "security_groups": []}}
    )
    assert live.dependents("subnets", ["s1"]) == {"ports": {"p1"}}
    assert live.dependents("security_groups", ["sg-a"])["ports"] == {"p1"}


def _member(number: int) -> dict[str, Any]:
    """An unbound port in sg-a (plus one bound one, h1's, so sg-a is in use there)."""
    return {
        "id": "p1" if number == 1 else f"port-{number}",
        "network_id": "n1",
        "mac_address": "fa:16:3e:00:00:01",
        "device_owner": "compute:nova" if number == 1 else "",
        "binding:host_id": "h1" if number == 1 else "",
        "fixed_ips": [{"subnet_id": "s1", "ip_address": f"2001:db8::{number:x}"}],
        "security_groups": ["sg-a"],
    }


def _group() -> dict[str, Any]:
    rule = {"id": "r1", "direction": "ingress", "ethertype": "IPv6", "remote_group_id": "sg-a"}
    return {"id": "sg-a", "security_group_rules": [rule]}


def test_the_network_host_gets_every_port_of_an_instance_it_answers_for():
    """A workload with a port on a network the network host serves only by a router leg (a
    SLAAC subnet: no dnsmasq) and one on a network it does not serve, bound elsewhere: both
    ports reach its network_data.json, and only through the live inputs' metadata rules."""
    net1, net2 = network(1), network(2)
    slaac = subnet(1, net1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    other = subnet(2, net2, "2001:db8:2::/64", enable_dhcp=False)
    rtr = router(1)
    workload_id = uid("w", 1)
    ports = [
        router_port(1, rtr, net1, (slaac, "2001:db8:1::1")),
        client_port(2, net1, (slaac, "2001:db8:1::2"), device_id=workload_id, host="h2"),
        client_port(3, net2, (other, "2001:db8:2::3"), device_id=workload_id, host="h3"),
    ]
    workload = {
        "id": workload_id,
        "name": "vm",
        "host": "h2",
        "port_ids": [p["id"] for p in ports[1:]],
    }
    full = Snapshot.build(
        revision=1,
        networks=[net1, net2],
        subnets=[slaac, other],
        ports=ports,
        routers=[rtr],
        workloads=[workload],
        network_hosts=("h1",),
    )
    live = LiveInputs()
    bring_forward(live, None, full)
    assert_same_compile(live, full)
    (instance,) = compile_host(live.snapshot_for("h1"), "h1").metadata.instances
    assert len(json.loads(instance.network_data)["links"]) == 2
