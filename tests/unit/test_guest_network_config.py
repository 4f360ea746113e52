"""network_data.json -> the changes the guest makes: only static networks need any, R8's chosen
address replaces the kernel's SLAAC one and stops autoconf while RA's routes stay, and applying
the same data to the result asks for nothing more."""

from __future__ import annotations

import ipaddress
from typing import Any

from v6fabric.workloads.network_config import (
    AddressChange,
    Plan,
    RouteChange,
    plan,
    static_interface,
    sysctl_keys,
)
from v6fabric.workloads.observe import GuestAddress, GuestInterface, GuestRoute

MAC = "fa:16:3e:00:00:07"
SLAAC_ADDR = "2001:db8:7:0:f816:3eff:fe00:7/64"  # EUI-64 of MAC
CHOSEN = "2001:db8:7::55"
ROUTER_LL = ipaddress.ip_address("fe80::1")
SYSCTLS = {"net.ipv6.conf.eth0.autoconf": "1", "net.ipv6.conf.eth0.optimistic_dad": "1"}


def nic(
    addresses: tuple[tuple[str, frozenset[str]], ...] = (),
    routes: tuple[GuestRoute, ...] = (),
    ifname: str = "eth0",
    mac: str = MAC,
) -> GuestInterface:
    return GuestInterface(
        ifname=ifname,
        mac=mac,
        mtu=1500,
        up=True,
        addresses=tuple(GuestAddress(ipaddress.ip_interface(a), f) for a, f in addresses),
        routes=routes,
    )


def ra_routes(prefix: str = "2001:db8:7::/64") -> tuple[GuestRoute, ...]:
    """What the kernel has from an RA: the on-link prefix and the default route."""
    return (
        GuestRoute(ipaddress.ip_network(prefix), "eth0", None, "ra"),
        GuestRoute(ipaddress.ip_network("::/0"), "eth0", ROUTER_LL, "ra"),
    )


def network_data(*networks: dict[str, Any], mac: str = MAC.upper()) -> dict[str, Any]:
    link = {"id": "tap0", "type": "ovs", "ethernet_mac_address": mac, "mtu": 1500}
    return {"links": [link], "networks": list(networks), "services": []}


def ipv6_static(
    address: str = CHOSEN, netmask: str = "ffff:ffff:ffff:ffff::", **extra: Any
) -> dict:
    routes = [{"network": "::", "netmask": "::", "gateway": "2001:db8:7::1"}]
    return {"id": "network0", "type": "ipv6", "link": "tap0", "ip_address": address,
            "netmask": netmask, "routes": routes, **extra}  # fmt: skip


def test_dynamic_types_need_nothing() -> None:
    kinds = ["ipv6_slaac", "ipv6_dhcpv6-stateless", "ipv6_dhcpv6-stateful", "ipv4_dhcp"]
    data = network_data(*({"id": k, "type": k, "link": "tap0"} for k in kinds))
    got = plan(
        data, [nic(((SLAAC_ADDR, frozenset({"dynamic", "mngtmpaddr"})),), ra_routes())], SYSCTLS
    )
    assert got == Plan() and got.empty and not got.skipped


def test_r8_static_address_replaces_the_slaac_one_and_keeps_the_default_route() -> None:
    slaac = frozenset({"dynamic", "mngtmpaddr"})
    current = nic(((SLAAC_ADDR, slaac),), ra_routes())
    got = plan(network_data(ipv6_static()), [current], SYSCTLS)
    chosen = ipaddress.ip_interface(f"{CHOSEN}/64")
    assert got.sysctls == (("net.ipv6.conf.eth0.autoconf", "0"),)
    assert got.add == (AddressChange("eth0", chosen, optimistic=True),)
    assert got.remove == (AddressChange("eth0", ipaddress.ip_interface(SLAAC_ADDR)),)
    assert got.routes == ()  # the default route comes from RA: never added or replaced here
    assert got.ip_lines() == [
        f"addr add {CHOSEN}/64 dev eth0 optimistic",
        f"addr del {SLAAC_ADDR} dev eth0",
    ]


def test_r8_applied_state_needs_nothing_more() -> None:
    """The state the first plan leads to (static address, SLAAC one gone, autoconf 0)."""
    applied = nic(((f"{CHOSEN}/64", frozenset({"permanent"})),), ra_routes())
    sysctls = {**SYSCTLS, "net.ipv6.conf.eth0.autoconf": "0"}
    assert plan(network_data(ipv6_static()), [applied], sysctls).empty


def test_other_addresses_are_kept() -> None:
    """Only kernel SLAAC addresses inside the static prefix go: not other prefixes' SLAAC
    addresses, not addresses configured by hand or by DHCP."""
    current = nic(
        (
            ("2001:db8:8:0:f816:3eff:fe00:7/64", frozenset({"dynamic", "mngtmpaddr"})),
            ("2001:db8:7::99/64", frozenset({"dynamic"})),
        )
    )
    assert plan(network_data(ipv6_static()), [current], SYSCTLS).remove == ()


def test_ipv6_non_default_routes_are_added_and_the_prefix_may_be_in_the_address() -> None:
    routes = [
        {"network": "::", "netmask": "::", "gateway": "2001:db8:7::1"},
        {"network": "2001:db8:99::", "netmask": "ffff:ffff:ffff::", "gateway": "2001:db8:7::fe"},
    ]
    static = ipv6_static(f"{CHOSEN}/64", netmask="", routes=routes)
    sysctls = {"net.ipv6.conf.eth0.autoconf": "0"}  # and no optimistic DAD on this NIC
    got = plan(network_data(static), [nic((), ra_routes())], sysctls)
    assert got.sysctls == ()
    assert got.add == (AddressChange("eth0", ipaddress.ip_interface(f"{CHOSEN}/64")),)
    assert got.routes == (
        RouteChange(
            "eth0", ipaddress.ip_network("2001:db8:99::/48"), ipaddress.ip_address("2001:db8:7::fe")
        ),
    )
    assert got.ip_lines()[-1] == "route replace 2001:db8:99::/48 via 2001:db8:7::fe dev eth0"


def test_ipv4_static_gets_its_address_and_every_route() -> None:
    static = {"id": "n4", "type": "ipv4", "link": "tap0", "ip_address": "192.0.2.10",
              "netmask": "255.255.255.0",
              "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"}]}  # fmt: skip
    got = plan(network_data(static), [nic()], {})
    assert got.sysctls == ()  # autoconf is IPv6's
    assert got.ip_lines() == [
        "addr add 192.0.2.10/24 dev eth0",
        "route replace 0.0.0.0/0 via 192.0.2.1 dev eth0",
    ]
    done = nic(
        (("192.0.2.10/24", frozenset({"permanent"})),),
        (GuestRoute(ipaddress.ip_network("0.0.0.0/0"), "eth0", ipaddress.ip_address("192.0.2.1")),),
    )
    assert plan(network_data(static), [done], {}).empty


def test_the_interface_is_found_by_mac_and_others_are_skipped() -> None:
    other = nic(ifname="eth1", mac="fa:16:3e:00:00:08")
    data = network_data(ipv6_static(), mac="FA:16:3E:00:00:08")
    got = plan(data, [nic(), other], SYSCTLS)
    assert {a.ifname for a in got.add} == {"eth1"}
    assert got.sysctls == (("net.ipv6.conf.eth1.autoconf", "0"),)
    missing = plan(network_data(ipv6_static(), mac="fa:16:3e:ff:ff:ff"), [nic()], SYSCTLS)
    assert missing.empty and "no interface has the MAC" in missing.skipped[0]
    weird = plan(network_data({"id": "x", "type": "ipv5", "link": "tap0"}), [nic()], SYSCTLS)
    assert weird.empty and "not supported" in weird.skipped[0]
    broken = plan(network_data(ipv6_static(netmask="ffff::ffff")), [nic()], SYSCTLS)
    assert broken.empty and "netmask" in broken.skipped[0]


def test_netmask_forms() -> None:
    assert str(static_interface({"ip_address": "2001:db8::5", "netmask": "64"})) == "2001:db8::5/64"
    assert str(static_interface({"ip_address": "10.1.2.3", "netmask": 20})) == "10.1.2.3/20"
    assert sysctl_keys(["eth0"]) == [
        "net.ipv6.conf.eth0.autoconf",
        "net.ipv6.conf.eth0.optimistic_dad",
    ]
