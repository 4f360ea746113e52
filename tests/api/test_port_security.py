"""Ports and their security through the API (R13, R15): security_groups, port_security_enabled
(per network and per port), allowed_address_pairs, with Neutron's rules and error texts."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error

UNKNOWN = "6e4d5ec5-0b5d-4c44-a1a5-c8a1a09f0d7e"


def _group(api: Api, name: str = "web", user: str = "alice", **attrs: Any) -> dict[str, Any]:
    r = api.post("/v2.0/security-groups", {"security_group": {"name": name, **attrs}}, user)
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def _default_id(api: Api, user: str = "alice") -> str:
    groups = api.get("/v2.0/security-groups?name=default", user).json()["security_groups"]
    return str(groups[0]["id"])


def _create(api: Api, network_id: str, **attrs: Any) -> Any:
    return api.post("/v2.0/ports", {"port": {"network_id": network_id, **attrs}})


def _update(api: Api, port_id: str, **attrs: Any) -> Any:
    return api.put(f"/v2.0/ports/{port_id}", {"port": attrs})


NO_GROUPS_WITHOUT_SECURITY = (
    "Port security must be enabled and port must have an IP address in order to use security "
    "groups."
)
NO_PAIRS_WITHOUT_SECURITY = (
    "Port Security must be enabled in order to have allowed address pairs on a port."
)
HAS_GROUPS = (
    "Port has security group associated. Cannot disable port security or IP address until "
    "security group is removed."
)


def test_a_port_gets_the_default_group_unless_it_names_its_groups(api: Api) -> None:
    net = api.network()
    port = api.port(net["id"])
    assert port["port_security_enabled"] is True
    assert port["security_groups"] == [_default_id(api)]
    web, db = _group(api), _group(api, "db")
    named = api.port(net["id"], security_groups=[web["id"], db["id"]])
    assert named["security_groups"] == [web["id"], db["id"]]
    assert api.get(f"/v2.0/ports/{named['id']}").json()["port"]["security_groups"] == [
        web["id"],
        db["id"],
    ]
    assert api.port(net["id"], security_groups=[])["security_groups"] == []
    assert api.port(net["id"], security_groups=None)["security_groups"] == []
    listed = api.get(f"/v2.0/ports?security_groups={web['id']}").json()["ports"]
    assert [p["id"] for p in listed] == [named["id"]]


def test_group_changes_on_update(api: Api) -> None:
    net = api.network()
    port = api.port(net["id"])
    web = _group(api)
    r = _update(api, port["id"], security_groups=[web["id"]])
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == [web["id"]]
    assert r.json()["port"]["revision_number"] == 2
    r = _update(api, port["id"], name="kept")
    assert r.json()["port"]["security_groups"] == [web["id"]]


def test_named_groups_must_be_real_distinct_and_alike(api: Api) -> None:
    net = api.network()
    assert_error(
        _create(api, net["id"], security_groups=[UNKNOWN]),
        404,
        "SecurityGroupNotFound",
        f"Security group {UNKNOWN} does not exist",
    )
    assert_error(
        _create(api, net["id"], security_groups="web"),
        400,
        "HTTPBadRequest",
        "Invalid input for security_groups. Reason: 'web' is not a list.",
    )
    web = _group(api)
    assert_error(
        _create(api, net["id"], security_groups=[web["id"], web["id"]]),
        400,
        "HTTPBadRequest",
        f"Invalid input for security_groups. Reason: Duplicate items in the list: '{web['id']}'.",
    )
    stateless = _group(api, "udp-only", stateful=False)
    assert_error(
        _create(api, net["id"], security_groups=[web["id"], stateless["id"]]),
        409,
        "SecurityGroupConflict",
        "Error Cannot apply both stateful and stateless security groups on the same port at the "
        "same time while attempting the operation.",
    )
    assert api.user_ports() == []


def test_port_security_comes_from_the_network_unless_the_port_says(api: Api) -> None:
    open_net = api.network(port_security_enabled=False)
    port = api.port(open_net["id"])
    assert (port["port_security_enabled"], port["security_groups"]) == (False, [])
    secured = api.port(open_net["id"], port_security_enabled=True)
    assert secured["security_groups"] == [_default_id(api)]
    net = api.network()
    bare = api.port(net["id"], port_security_enabled=False)
    assert (bare["port_security_enabled"], bare["security_groups"]) == (False, [])


def test_without_port_security_no_groups_and_no_pairs(api: Api) -> None:
    net = api.network()
    web = _group(api)
    assert_error(
        _create(api, net["id"], port_security_enabled=False, security_groups=[web["id"]]),
        400,
        "PortSecurityAndIPRequiredForSecurityGroups",
        NO_GROUPS_WITHOUT_SECURITY,
    )
    pairs = [{"ip_address": "2001:db8::/64"}]
    assert_error(
        _create(api, net["id"], port_security_enabled=False, allowed_address_pairs=pairs),
        409,
        "AddressPairAndPortSecurityRequired",
        NO_PAIRS_WITHOUT_SECURITY,
    )
    assert api.user_ports() == []


def test_disabling_port_security_needs_the_groups_and_pairs_gone(api: Api) -> None:
    net = api.network()
    port = api.port(net["id"], allowed_address_pairs=[{"ip_address": "2001:db8:9::1"}])
    assert_error(
        _update(api, port["id"], port_security_enabled=False),
        409,
        "AddressPairAndPortSecurityRequired",
        NO_PAIRS_WITHOUT_SECURITY,
    )
    assert_error(
        _update(api, port["id"], port_security_enabled=False, allowed_address_pairs=[]),
        409,
        "PortSecurityPortHasSecurityGroup",
        HAS_GROUPS,
    )
    assert api.get(f"/v2.0/ports/{port['id']}").json()["port"] == port  # nothing changed
    r = _update(
        api, port["id"], port_security_enabled=False, allowed_address_pairs=[], security_groups=[]
    )
    assert r.status_code == 200, r.text
    updated = r.json()["port"]
    assert (updated["port_security_enabled"], updated["security_groups"]) == (False, [])
    assert updated["allowed_address_pairs"] == []
    assert_error(
        _update(api, port["id"], security_groups=[_default_id(api)]),
        400,
        "PortSecurityAndIPRequiredForSecurityGroups",
        NO_GROUPS_WITHOUT_SECURITY,
    )
    # enabling it again does not bring the default group back (as in Neutron)
    again = _update(api, port["id"], port_security_enabled=True).json()["port"]
    assert (again["port_security_enabled"], again["security_groups"]) == (True, [])


def test_allowed_address_pairs(api: Api) -> None:
    net = api.network()
    pairs = [
        {"ip_address": "2001:db8:1::/64"},
        {"ip_address": "2001:db8:2::7", "mac_address": "fa:16:3e:00:00:aa"},
    ]
    port = api.port(net["id"], allowed_address_pairs=pairs)
    assert port["allowed_address_pairs"] == [
        {"ip_address": "2001:db8:1::/64", "mac_address": port["mac_address"]},
        {"ip_address": "2001:db8:2::7", "mac_address": "fa:16:3e:00:00:aa"},
    ]
    assert api.get(f"/v2.0/ports/{port['id']}").json()["port"] == port
    r = _update(api, port["id"], allowed_address_pairs=[{"ip_address": "10.0.0.5"}])
    assert r.json()["port"]["allowed_address_pairs"] == [
        {"ip_address": "10.0.0.5", "mac_address": port["mac_address"]}
    ]
    dup = [{"ip_address": "2001:db8::1"}, {"ip_address": "2001:db8::1"}]
    assert_error(
        _create(api, net["id"], allowed_address_pairs=dup),
        400,
        "DuplicateAddressPairInRequest",
    )
    assert_error(
        _create(api, net["id"], allowed_address_pairs=[{"mac_address": "fa:16:3e:00:00:01"}]),
        400,
        "AllowedAddressPairsMissingIP",
        "AllowedAddressPair must contain ip_address",
    )
    many = [{"ip_address": f"2001:db8::{n}"} for n in range(1, 12)]
    assert_error(
        _create(api, net["id"], allowed_address_pairs=many),
        400,
        "AllowedAddressPairExhausted",
        "The number of allowed address pair exceeds the maximum 10.",
    )
    assert_error(
        _create(api, net["id"], allowed_address_pairs="2001:db8::1"),
        400,
        "HTTPBadRequest",
        "Allowed address pairs must be a list.",
    )
    assert [p["id"] for p in api.user_ports()] == [port["id"]]


def test_network_owned_ports_have_no_port_security_and_no_groups(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    api.routed(subnet["id"], name="r")
    owned = [
        p
        for p in api.get("/v2.0/ports").json()["ports"]
        if p["device_owner"].startswith("network:")
    ]
    assert {p["device_owner"] for p in owned} == {"network:router_interface", "network:dhcp"}
    assert all(not p["port_security_enabled"] and p["security_groups"] == [] for p in owned)
    port = api.port(net["id"], device_owner="network:router_interface")
    assert (port["port_security_enabled"], port["security_groups"]) == (False, [])


def test_a_bulk_create_gives_each_project_its_own_default_group(api: Api) -> None:
    """The default group is looked up once per project and request: made on first use, one per
    project, and not made by a refused request."""
    net = api.network(user="admin", shared=True)
    alpha, beta = api.project_ids["alpha"], api.project_ids["beta"]
    bad = {"network_id": net["id"], "project_id": beta, "mac_address": "bad"}
    refused = api.post(
        "/v2.0/ports", {"ports": [{"network_id": net["id"], "project_id": beta}, bad]}, "admin"
    )
    assert refused.status_code == 400
    groups = api.get("/v2.0/security-groups", "admin").json()["security_groups"]
    assert beta not in {g["project_id"] for g in groups}
    bodies = [{"network_id": net["id"], "project_id": project} for project in (beta, alpha, beta)]
    created = api.post("/v2.0/ports", {"ports": bodies}, "admin")
    assert created.status_code == 201, created.text
    beta_default, alpha_default = _default_id(api, "bob"), _default_id(api)
    assert [p["security_groups"] for p in created.json()["ports"]] == [
        [beta_default],
        [alpha_default],
        [beta_default],
    ]
    groups = api.get("/v2.0/security-groups", "admin").json()["security_groups"]
    assert [g["id"] for g in groups if g["project_id"] == beta] == [beta_default]
