"""Unit tests for ``v6fabric.compiler``: links, workloads, placement and routers.

The wire-dict factories here are shared by the other ``test_compiler_*`` modules. They build
dicts as the API returns them to an admin, so the tests feed the compiler the real shape.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from v6fabric.compiler import Snapshot, compile_host
from v6fabric.hoststate.model import (
    NamespaceSpec,
    NetworkSpec,
    PortSpec,
    RouteSpec,
    WorkloadInterface,
)

NET_HOST = "net1"
COMPUTE = "compute1"
OTHER = "compute2"

STATEFUL = "dhcpv6-stateful"
STATELESS = "dhcpv6-stateless"
SLAAC = "slaac"


def uid(kind: str, number: int) -> str:
    """A readable UUID whose first 11 characters differ for every (kind, number)."""
    return str(uuid.UUID(f"{kind[0].encode().hex()}{number:06x}" + "0" * 23 + "1"))


def mac(number: int) -> str:
    return f"fa:16:3e:00:{number >> 8:02x}:{number & 0xFF:02x}"


def network(number: int, *, mtu: int = 1500, admin_state_up: bool = True) -> dict[str, Any]:
    return {
        "id": uid("n", number),
        "name": f"net{number}",
        "tenant_id": "p1",
        "project_id": "p1",
        "mtu": mtu,
        "admin_state_up": admin_state_up,
        "shared": False,
        "router:external": False,
        "provider:network_type": "vxlan",
        "provider:physical_network": None,
        "provider:segmentation_id": 1000 + number,
        "status": "ACTIVE",
        "subnets": [],
    }


def subnet(
    number: int,
    net: dict[str, Any],
    cidr: str,
    *,
    ra: str | None = None,
    addr: str | None = None,
    gateway_ip: str | None = "auto",
    enable_dhcp: bool = True,
    dns: list[str] | None = None,
    host_routes: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    version = 6 if ":" in cidr else 4
    if gateway_ip == "auto":
        gateway_ip = str(ipaddress.ip_network(cidr).network_address + 1)
    return {
        "id": uid("s", number),
        "name": f"sub{number}",
        "network_id": net["id"],
        "ip_version": version,
        "cidr": cidr,
        "gateway_ip": gateway_ip,
        "enable_dhcp": enable_dhcp,
        "ipv6_ra_mode": ra,
        "ipv6_address_mode": addr,
        "dns_nameservers": dns or [],
        "host_routes": host_routes or [],
        "allocation_pools": [],
        "subnetpool_id": None,
    }


def port(
    number: int,
    net: dict[str, Any],
    *ips: tuple[dict[str, Any], str],
    owner: str = "compute:nova",
    device_id: str = "",
    host: str = COMPUTE,
    admin_state_up: bool = True,
) -> dict[str, Any]:
    return {
        "id": uid("p", number),
        "name": "",
        "network_id": net["id"],
        "mac_address": mac(number),
        "fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip} for sub, ip in ips],
        "device_owner": owner,
        "device_id": device_id or (uid("w", number) if owner.startswith("compute") else ""),
        "admin_state_up": admin_state_up,
        "binding:host_id": host,
        "binding:vnic_type": "normal",
        "port_security_enabled": True,
        "status": "DOWN",
    }


def dhcp_port(number: int, net: dict[str, Any], *ips: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return port(number, net, *ips, owner="network:dhcp", host=NET_HOST)


def router_port(
    number: int,
    rtr: dict[str, Any],
    net: dict[str, Any],
    *ips: tuple[dict[str, Any], str],
    owner: str = "network:router_interface",
) -> dict[str, Any]:
    """An interface of ``rtr``; ``owner``: the one of its mode (a distributed or HA router's)."""
    return port(number, net, *ips, owner=owner, device_id=rtr["id"], host=NET_HOST)


def router(
    number: int, *, admin_state_up: bool = True, routes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "id": uid("r", number),
        "name": f"router{number}",
        "admin_state_up": admin_state_up,
        "routes": routes or [],
        "external_gateway_info": None,
        "status": "ACTIVE",
    }


def workload(number: int, *ports: dict[str, Any], host: str = COMPUTE) -> dict[str, Any]:
    return {
        "id": uid("w", number),
        "name": f"vm{number}",
        "host": host,
        "port_ids": [p["id"] for p in ports],
    }


def snapshot(**kwargs: Any) -> Snapshot:
    kwargs.setdefault("network_hosts", (NET_HOST,))
    return Snapshot.build(**kwargs)


def by_id(state_items: tuple, attribute: str, value: str) -> Any:
    (found,) = [item for item in state_items if getattr(item, attribute) == value]
    return found


# --- a small world: one network with a dual-stack subnet pair, a router and two computes ---

N1 = network(1, mtu=1450)
S4 = subnet(1, N1, "10.0.1.0/24", dns=["10.0.0.53"])
S6 = subnet(2, N1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, dns=["2001:db8::53"])
R1 = router(1, routes=[{"destination": "2001:db8:99::/48", "nexthop": "2001:db8:1::fe"}])
QR = router_port(10, R1, N1, (S4, "10.0.1.1"), (S6, "2001:db8:1::1"))
NS = dhcp_port(11, N1, (S4, "10.0.1.2"), (S6, "2001:db8:1:0:f816:3eff:fe00:b"))
VM_A = port(20, N1, (S4, "10.0.1.20"), (S6, "2001:db8:1:0:f816:3eff:fe00:14"))
VM_B = port(21, N1, (S4, "10.0.1.21"), host=OTHER)
W_A = workload(1, VM_A)
W_B = workload(2, VM_B, host=OTHER)
WORLD = snapshot(
    revision=7,
    networks=[N1],
    subnets=[S4, S6],
    ports=[QR, NS, VM_A, VM_B],
    routers=[R1],
    workloads=[W_A, W_B],
)


def test_snapshot_build_defaults_and_tuples():
    snap = Snapshot.build(networks=[N1])
    assert snap.networks == (N1,)
    assert (snap.subnets, snap.ports, snap.routers, snap.workloads) == ((), (), (), ())
    assert snap.network_hosts == () and snap.network_host is None and snap.dns_domain is None
    assert Snapshot.build(network_hosts=["a", "b"]).network_host == "a"


def test_revision_and_host_are_copied():
    state = compile_host(WORLD, COMPUTE)
    assert (state.host, state.revision) == (COMPUTE, 7)


def test_compute_host_gets_only_its_workload_ports_bridges_and_workloads():
    state = compile_host(WORLD, COMPUTE)
    assert state.ports == (
        PortSpec(
            port_id=VM_A["id"],
            network_id=N1["id"],
            kind="workload",
            tap="tap" + VM_A["id"][:11],
            mac=VM_A["mac_address"],
            mtu=1450,
        ),
    )
    assert state.networks == (NetworkSpec(N1["id"], "v6b-" + N1["id"][:11], 1450),)
    assert (state.namespaces, state.radvd, state.dnsmasq) == ((), (), ())
    (wl,) = state.workloads
    assert (wl.workload_id, wl.name, wl.namespace) == (W_A["id"], "vm1", "v6w-" + W_A["id"])
    assert wl.interfaces == (
        WorkloadInterface(VM_A["id"], "eth0", "tap" + VM_A["id"][:11], VM_A["mac_address"], 1450),
    )


def test_other_compute_gets_its_own_port_and_workload():
    state = compile_host(WORLD, OTHER)
    assert [p.port_id for p in state.ports] == [VM_B["id"]]
    assert [w.workload_id for w in state.workloads] == [W_B["id"]]


def test_unknown_host_gets_an_empty_state():
    state = compile_host(WORLD, "nobody")
    assert state.ports == state.networks == state.workloads == state.namespaces == ()
    assert compile_host(WORLD, "").ports == ()


def test_network_host_gets_dhcp_and_router_ports_with_addresses():
    state = compile_host(WORLD, NET_HOST)
    qr = by_id(state.ports, "port_id", QR["id"])
    assert qr == PortSpec(
        port_id=QR["id"],
        network_id=N1["id"],
        kind="router",
        tap="tap" + QR["id"][:11],
        mac=QR["mac_address"],
        mtu=1450,
        namespace="v6r-" + R1["id"],
        ifname="qr-" + QR["id"][:11],
        addresses=("10.0.1.1/24", "2001:db8:1::1/64"),
    )
    ns = by_id(state.ports, "port_id", NS["id"])
    assert (ns.kind, ns.namespace, ns.ifname) == ("dhcp", "v6d-" + N1["id"], "ns-" + NS["id"][:11])
    assert ns.addresses == ("10.0.1.2/24", "2001:db8:1:0:f816:3eff:fe00:b/64")
    # the workload port bound to a compute host is not on the network host
    assert {p.port_id for p in state.ports} == {QR["id"], NS["id"]}
    assert state.networks == (NetworkSpec(N1["id"], "v6b-" + N1["id"][:11], 1450),)
    assert state.workloads == ()


def test_network_host_namespaces_and_router_routes():
    state = compile_host(WORLD, NET_HOST)
    assert state.namespaces == tuple(
        sorted(
            [
                NamespaceSpec(name="v6d-" + N1["id"]),
                NamespaceSpec(
                    name="v6r-" + R1["id"],
                    forwarding=True,
                    routes=(RouteSpec("2001:db8:99::/48", gateway="2001:db8:1::fe"),),
                ),
            ],
            key=lambda n: n.name,
        )
    )


def test_dhcp_and_router_ports_follow_placement_not_binding():
    moved = Snapshot.build(
        networks=WORLD.networks,
        subnets=WORLD.subnets,
        ports=WORLD.ports,
        routers=WORLD.routers,
        network_hosts=(OTHER, NET_HOST),
    )
    assert {p.kind for p in compile_host(moved, NET_HOST).ports} == set()
    on_other = compile_host(moved, OTHER)
    assert {p.port_id for p in on_other.ports} == {QR["id"], NS["id"], VM_B["id"]}
    assert len(on_other.namespaces) == 2


def test_no_network_hosts_means_no_namespaces_anywhere():
    bare = Snapshot.build(
        networks=WORLD.networks, subnets=WORLD.subnets, ports=WORLD.ports, routers=WORLD.routers
    )
    for host in (NET_HOST, COMPUTE, OTHER, ""):
        state = compile_host(bare, host)
        assert state.namespaces == state.radvd == state.dnsmasq == ()
        assert all(p.kind == "workload" for p in state.ports)


def test_workload_port_on_the_network_host_is_plumbed_too():
    local = port(30, N1, (S4, "10.0.1.30"), host=NET_HOST)
    snap = snapshot(networks=[N1], subnets=[S4, S6], ports=[QR, NS, local], routers=[R1])
    kinds = {p.port_id: p.kind for p in compile_host(snap, NET_HOST).ports}
    assert kinds == {QR["id"]: "router", NS["id"]: "dhcp", local["id"]: "workload"}


def test_network_owned_ports_bound_to_a_compute_are_not_workload_ports():
    fip = port(31, N1, owner="network:floatingip", host=COMPUTE)
    gw = port(32, N1, owner="network:router_gateway", host=COMPUTE)
    snap = snapshot(networks=[N1], subnets=[S4], ports=[fip, gw, VM_A])
    assert [p.port_id for p in compile_host(snap, COMPUTE).ports] == [VM_A["id"]]


def test_workload_nics_follow_port_order_and_keep_their_position():
    n2 = network(2, mtu=9000)
    p1, p2, p3 = port(41, N1), port(42, n2), port(43, N1)
    wl = workload(5, p3, p1, p2)
    wl["port_ids"].insert(1, uid("p", 99))  # a port that no longer exists
    snap = snapshot(networks=[N1, n2], ports=[p1, p2, p3], workloads=[wl])
    (spec,) = compile_host(snap, COMPUTE).workloads
    assert [(i.port_id, i.ifname, i.mtu) for i in spec.interfaces] == [
        (p3["id"], "eth0", 1450),
        (p1["id"], "eth2", 1450),
        (p2["id"], "eth3", 9000),
    ]


def test_ports_of_unknown_networks_and_unknown_subnets_are_ignored():
    ghost_net = network(9)
    stray = port(50, ghost_net)
    odd = router_port(51, R1, N1, (S4, "10.0.1.1"), (subnet(99, N1, "10.9.0.0/24"), "10.9.0.1"))
    snap = snapshot(networks=[N1], subnets=[S4], ports=[stray, odd], routers=[R1])
    assert compile_host(snap, COMPUTE).ports == ()
    (qr,) = compile_host(snap, NET_HOST).ports
    assert qr.addresses == ("10.0.1.1/24",)


def test_router_admin_down_has_no_namespace_and_its_ports_are_not_plumbed():
    down = dict(R1, admin_state_up=False)
    snap = snapshot(networks=[N1], subnets=[S4, S6], ports=[QR, NS], routers=[down])
    state = compile_host(snap, NET_HOST)
    assert [p.port_id for p in state.ports] == [NS["id"]]
    assert [n.name for n in state.namespaces] == ["v6d-" + N1["id"]]


def test_router_port_of_an_unknown_router_is_ignored():
    snap = snapshot(networks=[N1], subnets=[S4, S6], ports=[QR, NS], routers=[])
    assert [p.port_id for p in compile_host(snap, NET_HOST).ports] == [NS["id"]]


def test_admin_down_port_or_network_is_plumbed_down():
    down_port = dict(VM_A, admin_state_up=False)
    snap = snapshot(networks=[N1], subnets=[S4], ports=[down_port])
    assert compile_host(snap, COMPUTE).ports[0].admin_up is False
    down_net = dict(N1, admin_state_up=False)
    snap = snapshot(networks=[down_net], subnets=[S4], ports=[VM_A, QR], routers=[R1])
    assert compile_host(snap, COMPUTE).ports[0].admin_up is False
    assert compile_host(snap, NET_HOST).ports[0].admin_up is False


def test_several_dhcp_ports_are_all_plumbed_into_one_namespace():
    second = dhcp_port(12, N1, (S4, "10.0.1.3"))
    snap = snapshot(networks=[N1], subnets=[S4], ports=[NS, second, VM_A])
    state = compile_host(snap, NET_HOST)
    assert {p.namespace for p in state.ports} == {"v6d-" + N1["id"]}
    assert len(state.ports) == 2 and len(state.namespaces) == 1
    (dnsmasq,) = state.dnsmasq
    assert dnsmasq.interface == "ns-" + min(NS["id"], second["id"])[:11]
