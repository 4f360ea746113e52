"""Security groups and rules through the API, against Neutron's semantics and error texts (R13).

The default group, rule validation (protocols, ports, ICMP type/code, prefixes), duplicates,
tenant isolation, quotas, and that a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error

GROUPS = "/v2.0/security-groups"
RULES = "/v2.0/security-group-rules"


def _groups(api: Api, user: str = "alice", query: str = "") -> list[dict[str, Any]]:
    r = api.get(f"{GROUPS}{query}", user)
    assert r.status_code == 200, r.text
    return r.json()["security_groups"]


def _group(api: Api, user: str = "alice", **attrs: Any) -> dict[str, Any]:
    r = api.post(GROUPS, {"security_group": {"name": "web", **attrs}}, user)
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def _rule(api: Api, group_id: str, user: str = "alice", **attrs: Any) -> Any:
    """The response of a rule create (ingress unless told)."""
    body = {"security_group_id": group_id, "direction": "ingress", **attrs}
    return api.post(RULES, {"security_group_rule": body}, user)


def _created_rule(api: Api, group_id: str, user: str = "alice", **attrs: Any) -> dict[str, Any]:
    r = _rule(api, group_id, user, **attrs)
    assert r.status_code == 201, r.text
    return r.json()["security_group_rule"]


def _default(api: Api, user: str = "alice") -> dict[str, Any]:
    (group,) = [g for g in _groups(api, user) if g["name"] == "default"]
    return group


def _rule_ids(api: Api, user: str = "alice") -> set[str]:
    return {rule["id"] for rule in api.get(RULES, user).json()["security_group_rules"]}


# --- the default group -----------------------------------------------------------------------


def test_listing_creates_the_default_group_once_with_neutrons_rules(api: Api) -> None:
    groups = _groups(api)
    assert len(groups) == 1 and _groups(api) == groups  # created once, then the same
    group = groups[0]
    assert group["name"] == "default" and group["description"] == "Default security group"
    assert group["stateful"] is True and group["tags"] == []
    assert group["project_id"] == group["tenant_id"] == api.project_ids["alpha"]
    rules = {
        (r["direction"], r["ethertype"], r["remote_group_id"]): r
        for r in group["security_group_rules"]
    }
    assert set(rules) == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", group["id"]),
        ("ingress", "IPv6", group["id"]),
    }
    rule = rules[("ingress", "IPv6", group["id"])]
    assert rule == {
        "id": rule["id"],
        "project_id": group["project_id"],
        "tenant_id": group["project_id"],
        "security_group_id": group["id"],
        "direction": "ingress",
        "ethertype": "IPv6",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "normalized_cidr": None,
        "remote_group_id": group["id"],
        "remote_address_group_id": None,
        "belongs_to_default_sg": True,
        "description": "",
        "revision_number": 1,
        "created_at": rule["created_at"],
        "updated_at": rule["updated_at"],
    }
    assert api.get(f"{RULES}/{rule['id']}").json()["security_group_rule"] == rule


def test_default_group_on_first_network_port_or_rule_list(api: Api) -> None:
    api.network(user="bob")
    assert [g["name"] for g in _groups(api, "admin", "?project_id=" + api.project_ids["beta"])] == [
        "default"
    ]
    assert len(api.get(RULES, "alice").json()["security_group_rules"]) == 4


def test_default_group_cannot_be_renamed_nor_deleted_by_its_project(api: Api) -> None:
    group = _default(api)
    url = f"{GROUPS}/{group['id']}"
    message = "Updating default security group not allowed."
    assert_error(
        api.put(url, {"security_group": {"name": "x"}}),
        409,
        "SecurityGroupCannotUpdateDefault",
        message,
    )
    assert_error(
        api.put(url, {"security_group": {"name": "default"}}),
        409,
        "SecurityGroupDefaultAlreadyExists",
        "Default security group already exists.",
    )
    r = api.put(url, {"security_group": {"description": "ours"}})
    assert r.status_code == 200 and r.json()["security_group"]["description"] == "ours"
    assert r.json()["security_group"]["revision_number"] == 2
    assert_error(
        api.delete(url),
        409,
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.",
    )
    assert api.delete(url, "admin").status_code == 204
    again = _default(api)  # the next use makes a new one
    assert again["id"] != group["id"]


def test_no_second_group_named_default(api: Api) -> None:
    for name in ("default", "Default"):
        r = api.post(GROUPS, {"security_group": {"name": name}})
        assert_error(r, 409, "SecurityGroupDefaultAlreadyExists")
    group = _group(api)
    r = api.put(f"{GROUPS}/{group['id']}", {"security_group": {"name": "DEFAULT"}})
    assert_error(r, 409, "SecurityGroupDefaultAlreadyExists")


# --- groups --------------------------------------------------------------------------------------


def test_a_new_group_allows_egress_only_and_can_be_stateless(api: Api) -> None:
    group = _group(api, description="front", stateful=False)
    assert group["stateful"] is False and group["description"] == "front"
    assert sorted(
        (r["direction"], r["ethertype"], r["remote_ip_prefix"], r["belongs_to_default_sg"])
        for r in group["security_group_rules"]
    ) == [("egress", "IPv4", None, False), ("egress", "IPv6", None, False)]
    assert api.get(f"{GROUPS}/{group['id']}").json()["security_group"] == group
    listed = _groups(api, query="?stateful=false&fields=id&fields=name")
    assert listed == [{"id": group["id"], "name": "web"}]
    r = api.put(f"{GROUPS}/{group['id']}", {"security_group": {"name": "w2", "stateful": True}})
    assert r.status_code == 200
    assert (r.json()["security_group"]["name"], r.json()["security_group"]["stateful"]) == (
        "w2",
        True,
    )


def test_group_in_use_cannot_be_deleted_nor_change_statefulness(api: Api) -> None:
    group = _group(api)
    net = api.network()
    port = api.port(net["id"], security_groups=[group["id"]])
    url = f"{GROUPS}/{group['id']}"
    assert_error(
        api.delete(url), 409, "SecurityGroupInUse", f"Security Group {group['id']} in use."
    )
    assert_error(api.put(url, {"security_group": {"stateful": False}}), 409, "SecurityGroupInUse")
    assert api.put(url, {"security_group": {"stateful": True}}).status_code == 200  # unchanged
    api.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": []}})
    assert api.delete(url).status_code == 204
    assert_error(
        api.get(url), 404, "SecurityGroupNotFound", f"Security group {group['id']} does not exist"
    )


def test_deleting_a_group_removes_the_rules_naming_it_as_remote(api: Api) -> None:
    web, db = _group(api), _group(api, name="db")
    rule = _created_rule(
        api,
        db["id"],
        protocol="tcp",
        port_range_min=5432,
        port_range_max=5432,
        remote_group_id=web["id"],
    )
    revision = api.get(f"{GROUPS}/{db['id']}").json()["security_group"]["revision_number"]
    assert api.delete(f"{GROUPS}/{web['id']}").status_code == 204
    assert api.get(f"{RULES}/{rule['id']}").status_code == 404
    after = api.get(f"{GROUPS}/{db['id']}").json()["security_group"]
    assert after["revision_number"] == revision + 1 and len(after["security_group_rules"]) == 2


# --- rules: values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"protocol": "TCP", "port_range_min": 22, "port_range_max": 23}, ("tcp", 22, 23)),
        ({"protocol": "6", "port_range_min": "80", "port_range_max": "80"}, ("6", 80, 80)),
        ({"protocol": "udp", "port_range_min": 1, "port_range_max": 65535}, ("udp", None, None)),
        ({"protocol": "icmpv6", "port_range_min": 128, "port_range_max": 0}, ("ipv6-icmp", 128, 0)),
        ({"protocol": "1", "port_range_min": 135}, ("58", 135, None)),
        ({"protocol": 112}, ("112", None, None)),
        ({"protocol": "any"}, (None, None, None)),
    ],
)
def test_protocols_and_port_ranges_as_neutron_normalises_them(
    api: Api, attrs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """The whole table of values and errors is in tests/unit/test_security_rules.py."""
    rule = _created_rule(api, _group(api)["id"], ethertype="IPv6", **attrs)
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == expected


@pytest.mark.parametrize(
    ("attrs", "type_name", "message"),
    [
        (
            {"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
            "SecurityGroupInvalidPortRange",
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ),
        (
            {"protocol": "udp", "port_range_min": "http", "port_range_max": 80},
            "SecurityGroupInvalidPortValue",
            "Invalid value for port http",
        ),
        (
            {"protocol": "gre", "port_range_min": 22, "port_range_max": 22},
            "SecurityGroupInvalidProtocolForPort",
            "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, "
            "TCP, UDP, UDPLITE.",
        ),
        (
            {"protocol": "ipv6-icmp", "port_range_min": 256},
            "SecurityGroupInvalidIcmpValue",
            "Invalid value for ICMP type (port_range_min) 256. It must be 0 to 255.",
        ),
        (
            {"ethertype": "IPv4", "remote_ip_prefix": "2001:db8::/64"},
            "SecurityGroupRuleParameterConflict",
            "Conflicting value ethertype IPv4 for CIDR 2001:db8::/64",
        ),
        (
            {"ethertype": "IPv4", "protocol": "icmpv6"},
            "SecurityGroupEthertypeConflictWithProtocol",
            "Invalid ethertype IPv4 for protocol icmpv6.",
        ),
        ({"protocol": "foo"}, "SecurityGroupRuleInvalidProtocol", None),
        (
            {"remote_ip_prefix": "no-prefix"},
            "InvalidCIDR",
            "Invalid CIDR no-prefix given as IP prefix.",
        ),
        (
            {"ethertype": "IPv7"},
            "SecurityGroupRuleInvalidEtherType",
            "Security group rule for ethertype 'IPv7' not supported. Allowed values are "
            "['IPv4', 'IPv6'].",
        ),
        (
            {"direction": "sideways"},
            "HTTPBadRequest",
            "Invalid input for direction. Reason: sideways is not in valid_values.",
        ),
        (
            {"remote_ip_prefix": "2001:db8::/64", "remote_group_id": "GROUP"},
            "SecurityGroupMultipleRemoteEntites",
            "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be "
            "provided.",
        ),
    ],
)
def test_invalid_rules_are_refused_with_neutrons_errors(
    api: Api, attrs: dict[str, Any], type_name: str, message: str | None
) -> None:
    group = _group(api)
    attrs = {"ethertype": "IPv6", **attrs}
    if attrs.get("remote_group_id") == "GROUP":
        attrs["remote_group_id"] = group["id"]
    assert_error(_rule(api, group["id"], **attrs), 400, type_name, message)
    rules = api.get(f"{GROUPS}/{group['id']}").json()["security_group"]["security_group_rules"]
    assert len(rules) == 2


def test_missing_direction(api: Api) -> None:
    body = {"security_group_id": _group(api)["id"], "protocol": "tcp"}
    assert_error(
        api.post(RULES, {"security_group_rule": body}),
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'direction' not specified",
    )


def test_remote_prefix_keeps_host_bits_and_adds_the_mask(api: Api) -> None:
    group = _group(api)
    rule = _created_rule(api, group["id"], ethertype="ipv6", remote_ip_prefix="2001:db8::5/64")
    assert rule["ethertype"] == "IPv6"
    assert (rule["remote_ip_prefix"], rule["normalized_cidr"]) == (
        "2001:db8::5/64",
        "2001:db8::/64",
    )
    host = _created_rule(api, group["id"], ethertype="IPv6", remote_ip_prefix="2001:db8::1")
    assert (host["remote_ip_prefix"], host["normalized_cidr"]) == (
        "2001:db8::1/128",
        "2001:db8::1/128",
    )
    v4 = _created_rule(api, group["id"], remote_ip_prefix="192.0.2.7/24")
    assert (v4["ethertype"], v4["remote_ip_prefix"], v4["normalized_cidr"]) == (
        "IPv4",
        "192.0.2.7/24",
        "192.0.2.0/24",
    )
    listed = api.get(f"{RULES}?normalized_cidr=2001:db8::/64").json()["security_group_rules"]
    assert [r["id"] for r in listed] == [rule["id"]]


# --- rules: sameness, bulk, revisions -----------------------------------------------------------


def test_the_same_rule_twice_is_a_conflict(api: Api) -> None:
    group = _group(api)
    first = _created_rule(
        api, group["id"], ethertype="IPv6", protocol="tcp", port_range_min=22, port_range_max=22
    )
    message = f"Security group rule already exists. Rule id is {first['id']}."
    same_by_number = {"protocol": "6", "port_range_min": 22, "port_range_max": 22}
    assert_error(
        _rule(api, group["id"], ethertype="IPv6", **same_by_number),
        409,
        "SecurityGroupRuleExists",
        message,
    )
    anywhere = _created_rule(api, group["id"], ethertype="IPv6", protocol="udp")
    r = _rule(api, group["id"], ethertype="IPv6", protocol="udp", remote_ip_prefix="::/0")
    assert_error(
        r,
        409,
        "SecurityGroupRuleExists",
        f"Security group rule already exists. Rule id is {anywhere['id']}.",
    )
    # the default group's egress rules count too
    egress = {r["ethertype"]: r["id"] for r in group["security_group_rules"]}
    r = api.post(
        RULES,
        {
            "security_group_rule": {
                "security_group_id": group["id"],
                "direction": "egress",
                "ethertype": "IPv6",
            }
        },
    )
    assert_error(
        r,
        409,
        "SecurityGroupRuleExists",
        f"Security group rule already exists. Rule id is {egress['IPv6']}.",
    )
    # another port, another direction or another family is another rule
    _created_rule(
        api, group["id"], ethertype="IPv6", protocol="tcp", port_range_min=23, port_range_max=23
    )
    _created_rule(
        api, group["id"], ethertype="IPv4", protocol="tcp", port_range_min=22, port_range_max=22
    )


def test_bulk_rules_for_one_group_all_or_nothing(api: Api) -> None:
    group, other = _group(api), _group(api, name="other")
    before = api.get(f"{GROUPS}/{group['id']}").json()["security_group"]
    ssh = {
        "security_group_id": group["id"],
        "direction": "ingress",
        "ethertype": "IPv6",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
    }
    http = {**ssh, "port_range_min": 80, "port_range_max": 80}
    r = api.post(RULES, {"security_group_rules": [ssh, http]})
    assert r.status_code == 201 and [
        x["port_range_min"] for x in r.json()["security_group_rules"]
    ] == [22, 80]
    after = api.get(f"{GROUPS}/{group['id']}").json()["security_group"]
    assert len(after["security_group_rules"]) == 4
    assert after["revision_number"] == before["revision_number"] + 1
    https = {**ssh, "port_range_min": 443, "port_range_max": 443}
    assert_error(
        api.post(RULES, {"security_group_rules": [https, https]}),
        409,
        "DuplicateSecurityGroupRuleInPost",
        "Duplicate Security Group Rule in POST.",
    )
    assert_error(
        api.post(RULES, {"security_group_rules": [https, ssh]}), 409, "SecurityGroupRuleExists"
    )
    assert_error(
        api.post(
            RULES, {"security_group_rules": [https, {**https, "security_group_id": other["id"]}]}
        ),
        400,
        "SecurityGroupNotSingleGroupRules",
        "Only allowed to update rules for one security profile at a time",
    )
    assert api.get(f"{GROUPS}/{group['id']}").json()["security_group"] == after


def test_rule_description_is_the_only_thing_that_changes(api: Api) -> None:
    group = _group(api)
    rule = _created_rule(api, group["id"], ethertype="IPv6", protocol="tcp", description="ssh")
    assert rule["description"] == "ssh"
    r = api.put(f"{RULES}/{rule['id']}", {"security_group_rule": {"description": "ssh in"}})
    assert r.status_code == 200 and r.json()["security_group_rule"]["description"] == "ssh in"
    r = api.put(f"{RULES}/{rule['id']}", {"security_group_rule": {"protocol": "udp"}})
    assert_error(r, 400, "HTTPBadRequest", "Cannot update read-only attribute protocol")
    assert api.delete(f"{RULES}/{rule['id']}").status_code == 204
    assert_error(
        api.get(f"{RULES}/{rule['id']}"),
        404,
        "SecurityGroupRuleNotFound",
        f"Security group rule {rule['id']} does not exist",
    )


def test_rule_filters_and_pagination(api: Api) -> None:
    group = _group(api)
    for port in (22, 80, 443):
        _created_rule(
            api,
            group["id"],
            ethertype="IPv6",
            protocol="tcp",
            port_range_min=port,
            port_range_max=port,
        )
    query = (
        f"?security_group_id={group['id']}&direction=ingress&sort_key=port_range_min&sort_dir=desc"
    )
    first = api.get(f"{RULES}{query}&limit=2").json()
    assert [r["port_range_min"] for r in first["security_group_rules"]] == [443, 80]
    link = first["security_group_rules_links"][0]
    assert link["rel"] == "next" and "/v2.0/security-group-rules?" in link["href"]
    following = api.get(link["href"].split("testserver", 1)[1]).json()
    assert [r["port_range_min"] for r in following["security_group_rules"]] == [22]
    defaults = api.get(f"{RULES}?belongs_to_default_sg=true").json()["security_group_rules"]
    assert len(defaults) == 4 and all(r["belongs_to_default_sg"] for r in defaults)
    assert_error(
        api.get(f"{RULES}?name=x"),
        400,
        "HTTPBadRequest",
        "[name] is invalid attribute for filtering",
    )


# --- tenancy and quotas -------------------------------------------------------------------------


def test_projects_never_see_nor_touch_each_others_groups_and_rules(api: Api) -> None:
    group = _group(api)
    rule = _created_rule(api, group["id"], ethertype="IPv6", protocol="tcp")
    bob_default = _default(api, "bob")
    assert {g["id"] for g in _groups(api, "bob")} == {bob_default["id"]}
    assert rule["id"] not in _rule_ids(api, "bob")
    missing = f"Security group {group['id']} does not exist"
    assert_error(api.get(f"{GROUPS}/{group['id']}", "bob"), 404, "SecurityGroupNotFound", missing)
    assert_error(
        api.put(f"{GROUPS}/{group['id']}", {"security_group": {"name": "x"}}, "bob"),
        404,
        "SecurityGroupNotFound",
    )
    assert_error(api.delete(f"{GROUPS}/{group['id']}", "bob"), 404, "SecurityGroupNotFound")
    assert_error(api.get(f"{RULES}/{rule['id']}", "bob"), 404, "SecurityGroupRuleNotFound")
    assert_error(api.delete(f"{RULES}/{rule['id']}", "bob"), 404, "SecurityGroupRuleNotFound")
    assert_error(
        _rule(api, group["id"], "bob", ethertype="IPv6", protocol="udp"),
        404,
        "SecurityGroupNotFound",
        missing,
    )
    r = _rule(api, bob_default["id"], "bob", ethertype="IPv6", remote_group_id=group["id"])
    assert_error(r, 404, "SecurityGroupNotFound", missing)
    net = api.network(user="bob")
    r = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": [group["id"]]}}, "bob"
    )
    assert_error(r, 404, "SecurityGroupNotFound", missing)
    # the reader of alice's project reads but does not write
    assert api.get(f"{GROUPS}/{group['id']}", "rita").status_code == 200
    assert_error(
        _rule(api, group["id"], "rita", ethertype="IPv6", protocol="udp"),
        403,
        "PolicyNotAuthorized",
    )
    assert_error(api.delete(f"{RULES}/{rule['id']}", "rita"), 403, "PolicyNotAuthorized")


def test_admin_sees_all_and_its_rules_in_a_projects_group_are_the_projects(api: Api) -> None:
    group = _group(api)
    _default(api, "bob")
    projects = {g["project_id"] for g in _groups(api, "admin")}
    assert {api.project_ids["alpha"], api.project_ids["beta"]} <= projects
    by_admin = _created_rule(api, group["id"], "admin", ethertype="IPv6", protocol="tcp")
    assert by_admin["project_id"] == api.project_ids["admin"]
    assert by_admin["id"] in _rule_ids(api, "alice")  # alice owns the group
    assert api.delete(f"{RULES}/{by_admin['id']}", "alice").status_code == 204


def test_quotas_for_groups_and_rules(api: Api) -> None:
    for n in range(9):  # the default group is the tenth
        _group(api, name=f"g{n}")
    assert_error(
        api.post(GROUPS, {"security_group": {"name": "one too many"}}),
        409,
        "OverQuota",
        "Quota exceeded for resources: ['security_group'].",
    )
    project = api.project_ids["alpha"]
    details = api.get(f"/v2.0/quotas/{project}/details").json()["quota"]
    assert details["security_group"] == {"limit": 10, "used": 10, "reserved": 0}
    assert details["security_group_rule"]["used"] == 4 + 9 * 2
    api.put(f"/v2.0/quotas/{project}", {"quota": {"security_group_rule": 23}}, "admin")
    group = _groups(api, query="?name=g0")[0]
    _created_rule(api, group["id"], ethertype="IPv6", protocol="tcp")
    assert_error(
        _rule(api, group["id"], ethertype="IPv6", protocol="udp"),
        409,
        "OverQuota",
        "Quota exceeded for resources: ['security_group_rule'].",
    )


def test_a_refused_request_changes_nothing(api: Api) -> None:
    """bob has no default group yet: a refused port create or rule create does not make one."""
    net = api.network(user="admin", shared=True)
    r = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": ["nonsense"]}}, "bob"
    )
    assert_error(
        r,
        400,
        "HTTPBadRequest",
        "Invalid input for security_groups. Reason: 'nonsense' is not a valid UUID.",
    )
    unknown = "6e4d5ec5-0b5d-4c44-a1a5-c8a1a09f0d7e"
    r = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": [unknown]}}, "bob"
    )
    assert_error(r, 404, "SecurityGroupNotFound", f"Security group {unknown} does not exist")
    assert_error(_rule(api, unknown, "bob"), 404, "SecurityGroupNotFound")
    admin_view = _groups(api, "admin")
    assert api.project_ids["beta"] not in {g["project_id"] for g in admin_view}
    assert api.user_ports(user="bob") == []
