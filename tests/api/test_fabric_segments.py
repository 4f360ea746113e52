"""GRE and VLAN networks through the API: compiled into hosts' states (a GRE overlay without
forwarding entries; a VLAN's id with the host's interface), and binds refused on a host that
cannot realize them (no GRE in its kernel, no tunnel endpoint, no interface on the physical
network)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error
from v6fabric.hoststate.codec import decode
from v6fabric.hoststate.model import HostState


def _register(api: Api, host: str, capabilities: dict[str, Any]) -> None:
    r = api.put(
        f"/fabric/v1/hosts/{host}", {"roles": ["compute"], "capabilities": capabilities}, "admin"
    )
    assert r.status_code == 200, r.text


def _bind(api: Api, host: str, port: dict) -> Any:
    body = {"workload": {"name": f"vm-{host}", "host": host, "port_ids": [port["id"]]}}
    return api.post("/fabric/v1/workloads", body, "admin")


def _state(api: Api, host: str) -> HostState:
    return decode(api.get(f"/fabric/v1/hosts/{host}/state", "admin").content)


def test_a_gre_network_is_an_overlay_of_kind_gre_with_its_key_and_no_fdb(api: Api) -> None:
    _register(api, "h1", {"underlay": {"ipv4": "198.18.0.1"}})
    _register(api, "h2", {"underlay": {"ipv4": "198.18.0.2"}})
    _register(api, "old", {"underlay": {"ipv4": "198.18.0.3"}, "kernel": {"gre": False}})
    _register(api, "lonely", {"underlay": {"ipv6": "fd00:99::4"}})
    net = api.network("admin", **{"provider:network_type": "gre"})
    api.subnet(net["id"], "2001:db8:1::/64", "admin", ipv6_address_mode="slaac")
    key = api.get(f"/v2.0/networks/{net['id']}", "admin").json()["network"]
    key = key["provider:segmentation_id"]
    for host in ("h1", "h2"):
        assert _bind(api, host, api.port(net["id"], "admin")).status_code == 201
    spec = next(s for s in _state(api, "h2").networks if s.network_id == net["id"])
    assert spec.overlay is not None
    assert (spec.overlay.kind, spec.overlay.vni, spec.overlay.local) == ("gre", key, "198.18.0.2")
    assert spec.overlay.remotes == ("198.18.0.1",)
    assert _state(api, "h2").fdb == ()
    for host, reason in (("old", "no gretap devices"), ("lonely", "no ipv4 tunnel endpoint")):
        r = _bind(api, host, api.port(net["id"], "admin"))
        assert_error(r, 409, "PortBindingFailed")
        assert reason in r.json()["NeutronError"]["message"]


def test_a_vlan_network_gets_its_id_and_each_hosts_interface(api: Api) -> None:
    _register(api, "h1", {"physical_networks": {"physnet1": "eth1"}})
    _register(api, "h2", {"physical_networks": {"physnet2": "eth2"}})
    net = api.network(
        "admin",
        **{
            "provider:network_type": "vlan",
            "provider:physical_network": "physnet1",
            "provider:segmentation_id": 100,
        },
    )
    api.subnet(net["id"], "2001:db8:3::/64", "admin", ipv6_address_mode="slaac")
    assert _bind(api, "h1", api.port(net["id"], "admin")).status_code == 201
    spec = next(s for s in _state(api, "h1").networks if s.network_id == net["id"])
    assert (spec.physical_interface, spec.vlan, spec.overlay) == ("eth1", 100, None)
    r = _bind(api, "h2", api.port(net["id"], "admin"))
    assert_error(r, 409, "PortBindingFailed")
    assert "no interface on physical network physnet1" in r.json()["NeutronError"]["message"]


def test_gre_needs_only_the_tunnel_device_of_the_fabrics_underlay_family(api: Api) -> None:
    """The fabric's overlay is IPv4 here: gretap is what a host needs, ip6gretap is not."""
    net = api.post(
        "/v2.0/networks",
        {"network": {"name": "gre-v4", "provider:network_type": "gre"}},
        "admin",
    ).json()["network"]
    for host, kernel in (("v4only", {"gretap": True, "ip6gretap": False, "gre": False}),
                         ("v6only", {"gretap": False, "ip6gretap": True, "gre": False})):  # fmt: skip
        body = {"roles": ["compute"], "capabilities": {"kernel": kernel}}
        assert api.put(f"/fabric/v1/hosts/{host}", body, "admin").status_code == 200
    ok = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "binding:host_id": "v4only"}}, "admin"
    )
    assert ok.status_code == 201, ok.text
    refused = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "binding:host_id": "v6only"}}, "admin"
    )
    assert refused.status_code == 409, refused.text
    assert "no gretap devices" in refused.json()["NeutronError"]["message"]
