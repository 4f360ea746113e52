"""The server's live compiler inputs (``FabricMirror``) follow the store write by write.

Every commit in the test suites already checks each host's compile from the mirror against a
full read (``V6FABRIC_VERIFY_LIVE``, tests/conftest.py); these scenarios drive the writes whose
effects are easiest to miss (database cascades, a group named as remote, an unbound member, a
write by another process) and check that the mirror took the incremental path when it could.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.api.conftest import Api
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.store.db import Database


def _mirror(api: Api) -> Any:
    return api.client.app.state.services.fabric_mirror


def _same_as_full_read(api: Api, host: str = "h1") -> None:
    services = api.client.app.state.services
    full = Snapshot.build(**services.fabric.snapshot())
    mine = compile_host(_mirror(api).snapshot_for(host), host)
    assert mine == compile_host(full, host)


def _group(api: Api, name: str) -> dict[str, Any]:
    r = api.post("/v2.0/security-groups", {"security_group": {"name": name}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def _rule(api: Api, group: str, remote: str) -> dict[str, Any]:
    rule = {
        "security_group_id": group,
        "direction": "ingress",
        "ethertype": "IPv6",
        "remote_group_id": remote,
    }
    r = api.post("/v2.0/security-group-rules", {"security_group_rule": rule})
    assert r.status_code == 201, r.text
    return r.json()["security_group_rule"]


def test_cascades_and_memberships_follow_without_full_reads(api: Api) -> None:
    assert os.environ.get("V6FABRIC_VERIFY_LIVE") == "1"
    api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    net = api.network()
    slaac = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    api.subnet(net["id"], "2001:db8:2::/64", ipv6_address_mode="dhcpv6-stateful")
    servers, clients = _group(api, "servers"), _group(api, "clients")
    _rule(api, servers["id"], clients["id"])
    vm_port = api.port(net["id"], security_groups=[servers["id"]])
    r = api.post("/fabric/v1/workloads", {"workload": {"host": "h1", "port_ids": [vm_port["id"]]}})
    assert r.status_code == 201, r.text
    _same_as_full_read(api)
    reads = _mirror(api).full_reads

    # unbound members of the remote group, on no host: in h1's firewall all the same
    members = [api.port(net["id"], security_groups=[clients["id"]]) for _ in range(3)]
    state = compile_host(_mirror(api).snapshot_for("h1"), "h1")
    (group,) = state.firewall.remote_groups
    assert len(group.ipv6) == 3 * 2  # an address on each IPv6 subnet
    # deleting the SLAAC subnet takes its addresses off every port (a database cascade)
    assert api.delete(f"/v2.0/subnets/{slaac['id']}").status_code == 204
    state = compile_host(_mirror(api).snapshot_for("h1"), "h1")
    assert len(state.firewall.remote_groups[0].ipv6) == 3
    _same_as_full_read(api)
    # the remote group is deleted once empty: the rule naming it goes (another cascade)
    for port in members:
        assert api.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert api.delete(f"/v2.0/security-groups/{clients['id']}").status_code == 204
    state = compile_host(_mirror(api).snapshot_for("h1"), "h1")
    assert state.firewall.remote_groups == ()
    _same_as_full_read(api)
    assert _mirror(api).full_reads == reads


def test_a_write_by_another_process_makes_a_full_read(api: Api) -> None:
    api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64", ipv6_address_mode="dhcpv6-stateful")
    _same_as_full_read(api)
    reads = _mirror(api).full_reads
    other = Database(api.client.app.state.db.url)  # its own journal, as another process has
    try:
        other.write(lambda txn: None)  # a revision this process has no entry for
    finally:
        other.dispose()
    api.port(net["id"])
    _same_as_full_read(api)
    assert _mirror(api).full_reads == reads + 1


def test_metadata_follows_workloads_and_chosen_addresses_without_full_reads(api: Api) -> None:
    """A routed SLAAC network (no dnsmasq: served for metadata by the router leg only), a port
    with a chosen address on it (R8), and a workload with instance metadata whose second port
    is on a network the host does not serve: the mirror keeps the instance exactly."""
    api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    api.put("/fabric/v1/hosts/h2", {"roles": ["compute"]}, "admin")
    routed, elsewhere = api.network(), api.network()
    slaac = api.subnet(
        routed["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    api.subnet(elsewhere["id"], "2001:db8:2::/64", enable_dhcp=False)
    api.routed(slaac["id"])
    _same_as_full_read(api)
    reads = _mirror(api).full_reads

    chosen = api.port(
        routed["id"], fixed_ips=[{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::77"}]
    )
    second = api.port(elsewhere["id"])
    body = {
        "name": "vm1",
        "host": "h2",
        "port_ids": [chosen["id"], second["id"]],
        "user_data": "#cloud-config\n",
        "properties": {"role": "web"},
    }
    r = api.post("/fabric/v1/workloads", {"workload": body})
    assert r.status_code == 201, r.text
    workload = r.json()["workload"]
    state = compile_host(_mirror(api).snapshot_for("h1"), "h1")
    (instance,) = state.metadata.instances
    assert instance.instance_id == workload["id"] and instance.properties == (("role", "web"),)
    networks = json.loads(instance.network_data)["networks"]
    assert len(networks) == 2
    assert (networks[0]["type"], networks[0]["ip_address"]) == ("ipv6", "2001:db8:1::77")
    (served,) = state.metadata.ports
    assert "2001:db8:1::77" in served.addresses
    _same_as_full_read(api)
    # the second port leaves the workload's network: the instance's data follows
    assert api.delete(f"/v2.0/ports/{second['id']}").status_code == 204
    (instance,) = compile_host(_mirror(api).snapshot_for("h1"), "h1").metadata.instances
    assert len(json.loads(instance.network_data)["links"]) == 1
    _same_as_full_read(api)
    assert api.delete(f"/fabric/v1/workloads/{workload['id']}").status_code == 204
    assert compile_host(_mirror(api).snapshot_for("h1"), "h1").metadata.instances == ()
    _same_as_full_read(api)
    assert _mirror(api).full_reads == reads
