"""Distributed routers through the API (R20): Neutron's ``distributed`` (admin only, default
``Settings.router_distributed``, changed only while the router is down), distributed HA refused,
the router still scheduled onto one L3 host (its central instance), and an instance in the
state of every host with a workload on one of its networks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import Api, Template, assert_error
from tests.api.test_l3_scheduler import _state
from v6fabric.api.app import create_app
from v6fabric.hoststate.dvr import central_leg_mac, host_leg_mac
from v6fabric.hoststate.model import central_namespace, router_namespace
from v6fabric.settings import Settings

UNDERLAY = {"l3a": "198.18.0.1", "c1": "198.18.0.8", "c2": "198.18.0.9"}
ACTIVE_CHANGE = (
    "Bad router request: Cannot upgrade active router to distributed. Please set router "
    "admin_state_up to False prior to upgrade."
)
DVR_HA = "Bad router request: Distributed HA routers are not supported yet."


def _register(api: Api, host: str, roles: list[str]) -> None:
    body = {"roles": roles, "capabilities": {"underlay": {"ipv4": UNDERLAY[host]}}}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


def _admin_view(api: Api, router_id: str) -> dict[str, Any]:
    r = api.get(f"/v2.0/routers/{router_id}", "admin")
    assert r.status_code == 200, r.text
    return r.json()["router"]


def _distributed(api: Api, **attrs: Any) -> dict[str, Any]:
    body = {"name": "dvr", "distributed": True, "project_id": api.project_ids["alpha"], **attrs}
    r = api.post("/v2.0/routers", {"router": body}, "admin")
    assert r.status_code == 201, r.text
    return r.json()["router"]


def test_distributed_is_admin_only_and_shown_to_admins_only(api: Api) -> None:
    assert_error(
        api.post("/v2.0/routers", {"router": {"distributed": True}}),
        403,
        "PolicyNotAuthorized",
        "rule:create_router:distributed is disallowed by policy",
    )
    router = _distributed(api)
    assert router["distributed"] is True and router["ha"] is False
    assert "distributed" not in api.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert_error(
        api.put(f"/v2.0/routers/{router['id']}", {"router": {"distributed": False}}),
        403,
        "PolicyNotAuthorized",
        "rule:update_router:distributed is disallowed by policy",
    )
    plain = api.create("router", name="plain")
    assert _admin_view(api, plain["id"])["distributed"] is False
    listed = api.get("/v2.0/routers?distributed=true", "admin").json()["routers"]
    assert [r["id"] for r in listed] == [router["id"]]


def test_distributed_ha_is_refused_whichever_way_it_comes(api: Api) -> None:
    body = {"router": {"ha": True, "distributed": True}}
    assert_error(api.post("/v2.0/routers", body, "admin"), 400, "BadRequest", DVR_HA)
    assert api.get("/v2.0/routers", "admin").json()["routers"] == []
    router = _distributed(api, admin_state_up=False)
    path = f"/v2.0/routers/{router['id']}"
    assert_error(api.put(path, {"router": {"ha": True}}, "admin"), 400, "BadRequest", DVR_HA)
    r = api.post("/v2.0/routers", {"router": {"name": "ha", "ha": True}}, "admin")
    ha = r.json()["router"]
    ha_path = f"/v2.0/routers/{ha['id']}"
    body = {"router": {"distributed": True, "admin_state_up": False}}
    assert_error(api.put(ha_path, body, "admin"), 400, "BadRequest", DVR_HA)
    assert _admin_view(api, ha["id"])["distributed"] is False
    # HA off and distributed on in one request (the router going down with it): allowed
    body = {"router": {"distributed": True, "ha": False, "admin_state_up": False}}
    r = api.put(ha_path, body, "admin")
    assert r.status_code == 200, r.text
    assert (r.json()["router"]["distributed"], r.json()["router"]["ha"]) == (True, False)


def test_distributed_changes_only_while_the_router_is_down(api: Api) -> None:
    router = api.create("router", name="r")
    path = f"/v2.0/routers/{router['id']}"
    assert_error(
        api.put(path, {"router": {"distributed": True}}, "admin"),
        400,
        "BadRequest",
        ACTIVE_CHANGE,
    )
    assert _admin_view(api, router["id"])["revision_number"] == 1
    # the same value is no change: allowed while up
    assert api.put(path, {"router": {"distributed": False}}, "admin").status_code == 200
    # down in the same request: allowed (the state the router is going to counts)
    r = api.put(path, {"router": {"distributed": True, "admin_state_up": False}}, "admin")
    assert r.status_code == 200, r.text
    assert r.json()["router"]["distributed"] is True
    r = api.put(path, {"router": {"admin_state_up": True}}, "admin")
    assert r.status_code == 200, r.text
    # and back: the same rule
    assert_error(
        api.put(path, {"router": {"distributed": False}}, "admin"),
        400,
        "BadRequest",
        ACTIVE_CHANGE,
    )
    assert _admin_view(api, router["id"])["distributed"] is True
    r = api.put(path, {"router": {"distributed": False, "admin_state_up": False}}, "admin")
    assert r.status_code == 200 and r.json()["router"]["distributed"] is False, r.text


def test_the_default_comes_from_settings_router_distributed(
    tmp_path: Path, identity_template: Template
) -> None:
    shutil.copy(identity_template.path, tmp_path / "v6fabric.db")
    app = create_app(Settings(state_dir=tmp_path, router_distributed=True, l3_ha=True))
    with TestClient(app) as client:
        api = Api(client, identity_template)
        made = api.create("router", name="r")  # a member need not say anything
        # both defaults on: distributed (distributed HA is refused)
        assert (
            _admin_view(api, made["id"])["distributed"],
            _admin_view(api, made["id"])["ha"],
        ) == (
            True,
            False,
        )
        plain = api.post("/v2.0/routers", {"router": {"distributed": False}}, "admin")
        assert (plain.json()["router"]["distributed"], plain.json()["router"]["ha"]) == (
            False,
            True,
        )
        ha = api.post("/v2.0/routers", {"router": {"ha": True}}, "admin").json()["router"]
        assert (ha["distributed"], ha["ha"]) == (False, True)  # given wins over a default
    app.state.db.dispose()


def test_every_workload_host_gets_an_instance_and_the_l3_host_the_central_one(api: Api) -> None:
    _register(api, "l3a", ["network"])
    _register(api, "c1", ["compute"])
    _register(api, "c2", ["compute"])
    ext = api.network(
        "admin", name="ext", **{"router:external": True, "provider:network_type": "vxlan"}
    )
    api.subnet(ext["id"], "2001:db8:ff::/64", "admin")
    net1, net2 = api.network(name="n1"), api.network(name="n2")
    subnets = [
        api.subnet(n["id"], f"2001:db8:{i}::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        for i, n in ((1, net1), (2, net2))
    ]
    router = _distributed(api, external_gateway_info={"network_id": ext["id"]})
    for subnet in subnets:
        r = api.put(
            f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}
        )
        assert r.status_code == 200, r.text
    agents = api.get(f"/v2.0/routers/{router['id']}/l3-agents", "admin").json()["agents"]
    assert [a["host"] for a in agents] == ["l3a"]  # scheduled onto one L3 host, as any router
    for host, net in (("c1", net1), ("c2", net2)):
        port = api.port(net["id"])
        body = {"workload": {"name": f"vm-{host}", "host": host, "port_ids": [port["id"]]}}
        assert api.post("/fabric/v1/workloads", body).status_code == 201
    legs = {
        p["network_id"]: p
        for p in api.get(
            f"/v2.0/ports?device_id={router['id']}&device_owner=network:router_interface_distributed",
            "admin",
        ).json()["ports"]
    }
    instance, central = router_namespace(router["id"]), central_namespace(router["id"])
    for host in ("c1", "c2"):
        state = _state(api, host)
        assert instance in {ns.name for ns in state.namespaces}
        assert central not in {ns.name for ns in state.namespaces}
        macs = {p.port_id: p.mac for p in state.ports if p.namespace == instance}
        assert macs == {leg["id"]: host_leg_mac(host, leg["id"]) for leg in legs.values()}
        (ns,) = [ns for ns in state.namespaces if ns.name == instance]
        assert ns.neighbors  # the other workload, at least
    on_l3 = _state(api, "l3a")
    names = {ns.name for ns in on_l3.namespaces}
    assert central in names and instance not in names
    central_macs = {p.mac for p in on_l3.ports if p.namespace == central}
    assert central_leg_mac(router["id"], net1["id"]) in central_macs
    # taken down, it runs nowhere
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"admin_state_up": False}}, "admin")
    assert r.status_code == 200, r.text
    for host in ("c1", "c2", "l3a"):
        names = {ns.name for ns in _state(api, host).namespaces}
        assert instance not in names and central not in names
