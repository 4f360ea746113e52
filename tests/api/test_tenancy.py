"""R1 at the API: projects with overlapping prefixes never see or change each other's things."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


def test_overlapping_projects_are_isolated(api: Api) -> None:
    mine = {}
    for user in ("alice", "bob"):
        net = api.network(user, name="same-name")
        subnet = api.subnet(
            net["id"], "2001:db8:1::/64", user, ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
        )
        port = api.port(net["id"], user, mac_address="fa:16:3e:00:00:01")
        mine[user] = (net, subnet, port)
    # identical prefixes and even identical addresses coexist in two projects
    assert (
        mine["alice"][2]["fixed_ips"][0]["ip_address"]
        == mine["bob"][2]["fixed_ips"][0]["ip_address"]
    )
    for me, other in (("alice", "bob"), ("bob", "alice")):
        net, subnet, port = mine[other]
        for plural, item in (("networks", net), ("subnets", subnet), ("ports", port)):
            listed = api.get(f"/v2.0/{plural}", me).json()[plural]
            assert item["id"] not in [i["id"] for i in listed]
            r = api.get(f"/v2.0/{plural}/{item['id']}", me)
            assert r.status_code == 404, r.text
            assert (
                api.put(
                    f"/v2.0/{plural}/{item['id']}", {plural[:-1]: {"name": "x"}}, me
                ).status_code
                == 404
            )
            assert api.delete(f"/v2.0/{plural}/{item['id']}", me).status_code == 404
        r = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}, me)
        assert r.status_code == 404 and error_of(r)["type"] == "NetworkNotFound"
        r = api.post(
            "/v2.0/subnets",
            {"subnet": {"network_id": net["id"], "ip_version": 6, "cidr": "2001:db8:9::/64"}},
            me,
        )
        assert r.status_code == 404
    # nothing changed
    assert (
        api.get(f"/v2.0/networks/{mine['bob'][0]['id']}", "bob").json()["network"]["name"]
        == "same-name"
    )


def test_admin_sees_all_and_filters_by_project(api: Api) -> None:
    a = api.network("alice")
    b = api.network("bob")
    ids = {n["id"] for n in api.get("/v2.0/networks", "admin").json()["networks"]}
    assert {a["id"], b["id"]} <= ids
    bob_project = api.project_ids["beta"]
    only = api.get(f"/v2.0/networks?project_id={bob_project}", "admin").json()["networks"]
    assert [n["id"] for n in only] == [b["id"]]


def test_shared_and_external_networks(api: Api) -> None:
    r = api.post("/v2.0/networks", {"network": {"name": "s", "shared": True}}, "alice")
    assert r.status_code == 403 and error_of(r)["type"] == "PolicyNotAuthorized"
    shared = api.network("admin", name="shared", shared=True)
    api.subnet(shared["id"], "2001:db8:50::/64", "admin", ipv6_ra_mode="slaac")
    external = api.network("admin", name="ext", **{"router:external": True})
    visible = {n["id"] for n in api.get("/v2.0/networks", "bob").json()["networks"]}
    assert {shared["id"], external["id"]} <= visible
    assert len(api.get("/v2.0/subnets", "bob").json()["subnets"]) == 1
    port = api.port(shared["id"], "bob")  # anyone may plug into a shared network
    assert port["project_id"] == api.project_ids["beta"]
    assert (
        api.put(f"/v2.0/networks/{shared['id']}", {"network": {"name": "x"}}, "bob").status_code
        == 403
    )
    r = api.post("/v2.0/ports", {"port": {"network_id": external["id"]}}, "bob")
    assert r.status_code == 403
    # the owner cannot un-share a network other projects use
    r = api.put(f"/v2.0/networks/{shared['id']}", {"network": {"shared": False}}, "admin")
    assert r.status_code == 409 and error_of(r)["type"] == "InvalidSharedSetting"


def test_reader_reads_but_cannot_write(api: Api) -> None:
    net = api.network("alice")
    assert [n["id"] for n in api.get("/v2.0/networks", "rita").json()["networks"]] == [net["id"]]
    r = api.post("/v2.0/networks", {"network": {"name": "nope"}}, "rita")
    assert r.status_code == 403
    assert api.delete(f"/v2.0/networks/{net['id']}", "rita").status_code == 403
    assert (
        api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "y"}}, "rita").status_code
        == 403
    )


def test_creating_for_another_project_needs_admin(api: Api) -> None:
    r = api.post(
        "/v2.0/networks", {"network": {"name": "n", "project_id": api.project_ids["beta"]}}, "alice"
    )
    assert r.status_code == 400
    net = api.network("admin", project_id=api.project_ids["beta"])
    assert net["project_id"] == net["tenant_id"] == api.project_ids["beta"]


def test_provider_attributes_are_admin_only(api: Api) -> None:
    r = api.post("/v2.0/networks", {"network": {"provider:network_type": "vxlan"}}, "alice")
    assert r.status_code == 403
    net = api.network(
        "admin", **{"provider:network_type": "vxlan", "provider:segmentation_id": 4242}
    )
    assert net["provider:segmentation_id"] == 4242 and net["mtu"] == 1450
    r = api.post(
        "/v2.0/networks",
        {"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 4242}},
        "admin",
    )
    assert r.status_code == 409
    tenant = api.network("alice")
    assert "provider:network_type" not in tenant
    flat = api.network(
        "admin", **{"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    )
    assert flat["mtu"] == 1500


def test_unauthenticated_requests(api: Api) -> None:
    r = api.get("/v2.0/networks", user="")
    assert r.status_code == 401 and "NeutronError" in r.json()
    r = api.request("GET", "/v2.0/networks", user="", headers={"X-Auth-Token": "forged"})
    assert r.status_code == 401
