"""Neutron list semantics: filters, fields, sorting, pagination, substring filters, quotas."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


def test_filters_with_several_values_and_fields(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.network(name=name)
    listed = api.get("/v2.0/networks?name=a&name=c&fields=name&fields=id").json()["networks"]
    assert sorted(n["name"] for n in listed) == ["a", "c"]
    assert all(set(n) == {"name", "id"} for n in listed)
    r = api.get("/v2.0/networks?bogus=1")
    assert r.status_code == 400


def test_sort_and_paginate_through_everything(api: Api) -> None:
    for i in range(7):
        api.network(name=f"n{i}")
    seen: list[str] = []
    url = "/v2.0/networks?limit=3&sort_key=name&sort_dir=desc"
    while url:
        body = api.get(url).json()
        seen += [n["name"] for n in body["networks"]]
        nxt = [link["href"] for link in body.get("networks_links", []) if link["rel"] == "next"]
        url = nxt[0].split("testserver", 1)[1] if nxt else ""
    assert seen == [f"n{i}" for i in range(6, -1, -1)]


def test_fixed_ip_filters(api: Api) -> None:
    net = api.network()
    s = api.subnet(net["id"], "2001:db8:7::/64", ipv6_address_mode="dhcpv6-stateful")
    p1 = api.port(net["id"], fixed_ips=[{"subnet_id": s["id"], "ip_address": "2001:db8:7::abcd"}])
    api.port(net["id"], fixed_ips=[{"subnet_id": s["id"], "ip_address": "2001:db8:7::1234"}])
    # "7::abc", not "abc": the network's DHCP port has a random stateful address, which may
    # hold "abc" (about one run in 300)
    found = api.get("/v2.0/ports?fixed_ips=ip_address_substr%3D7::abc").json()["ports"]
    assert [p["id"] for p in found] == [p1["id"]]
    found = api.get("/v2.0/ports?fixed_ips=ip_address%3D2001:db8:7::abcd").json()["ports"]
    assert [p["id"] for p in found] == [p1["id"]]
    assert len(api.user_ports(f"?fixed_ips=subnet_id%3D{s['id']}")) == 2


def test_boolean_filter(api: Api) -> None:
    api.network(name="up")
    api.network(name="down", admin_state_up=False)
    down = api.get("/v2.0/networks?admin_state_up=false").json()["networks"]
    assert [n["name"] for n in down] == ["down"]


def test_quota_exceeded(api: Api) -> None:
    project = api.project_ids["alpha"]
    r = api.put(f"/v2.0/quotas/{project}", {"quota": {"network": 2}}, "admin")
    assert r.status_code == 200 and r.json()["quota"]["network"] == 2
    api.network()
    api.network()
    r = api.post("/v2.0/networks", {"network": {"name": "third"}})
    assert r.status_code == 409
    assert error_of(r) == {
        "type": "OverQuota",
        "message": "Quota exceeded for resources: ['network'].",
        "detail": "",
    }
    details = api.get(f"/v2.0/quotas/{project}/details").json()["quota"]
    assert details["network"] == {"limit": 2, "used": 2, "reserved": 0}
    assert api.put(f"/v2.0/quotas/{project}", {"quota": {"network": 5}}).status_code == 403
    assert api.get(f"/v2.0/quotas/{api.project_ids['beta']}").status_code == 403
    assert api.get(f"/v2.0/quotas/{project}/default").json()["quota"]["port"] == 500


def test_request_id_and_versions(api: Api) -> None:
    r = api.get("/", user="")
    assert r.status_code == 200 and r.json()["versions"][0]["id"] == "v2.0"
    assert r.headers["x-openstack-request-id"].startswith("req-")
    r = api.get("/v2.0/nothing-here")
    assert r.status_code == 404 and error_of(r)["type"] == "HTTPNotFound"
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {
        "external-net",
        "subnet_allocation",
        "allowed-address-pairs",
        "port-security",
        "net-mtu",
        "provider",
        "standard-attr-description",
        "project-id",
        "ip-substring-filtering",
    } <= aliases
    assert api.get("/openapi.json", user="").status_code == 200


def test_unknown_attribute_refused(api: Api) -> None:
    r = api.post("/v2.0/networks", {"network": {"name": "x", "colour": "blue"}})
    assert r.status_code == 400
    assert error_of(r)["message"] == "Unrecognized attribute(s) 'colour'"
