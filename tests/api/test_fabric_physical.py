"""Hosts' physical network mappings: registered and checked, compiled into flat networks'
bridges, and a bind refused on a host without an interface on the network's physical network."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error
from v6fabric.hoststate.codec import decode
from v6fabric.hoststate.model import HostState


def _register(api: Api, host: str, mappings: object | None) -> None:
    capabilities = {} if mappings is None else {"physical_networks": mappings}
    body = {"roles": ["compute"], "capabilities": capabilities}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


def _flat(api: Api) -> dict[str, Any]:
    net = api.network(
        "admin",
        **{"provider:network_type": "flat", "provider:physical_network": "physnet1"},
    )
    api.subnet(
        net["id"], "2001:db8:3::/64", "admin", ipv6_address_mode="slaac", gateway_ip="fe80::1"
    )
    return net


def _bind(api: Api, host: str, port: dict) -> Any:
    body = {"workload": {"name": f"vm-{host}", "host": host, "port_ids": [port["id"]]}}
    return api.post("/fabric/v1/workloads", body, "admin")


def _state(api: Api, host: str) -> HostState:
    return decode(api.get(f"/fabric/v1/hosts/{host}/state", "admin").content)


def test_the_mappings_are_checked_and_a_bad_one_changes_nothing(api: Api) -> None:
    for bad in (
        ["physnet1", "eth1"],
        {"physnet1": "a-name-longer-than-15"},
        {"physnet1": "eth/1"},
        {"physnet1": "eth 1"},
        {"physnet1": ""},
        {"physnet1": 1},
        {"": "eth1"},
        {"physnet1": "eth1", "physnet2": "eth1"},  # one interface, two physical networks
    ):
        body = {"roles": ["compute"], "capabilities": {"physical_networks": bad}}
        assert_error(api.put("/fabric/v1/hosts/h9", body, "admin"), 400, "HTTPBadRequest")
        assert api.get("/fabric/v1/hosts/h9", "admin").status_code == 404
    _register(api, "h9", {"physnet1": "eth1"})
    host = api.get("/fabric/v1/hosts/h9", "admin").json()["host"]
    assert host["capabilities"]["physical_networks"] == {"physnet1": "eth1"}


def test_a_flat_network_gets_each_hosts_own_interface(api: Api) -> None:
    _register(api, "h1", {"physnet1": "eth1"})
    _register(api, "h2", {"physnet1": "ens4", "physnet2": "ens5"})
    net = _flat(api)
    for host in ("h1", "h2"):
        assert _bind(api, host, api.port(net["id"], "admin")).status_code == 201
    for host, iface in (("h1", "eth1"), ("h2", "ens4")):
        (spec,) = _state(api, host).networks
        assert (spec.network_id, spec.physical_interface, spec.overlay) == (net["id"], iface, None)
    _register(api, "h1", {"physnet1": "eth7"})  # the agent came back with another mapping
    (spec,) = _state(api, "h1").networks
    assert spec.physical_interface == "eth7"


def test_binding_to_a_host_without_the_physical_network_fails_and_changes_nothing(
    api: Api,
) -> None:
    _register(api, "other", {"physnet2": "eth2"})
    _register(api, "quiet", None)  # reported no mappings at all: not refused
    net = _flat(api)
    port = api.port(net["id"], "admin")
    r = _bind(api, "other", port)
    assert_error(r, 409, "PortBindingFailed")
    assert "it has no interface on physical network physnet1" in r.json()["NeutronError"]["message"]
    now = api.get(f"/v2.0/ports/{port['id']}", "admin").json()["port"]
    assert now["binding:host_id"] == ""
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": "other"}}, "admin")
    assert_error(r, 409, "PortBindingFailed")
    assert _bind(api, "quiet", port).status_code == 201
