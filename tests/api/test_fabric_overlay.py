"""Hosts' tunnel endpoints: registered with the host, checked, and compiled into overlays."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error
from v6fabric.hoststate.codec import decode
from v6fabric.hoststate.model import HostState, vxlan_name


def _register(api: Api, host: str, underlay: object, roles: list[str] | None = None) -> None:
    body = {"roles": roles or ["compute"], "capabilities": {"underlay": underlay}}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


def _state(api: Api, host: str) -> HostState:
    return decode(api.get(f"/fabric/v1/hosts/{host}/state", "admin").content)


def test_the_underlay_is_checked_and_a_bad_one_changes_nothing(api: Api) -> None:
    for bad in (
        {"ipv4": "fd00::1"},  # the wrong family
        {"ipv6": "fe80::1"},  # link-local: no other host reaches it
        {"ipv4": "127.0.0.1"},
        {"ipv6": "not an address"},
        {"ipv4": 3232235777},  # a number, not text
        {"ipx": "10.0.0.1"},
        ["10.0.0.1"],
    ):
        body = {"roles": ["compute"], "capabilities": {"underlay": bad}}
        assert_error(api.put("/fabric/v1/hosts/h9", body, "admin"), 400, "HTTPBadRequest")
        assert api.get("/fabric/v1/hosts/h9", "admin").status_code == 404
    _register(api, "h9", {"ipv4": "198.18.0.9", "ipv6": "FD00:99:0::9"})
    host = api.get("/fabric/v1/hosts/h9", "admin").json()["host"]
    assert host["capabilities"]["underlay"] == {"ipv4": "198.18.0.9", "ipv6": "fd00:99::9"}


def test_two_hosts_with_ports_on_one_network_get_its_segment_and_each_others_macs(
    api: Api,
) -> None:
    _register(api, "h1", {"ipv4": "198.18.0.1", "ipv6": "fd00:99::1"}, ["compute", "network"])
    _register(api, "h2", {"ipv4": "198.18.0.2"})
    _register(api, "h3", {"ipv4": "198.18.0.3"})  # no port of the network: not a remote
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    vni = api.get(f"/v2.0/networks/{net['id']}", "admin").json()["network"]
    vni = vni["provider:segmentation_id"]
    ports = {host: api.port(net["id"]) for host in ("h1", "h2")}
    for host, port in ports.items():
        body = {"workload": {"name": f"vm-{host}", "host": host, "port_ids": [port["id"]]}}
        assert api.post("/fabric/v1/workloads", body).status_code == 201
    one, two = _state(api, "h1"), _state(api, "h2")
    device = vxlan_name(net["id"])
    overlay = next(s.overlay for s in two.networks if s.network_id == net["id"])
    assert overlay is not None
    assert (overlay.device, overlay.vni, overlay.local) == (device, vni, "198.18.0.2")
    assert overlay.remotes == ("198.18.0.1",)  # the overlay is IPv4 (the default family)
    assert {(e.device, e.mac, e.remote) for e in two.fdb} >= {
        (device, ports["h1"]["mac_address"], "198.18.0.1")
    }
    assert (device, ports["h2"]["mac_address"], "198.18.0.2") in {
        (e.device, e.mac, e.remote) for e in one.fdb
    }
    assert _state(api, "h3").networks == ()


def _bind(api: Api, host: str, port: dict) -> object:
    body = {"workload": {"name": f"vm-{host}", "host": host, "port_ids": [port["id"]]}}
    return api.post("/fabric/v1/workloads", body)


def _unchanged(api: Api, port: dict) -> None:
    now = api.get(f"/v2.0/ports/{port['id']}", "admin").json()["port"]
    assert (now["binding:host_id"], now["device_id"]) == ("", "")
    assert api.get("/fabric/v1/workloads").json()["workloads"] == []


def test_binding_to_a_host_that_cannot_realize_the_segment_fails_and_changes_nothing(
    api: Api,
) -> None:
    body = {"roles": ["compute"], "capabilities": {"kernel": {"vxlan": False, "bridge": True}}}
    assert api.put("/fabric/v1/hosts/old", body, "admin").status_code == 200
    net = api.network()
    port = api.port(net["id"])
    r = _bind(api, "old", port)
    assert_error(r, 409, "PortBindingFailed")
    assert "host old cannot realize network" in r.json()["NeutronError"]["message"]
    assert "no vxlan devices" in r.json()["NeutronError"]["message"]
    _unchanged(api, port)
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": "old"}}, "admin")
    assert_error(r, 409, "PortBindingFailed")
    _unchanged(api, port)


def test_a_host_without_an_endpoint_cannot_join_a_network_other_hosts_tunnel(api: Api) -> None:
    _register(api, "h1", {"ipv4": "198.18.0.1"})
    _register(api, "lonely", {"ipv6": "fd00:99::7"})  # the overlay is IPv4: no use
    net = api.network()
    assert _bind(api, "h1", api.port(net["id"])).status_code == 201
    port = api.port(net["id"])
    r = _bind(api, "lonely", port)
    assert_error(r, 409, "PortBindingFailed")
    assert "no ipv4 tunnel endpoint" in r.json()["NeutronError"]["message"]
    now = api.get(f"/v2.0/ports/{port['id']}", "admin").json()["port"]
    assert now["binding:host_id"] == ""
    _register(api, "lonely", {"ipv4": "198.18.0.7"})
    assert _bind(api, "lonely", port).status_code == 201
