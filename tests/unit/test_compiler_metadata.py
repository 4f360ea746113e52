"""``compiler.metadata`` and ``compiler.network_data``: the metadata proxy's listeners, the ports
it answers for, and each instance's data with its network_data.json (issue 5, R8, R12)."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_compiler import (
    COMPUTE,
    NET_HOST,
    SLAAC,
    STATEFUL,
    STATELESS,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    snapshot,
    subnet,
    uid,
)
from v6fabric.compiler import compile_host
from v6fabric.compiler.metadata import hostname
from v6fabric.hoststate.metadata import MetadataListener, MetadataPort

N1, N2, N3 = network(1, mtu=1450), network(2), network(3)
V4 = subnet(1, N1, "10.0.1.0/24", dns=["10.0.0.53"])
SL = subnet(2, N1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, dns=["2001:db8::53"])
ST = subnet(3, N1, "2001:db8:2::/64", ra=STATELESS, addr=STATELESS)
SF = subnet(4, N1, "2001:db8:3::/64", ra=STATEFUL, addr=STATEFUL)
ISO = subnet(5, N2, "2001:db8:5::/64", ra=SLAAC, addr=SLAAC)
LEGACY = subnet(6, N3, "2001:db8:6::/64", host_routes=[{"destination": "2001:db8:f::/48", "nexthop": "2001:db8:6::fe"}])  # fmt: skip
STATIC4 = subnet(7, N3, "10.0.3.0/24", enable_dhcp=False, gateway_ip=None)
R1 = router(1)
QR = router_port(10, R1, N1, (V4, "10.0.1.1"), (SL, "2001:db8:1::1"), (ST, "2001:db8:2::1"))
NS1 = dhcp_port(11, N1, (V4, "10.0.1.2"), (SF, "2001:db8:3::2"))
NS2 = dhcp_port(12, N2, (ISO, "2001:db8:5:0:f816:3eff:fe00:c"))
W1 = uid("w", 1)
# eth0 on the routed network: EUI-64 on SLAAC, a chosen address on stateless (R8), stateful
VM1 = {
    **port(
        20,
        N1,
        (V4, "10.0.1.20"),
        (SL, "2001:db8:1:0:f816:3eff:fe00:14"),
        (ST, "2001:db8:2::77"),
        (SF, "2001:db8:3::20"),
        device_id=W1,
    ),
    "project_id": "p1",
    "allowed_address_pairs": [
        {"ip_address": "2001:db8:1::99/128", "mac_address": "fa:16:3e:00:00:99"},
        {"ip_address": "2001:db8:1:8000::/65"},  # a range: not a source the proxy can name
        {"ip_address": "10.0.1.99"},
    ],
}
# eth1 on a network with no DHCP port here: not served, yet in the instance's network_data
VM1_B = port(21, N3, (LEGACY, "2001:db8:6::21"), (STATIC4, "10.0.3.21"), device_id=W1)
VM2 = {**port(22, N2, (ISO, "2001:db8:5::abc"), device_id=uid("w", 2)), "project_id": "p2"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGM me@host"
WORKLOADS = [
    {
        "id": W1,
        "name": "Web Server_1",
        "host": COMPUTE,
        "port_ids": [VM1["id"], VM1_B["id"], uid("p", 999)],
        "project_id": "p1",
        "user_data": "#cloud-config\n",
        "public_keys": [{"name": "me", "key": KEY}],
        "properties": {"role": "web", "a": "1"},
    },
    {"id": uid("w", 2), "name": "42", "host": COMPUTE, "port_ids": [VM2["id"]], "project_id": "p2"},
]


def world(**changes: Any) -> Any:
    kwargs: dict[str, Any] = {
        "networks": [N1, N2, N3],
        "subnets": [V4, SL, ST, SF, ISO, LEGACY, STATIC4],
        "ports": [QR, NS1, NS2, VM1, VM1_B, VM2],
        "routers": [R1],
        "workloads": WORKLOADS,
        "dns_domain": "example.test",
    }
    kwargs.update(changes)
    return snapshot(**kwargs)


def test_listeners_are_dhcp_and_router_legs_on_the_network_host_only():
    spec = compile_host(world(), NET_HOST).metadata
    assert spec.listeners == (
        MetadataListener(f"v6d-{N1['id']}", f"ns-{NS1['id'][:11]}", N1["id"], ipv4=True),
        MetadataListener(f"v6d-{N2['id']}", f"ns-{NS2['id'][:11]}", N2["id"], ipv4=False),
        MetadataListener(f"v6r-{R1['id']}", f"qr-{QR['id'][:11]}", N1["id"], ipv4=True),
    )
    assert compile_host(world(), COMPUTE).metadata == compile_host(world(), "").metadata
    assert compile_host(world(), COMPUTE).metadata.listeners == ()


def test_legs_that_are_down_do_not_listen():
    down_router = {**R1, "admin_state_up": False}
    down_dhcp = {**NS2, "admin_state_up": False}
    spec = compile_host(world(routers=[down_router], ports=[QR, NS1, down_dhcp, VM1]), NET_HOST)
    assert [item.namespace for item in spec.metadata.listeners] == [f"v6d-{N1['id']}"]
    assert [item.port_id for item in spec.metadata.ports] == [VM1["id"]]


def test_ports_hold_every_source_address_they_may_use():
    ports = compile_host(world(), NET_HOST).metadata.ports
    assert [p.port_id for p in ports] == [VM1["id"], VM2["id"]]  # not VM1_B: N3 is not served
    assert ports[0] == MetadataPort(
        port_id=VM1["id"],
        network_id=N1["id"],
        mac="fa:16:3e:00:00:14",
        addresses=(
            "10.0.1.20",
            "10.0.1.99",
            "2001:db8:1::99",
            "2001:db8:1:0:f816:3eff:fe00:14",
            "2001:db8:2::77",
            "2001:db8:3::20",
            "fe80::f816:3eff:fe00:14",
        ),
        device_id=W1,
        project_id="p1",
    )


def test_instances_of_served_ports_with_their_metadata():
    instances = compile_host(world(), NET_HOST).metadata.instances
    assert [i.instance_id for i in instances] == [W1, uid("w", 2)]
    first, second = instances
    assert (first.name, first.hostname, first.project_id) == ("Web Server_1", "web-server-1", "p1")
    assert first.public_keys == (("me", KEY),)
    assert first.user_data == "#cloud-config\n"
    assert first.properties == (("a", "1"), ("role", "web"))
    assert (second.hostname, second.user_data, second.public_keys) == (
        f"host-{uid('w', 2)[:8]}",
        None,
        (),
    )


def test_network_data_types_routes_and_services():
    (first, _) = compile_host(world(), NET_HOST).metadata.instances
    data = json.loads(first.network_data)
    tap0, tap1 = f"tap{VM1['id'][:11]}", f"tap{VM1_B['id'][:11]}"
    assert data["links"] == [
        {
            "id": tap0,
            "vif_id": VM1["id"],
            "type": "bridge",
            "mtu": 1450,
            "ethernet_mac_address": "fa:16:3e:00:00:14",
        },
        {
            "id": tap1,
            "vif_id": VM1_B["id"],
            "type": "bridge",
            "mtu": 1500,
            "ethernet_mac_address": "fa:16:3e:00:00:15",
        },
    ]
    mask64 = "ffff:ffff:ffff:ffff::"
    default_via = [{"network": "::", "netmask": "::", "gateway": "2001:db8:2::1"}]
    assert data["networks"] == [
        {"id": "network0", "type": "ipv4_dhcp", "link": tap0, "network_id": N1["id"]},
        {
            "id": "network1",
            "type": "ipv6_slaac",
            "link": tap0,
            "ip_address": "2001:db8:1:0:f816:3eff:fe00:14",
            "netmask": mask64,
            "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:1::1"}],
            "network_id": N1["id"],
            "services": [{"type": "dns", "address": "2001:db8::53"}],
        },
        {  # R8: a chosen address on a stateless subnet is configured statically
            "id": "network2",
            "type": "ipv6",
            "link": tap0,
            "ip_address": "2001:db8:2::77",
            "netmask": mask64,
            "routes": default_via,
            "network_id": N1["id"],
            "services": [],
        },
        {
            "id": "network3",
            "type": "ipv6_dhcpv6-stateful",
            "link": tap0,
            "ip_address": "2001:db8:3::20",
            "netmask": mask64,
            "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:3::1"}],
            "network_id": N1["id"],
            "services": [],
        },
        {
            "id": "network4",
            "type": "ipv4",
            "link": tap1,
            "ip_address": "10.0.3.21",
            "netmask": "255.255.255.0",
            "routes": [],
            "network_id": N3["id"],
            "services": [],
        },
        {  # no modes: dnsmasq serves it statically, so DHCPv6 stateful
            "id": "network5",
            "type": "ipv6_dhcpv6-stateful",
            "link": tap1,
            "ip_address": "2001:db8:6::21",
            "netmask": mask64,
            "routes": [
                {"network": "::", "netmask": "::", "gateway": "2001:db8:6::1"},
                {
                    "network": "2001:db8:f::",
                    "netmask": "ffff:ffff:ffff::",
                    "gateway": "2001:db8:6::fe",
                },
            ],
            "network_id": N3["id"],
            "services": [],
        },
    ]
    assert data["services"] == [
        {"type": "dns", "address": "10.0.0.53"},
        {"type": "dns", "address": "2001:db8::53"},
    ]


def test_chosen_address_on_slaac_subnet_is_static_and_eui64_is_slaac():
    chosen = {**VM2, "fixed_ips": [{"subnet_id": ISO["id"], "ip_address": "2001:db8:5::abc"}]}
    (second,) = compile_host(world(ports=[NS2, chosen]), NET_HOST).metadata.instances
    (entry,) = json.loads(second.network_data)["networks"]
    assert (entry["type"], entry["ip_address"]) == ("ipv6", "2001:db8:5::abc")
    assert entry["routes"] == [{"network": "::", "netmask": "::", "gateway": "2001:db8:5::1"}]
    eui64 = {**chosen, "fixed_ips": [{"subnet_id": ISO["id"], "ip_address": "2001:db8:5:0:f816:3eff:fe00:16"}]}  # fmt: skip
    (second,) = compile_host(world(ports=[NS2, eui64]), NET_HOST).metadata.instances
    (entry,) = json.loads(second.network_data)["networks"]
    assert entry["type"] == "ipv6_slaac"


def test_ra_mode_only_subnets_follow_the_mode_their_ras_announce():
    ra_only = subnet(8, N2, "2001:db8:8::/64", ra=STATELESS)
    eui = "2001:db8:8:0:f816:3eff:fe00:16"
    vm = {**VM2, "fixed_ips": [{"subnet_id": ra_only["id"], "ip_address": eui}]}
    snap = world(subnets=[ISO, ra_only], ports=[NS2, vm])
    (second,) = compile_host(snap, NET_HOST).metadata.instances
    assert json.loads(second.network_data)["networks"][0]["type"] == "ipv6_dhcpv6-stateless"


def test_ports_not_naming_the_workload_and_unknown_ports_are_left_out():
    moved = {**VM1_B, "device_id": "someone-else"}
    (first, _) = compile_host(
        world(ports=[QR, NS1, NS2, VM1, moved, VM2]), NET_HOST
    ).metadata.instances
    assert [link["vif_id"] for link in json.loads(first.network_data)["links"]] == [VM1["id"]]


def test_workload_owning_no_served_port_is_no_instance():
    spec = compile_host(world(ports=[QR, NS1, VM1_B]), NET_HOST).metadata
    assert spec.instances == () and spec.ports == ()


def test_hostname():
    assert hostname("Web Server_1", "abcdef0123") == "web-server-1"
    assert hostname("--ok--", "abcdef0123") == "ok"
    assert hostname("", "abcdef0123") == "host-abcdef01"
    assert hostname("1234", "abcdef0123") == "host-abcdef01"
    assert hostname("é", "abcdef0123") == "host-abcdef01"
    assert len(hostname("a" * 100, "x")) == 63


def test_ports_without_a_device_are_not_answered_for():
    unplugged = {**VM2, "device_id": ""}
    spec = compile_host(world(ports=[QR, NS1, NS2, VM1, unplugged]), NET_HOST).metadata
    assert [p.port_id for p in spec.ports] == [VM1["id"]]
