"""/fabric/v1 host state as deltas: a client that holds a state the server still knows and says
it accepts deltas gets only the changed sections; everyone else gets the whole state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.api.conftest import Api
from v6fabric.agent.client import FabricStateClient
from v6fabric.hoststate import codec, sections
from v6fabric.hoststate.buckets import bucket_key
from v6fabric.hoststate.codec import DELTA_MEDIA_TYPE
from v6fabric.hoststate.firewall import member_bucket
from v6fabric.hoststate.metadata import MetadataInstanceBucket, MetadataPortBucket
from v6fabric.hoststate.model import HostState

STATE = "/fabric/v1/hosts/h1/state"
ACCEPT = {"Accept": f"{DELTA_MEDIA_TYPE}, application/json"}


def _host_with_a_workload(api: Api) -> dict[str, Any]:
    """h1 with one workload port in the default group (whose rules name it as remote)."""
    r = api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    assert r.status_code == 200, r.text
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = api.port(net["id"])
    body = {"workload": {"name": "vm1", "host": "h1", "port_ids": [port["id"]]}}
    assert api.post("/fabric/v1/workloads", body).status_code == 201
    return net


def _get(api: Api, etag: str | None = None, *, deltas: bool = True, wait: float = 0) -> Any:
    headers = {**(ACCEPT if deltas else {}), **({"If-None-Match": etag} if etag else {})}
    return api.get(f"{STATE}?wait={wait}", "admin", headers=headers)


def _full(api: Api) -> tuple[HostState, str]:
    r = _get(api, deltas=False)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return codec.decode(r.content), r.headers["etag"]


def test_a_member_joining_is_a_delta_of_one_bucket(api: Api) -> None:
    net = _host_with_a_workload(api)
    old, etag = _full(api)
    assert old.firewall.remote_groups, "the default group is a remote group of h1"
    joined = api.port(net["id"])  # on no host, but a member of the default group
    r = _get(api, etag)
    assert r.status_code == 200 and r.headers["content-type"] == DELTA_MEDIA_TYPE
    document = r.json()
    group_id = joined["security_groups"][0]
    cidr = f"{joined['fixed_ips'][0]['ip_address']}/128"
    assert set(document["sections"]) == {sections.bucket_name(group_id, member_bucket(cidr))}
    assert document["removed"] == [] and document["base"] == etag.strip('"')
    new, new_etag = _full(api)
    assert r.headers["etag"] == new_etag and document["etag"] == new_etag.strip('"')
    delta = codec.decode_delta(r.content)
    applied = sections.apply(old, delta)
    assert applied == new and codec.content_hash(applied) == document["etag"]
    assert applied.ports is old.ports and applied.firewall.ports is old.firewall.ports
    # it leaves: the delta removes or replaces that bucket, and still applies
    assert api.delete(f"/v2.0/ports/{joined['id']}").status_code == 204
    r = _get(api, new_etag)
    assert r.headers["content-type"] == DELTA_MEDIA_TYPE
    assert sections.apply(new, codec.decode_delta(r.content)) == _full(api)[0]


def test_full_state_for_old_clients_and_unknown_bases(api: Api) -> None:
    net = _host_with_a_workload(api)
    _, etag = _full(api)
    api.port(net["id"])
    new, new_etag = _full(api)
    old_client = _get(api, etag, deltas=False)  # no Accept of deltas: the whole state
    assert old_client.headers["content-type"] == "application/json"
    assert codec.decode(old_client.content) == new and old_client.headers["etag"] == new_etag
    unknown = _get(api, '"0123456789abcdef0123456789abcdef"')
    assert unknown.headers["content-type"] == "application/json"
    assert codec.decode(unknown.content) == new
    first = _get(api)  # no If-None-Match
    assert first.headers["content-type"] == "application/json"


def test_unchanged_is_304_for_delta_clients_too(api: Api) -> None:
    _host_with_a_workload(api)
    _, etag = _full(api)
    r = _get(api, etag, wait=0.2)
    assert r.status_code == 304 and r.headers["etag"] == etag


def _agent_client(
    api: Api, seen: list[httpx.Response], tamper: Callable[[bytes], bytes] | None = None
) -> FabricStateClient:
    """The agent's own client, talking to the in-process app; ``tamper`` spoils deltas."""

    def forward(request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        r = api.request(request.method, request.url.raw_path.decode(), "admin", headers=headers)
        seen.append(r)
        content = r.content
        if tamper and r.headers.get("content-type") == DELTA_MEDIA_TYPE:
            content = tamper(content)
        headers = {k: v for k, v in r.headers.items() if k.lower() != "content-length"}
        return httpx.Response(r.status_code, headers=headers, content=content)

    return FabricStateClient("http://fabric.test", None, transport=httpx.MockTransport(forward))


def test_the_agent_client_applies_deltas(api: Api) -> None:
    net = _host_with_a_workload(api)
    seen: list[httpx.Response] = []
    client = _agent_client(api, seen)
    got = client.get_state("h1", None, wait=0)
    assert got is not None
    state, etag = got
    assert client.get_state("h1", etag, wait=0) is None  # 304
    api.port(net["id"])
    got = client.get_state("h1", etag, wait=0)
    assert got is not None and seen[-1].headers["content-type"] == DELTA_MEDIA_TYPE
    new, new_etag = got
    assert (new, new_etag) == _full(api) and new.workloads is state.workloads
    # an ETag the client did not get from this server (its own state lost): no delta asked
    got = client.get_state("h1", '"0123456789abcdef0123456789abcdef"', wait=0)
    assert got is not None and got[0] == new
    assert DELTA_MEDIA_TYPE not in seen[-1].request.headers.get("accept", "")
    client.close()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw[:-2],  # cut short
        lambda raw: orjson.dumps(orjson.loads(raw) | {"base": "f" * 32}),  # another base
        lambda raw: orjson.dumps(orjson.loads(raw) | {"sections": {}}),  # a change left out
    ],
)
def test_a_delta_that_does_not_apply_means_one_full_fetch(
    api: Api, tamper: Callable[[bytes], bytes]
) -> None:
    net = _host_with_a_workload(api)
    seen: list[httpx.Response] = []
    client = _agent_client(api, seen, tamper)
    got = client.get_state("h1", None, wait=0)
    assert got is not None
    api.port(net["id"])
    before = len(seen)
    assert client.get_state("h1", got[1], wait=0) == _full(api)
    delta, full = seen[before:]
    assert delta.headers["content-type"] == DELTA_MEDIA_TYPE
    assert full.headers["content-type"] == "application/json"
    assert "if-none-match" not in full.request.headers
    client.close()


def test_a_workload_on_a_served_network_is_a_delta_of_its_metadata_buckets(api: Api) -> None:
    """h1 serves a routed network's metadata; workloads with user_data come on h2. The delta
    carries one port bucket and one instance bucket, and applies to the full state."""
    api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    api.put("/fabric/v1/hosts/h2", {"roles": ["compute"]}, "admin")
    net = api.network()
    slaac = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    api.routed(slaac["id"])

    def workload(name: str) -> tuple[str, str]:
        port = api.port(net["id"])
        body = {"name": name, "host": "h2", "port_ids": [port["id"]], "user_data": "#x\n" * 500}
        r = api.post("/fabric/v1/workloads", {"workload": body})
        assert r.status_code == 201, r.text
        return port["id"], r.json()["workload"]["id"]

    workload("vm1")
    seen: list[httpx.Response] = []
    client = _agent_client(api, seen)
    got = client.get_state("h1", None, wait=0)
    assert got is not None and len(got[0].metadata.instances) == 1
    port_id, workload_id = workload("vm2")
    new = client.get_state("h1", got[1], wait=0)
    assert new is not None and seen[-1].headers["content-type"] == DELTA_MEDIA_TYPE
    names = {n for n in seen[-1].json()["sections"] if n.startswith("metadata")}
    assert names == {
        f"metadata.ports/{bucket_key(port_id, MetadataPortBucket.COUNT)}",
        f"metadata.instances/{bucket_key(workload_id, MetadataInstanceBucket.COUNT)}",
    }
    assert new == _full(api) and len(new[0].metadata.instances) == 2
    (kept,) = got[0].metadata.instance_buckets  # the held bucket, kept unless vm2 joined it
    if kept.key != bucket_key(workload_id, MetadataInstanceBucket.COUNT):
        assert any(b is kept for b in new[0].metadata.instance_buckets)
    # an agent of the first delta kind (no metadata buckets) gets whole states
    old_kind = {"Accept": "application/vnd.v6fabric.hoststate-delta+json, application/json"}
    r = api.get(STATE, "admin", headers={**old_kind, "If-None-Match": got[1]})
    assert r.headers["content-type"] == "application/json"
    assert codec.decode(r.content) == new[0]
    client.close()
