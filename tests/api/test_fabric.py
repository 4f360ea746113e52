"""/fabric/v1: hosts register, long-poll their state by ETag, report status; workloads bind ports."""

from __future__ import annotations

import threading
import time

from tests.api.conftest import Api, error_of
from v6fabric.hoststate.codec import decode


def _register(api: Api, host: str = "h1") -> None:
    r = api.put(f"/fabric/v1/hosts/{host}", {"roles": ["compute", "network"]}, "admin")
    assert r.status_code == 200, r.text


def test_hosts_are_admin_only(api: Api) -> None:
    assert api.put("/fabric/v1/hosts/h1", {"roles": ["compute"]}).status_code == 403
    _register(api)
    assert [h["name"] for h in api.get("/fabric/v1/hosts", "admin").json()["hosts"]] == ["h1"]
    assert api.get("/fabric/v1/hosts/h1/state").status_code == 403
    assert api.get("/fabric/v1/hosts/nope/state", "admin").status_code == 404


def test_workload_binds_its_ports_and_appears_in_the_host_state(api: Api) -> None:
    _register(api)
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = api.port(net["id"])
    r = api.post(
        "/fabric/v1/workloads",
        {"workload": {"name": "vm1", "host": "h1", "port_ids": [port["id"]]}},
    )
    assert r.status_code == 201, r.text
    workload = r.json()["workload"]
    bound = api.get(f"/v2.0/ports/{port['id']}", "admin").json()["port"]
    assert bound["binding:host_id"] == "h1" and bound["device_id"] == workload["id"]
    state = decode(api.get("/fabric/v1/hosts/h1/state", "admin").content)
    assert [w.workload_id for w in state.workloads] == [workload["id"]]
    assert port["id"] in {p.port_id for p in state.ports}
    # a port in use cannot join a second workload; another project's port is not found
    r = api.post("/fabric/v1/workloads", {"workload": {"host": "h1", "port_ids": [port["id"]]}})
    assert r.status_code == 409
    r = api.post(
        "/fabric/v1/workloads", {"workload": {"host": "h1", "port_ids": [port["id"]]}}, "bob"
    )
    assert r.status_code == 404 and error_of(r)["type"] == "PortNotFound"
    assert api.delete(f"/fabric/v1/workloads/{workload['id']}").status_code == 204
    unbound = api.get(f"/v2.0/ports/{port['id']}", "admin").json()["port"]
    assert unbound["binding:host_id"] == "" and unbound["device_id"] == ""


def test_state_etag_long_poll_wakes_on_relevant_change(api: Api) -> None:
    _register(api)
    first = api.get("/fabric/v1/hosts/h1/state", "admin")
    etag = first.headers["etag"]
    # nothing changed: 304 after the wait
    r = api.get("/fabric/v1/hosts/h1/state?wait=0.3", "admin", headers={"If-None-Match": etag})
    assert r.status_code == 304
    # a change that concerns the host (a DHCP namespace appears) wakes a waiting poll
    result: dict = {}

    def poll() -> None:
        started = time.monotonic()
        result["response"] = api.get(
            "/fabric/v1/hosts/h1/state?wait=10", "admin", headers={"If-None-Match": etag}
        )
        result["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.3)
    net = api.network()
    api.subnet(
        net["id"],
        "2001:db8:3::/64",
        ipv6_ra_mode="dhcpv6-stateful",
        ipv6_address_mode="dhcpv6-stateful",
    )
    waiter.join(15)
    assert result["response"].status_code == 200
    assert result["seconds"] < 5
    state = decode(result["response"].content)
    assert any(d.network_id == net["id"] for d in state.dnsmasq)


def test_status_marks_ports_active(api: Api) -> None:
    _register(api)
    net = api.network()
    port = api.port(net["id"])
    before = api.get("/fabric/v1/hosts/h1/state", "admin").headers["etag"]
    r = api.put(
        "/fabric/v1/hosts/h1/status", {"applied": "x", "ports": {port["id"]: "ACTIVE"}}, "admin"
    )
    assert r.status_code == 204
    assert api.get(f"/v2.0/ports/{port['id']}").json()["port"]["status"] == "ACTIVE"
    # status is not intent: the host's state (and its ETag) does not change
    assert api.get("/fabric/v1/hosts/h1/state", "admin").headers["etag"] == before
    r = api.put("/fabric/v1/hosts/h1/status", {"ports": {port["id"]: "FINE"}}, "admin")
    assert r.status_code == 400


def test_status_may_name_only_what_changed(api: Api) -> None:
    """The agent reports only changed statuses: what a report leaves out keeps its status."""
    _register(api)
    net = api.network()
    ports = [api.port(net["id"]) for _ in range(2)]
    body = {"workload": {"name": "vm1", "host": "h1", "port_ids": [ports[0]["id"]]}}
    workload = api.post("/fabric/v1/workloads", body).json()["workload"]
    full = {
        "applied": "x",
        "ports": {p["id"]: "ACTIVE" for p in ports},
        "workloads": {workload["id"]: "ACTIVE"},
    }
    assert api.put("/fabric/v1/hosts/h1/status", full, "admin").status_code == 204
    changed = {"applied": "y", "ports": {ports[1]["id"]: "DOWN"}, "workloads": {}}
    assert api.put("/fabric/v1/hosts/h1/status", changed, "admin").status_code == 204
    statuses = [api.get(f"/v2.0/ports/{p['id']}").json()["port"]["status"] for p in ports]
    assert statuses == ["ACTIVE", "DOWN"]
    shown = api.get(f"/fabric/v1/workloads/{workload['id']}").json()["workload"]
    assert shown["status"] == "ACTIVE"
    assert api.get("/fabric/v1/hosts/h1", "admin").json()["host"]["applied"] == "y"
    r = api.put("/fabric/v1/hosts/nope/status", changed, "admin")
    assert r.status_code == 404 and error_of(r)["type"] == "HostNotFound"


def test_a_write_that_does_not_change_the_host_state_does_not_answer_its_long_poll(
    api: Api,
) -> None:
    _register(api)
    etag = api.get("/fabric/v1/hosts/h1/state", "admin").headers["etag"]
    result: dict = {}

    def poll() -> None:
        result["response"] = api.get(
            "/fabric/v1/hosts/h1/state?wait=1", "admin", headers={"If-None-Match": etag}
        )

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.2)
    api.network()  # no subnet, no port: nothing for any host
    waiter.join(10)
    assert result["response"].status_code == 304
    assert result["response"].headers["etag"] == etag
