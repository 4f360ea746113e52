"""The firewall from the store's wire shapes to the agent's plan (R13, R15, R16, R21).

Compile: which ports are guarded, what they may send, how Neutron's rules translate and who
the members of a remote group are. Agent (fake drivers): the whole ruleset on the first load,
then one transaction per change on the loaded tables (set elements for addresses and members,
a port's or group's own chains for ports and rules), nothing when it is loaded, removal when
the host has no port left. Its files: the spec without members, and a file per member bucket,
written only when changed, from which a restarted agent resumes.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.test_compiler import (
    COMPUTE,
    OTHER,
    SLAAC,
    dhcp_port,
    network,
    port,
    snapshot,
    subnet,
    uid,
    workload,
)
from tests.unit.test_reconcile import HOST_NS, RUN_DIR, STAND_IN, new_host
from v6fabric.agent import firewall_loaded, observe_firewall
from v6fabric.agent.actions import LoadFirewall, RemoveFirewall
from v6fabric.agent.host import FakeHost
from v6fabric.agent.loop import Agent
from v6fabric.compiler import compile_host
from v6fabric.compiler.firewall import zone_numbers
from v6fabric.drivers.files import digest
from v6fabric.hoststate import codec
from v6fabric.hoststate.firewall import (
    AllowedAddress,
    RemoteGroup,
    SecurityGroupRule,
    member_bucket,
)

NET = network(1)
SUB = subnet(1, NET, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
WEB, CLIENTS = uid("g", 1), uid("g", 2)


def rule(group: str, number: int, **attrs: Any) -> dict[str, Any]:
    return {
        "id": uid("r", number),
        "security_group_id": group,
        "direction": "ingress",
        "ethertype": "IPv6",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
        **attrs,
    }


def group(group_id: str, *rules: dict[str, Any], stateful: bool = True) -> dict[str, Any]:
    return {
        "id": group_id,
        "name": group_id[:4],
        "stateful": stateful,
        "security_group_rules": rules,
    }


def guarded(number: int, groups: list[str], host: str = COMPUTE, **attrs: Any) -> dict[str, Any]:
    wire = port(number, NET, (SUB, f"2001:db8:1::{number}"), host=host)
    return {**wire, "security_groups": groups, **attrs}


SERVER = guarded(10, [WEB], allowed_address_pairs=[{"ip_address": "2001:db8:1:9::/64"}])
CLIENT = guarded(11, [CLIENTS], host=OTHER)
GROUPS = (
    group(
        WEB,
        rule(
            WEB,
            1,
            protocol="tcp",
            port_range_min=8080,
            port_range_max=8080,
            remote_group_id=CLIENTS,
        ),
        rule(WEB, 2, protocol="icmp", port_range_min=128, port_range_max=0),
        rule(WEB, 3, direction="egress"),
    ),
    group(CLIENTS, rule(CLIENTS, 4, direction="egress")),
)


def world(*ports: dict[str, Any], groups: tuple = GROUPS) -> Any:
    return snapshot(
        networks=[NET],
        subnets=[SUB],
        ports=[dhcp_port(1, NET, (SUB, "2001:db8:1::2")), *ports],
        workloads=[workload(n, p, host=p["binding:host_id"]) for n, p in enumerate(ports, 1)],
        security_groups=groups,
    )


def test_a_workload_port_is_guarded_with_its_addresses_pairs_and_groups() -> None:
    fw = compile_host(world(SERVER, CLIENT), COMPUTE).firewall
    (server,) = fw.ports
    assert server.port_security and server.security_groups == (WEB,)
    assert set(server.allowed) == {
        AllowedAddress("2001:db8:1::10/128", SERVER["mac_address"]),
        AllowedAddress("2001:db8:1:9::/64", SERVER["mac_address"]),  # a pair without a MAC
    }
    (net,) = fw.networks
    assert net.zone == zone_numbers([NET["id"]])[NET["id"]]


def test_rules_translate_neutron_encoding_and_remote_groups_span_hosts() -> None:
    fw = compile_host(world(SERVER, CLIENT), COMPUTE).firewall
    (web,) = fw.security_groups  # only the groups of local guarded ports
    rules = {r.rule_id: r for r in web.rules}
    assert rules[uid("r", 1)] == SecurityGroupRule(
        "ingress", "IPv6", 6, 8080, 8080, remote_group=CLIENTS, rule_id=uid("r", 1)
    )
    icmp = rules[uid("r", 2)]  # "icmp" in an IPv6 rule is ICMPv6; type/code in their fields
    assert (icmp.protocol, icmp.icmp_type, icmp.icmp_code, icmp.port_min) == (58, 128, 0, None)
    # the client is on another host, but it is a member of the remote group
    assert fw.remote_groups == (RemoteGroup.of(CLIENTS, ipv6=("2001:db8:1::11/128",)),)


def test_port_security_off_and_network_owned_ports_are_not_guarded() -> None:
    open_port = guarded(12, [], port_security_enabled=False)
    state = compile_host(world(open_port), COMPUTE)
    assert [p.port_security for p in state.firewall.ports] == [False]
    dhcp = compile_host(world(SERVER), "net1").firewall.ports
    assert [(p.role, p.port_security, p.security_groups) for p in dhcp] == [("dhcp", False, ())]


def test_zones_are_stable_when_other_networks_come_and_go() -> None:
    ids = [uid("n", n) for n in range(1, 40)]
    alone = zone_numbers(ids[:1])
    together = zone_numbers(ids)
    assert together[ids[0]] == alone[ids[0]]
    assert len(set(together.values())) == len(ids)
    assert all(1 <= z <= 65535 for z in together.values())


def test_the_agent_loads_once_then_updates_in_place_and_removes_the_tables() -> None:
    fake, agent = new_host()
    state = compile_host(world(SERVER, CLIENT), COMPUTE)
    report = agent.run_once(state)
    (load,) = [a for a in report.applied if isinstance(a, LoadFirewall)]
    assert "table inet v6fabric" in load.script
    assert agent.run_once(state).applied == []  # loaded: nothing to do
    # a new member of the remote group: only set elements change
    other = guarded(13, [CLIENTS], host=OTHER)
    report = agent.run_once(compile_host(world(SERVER, CLIENT, other), COMPUTE))
    (update,) = [a for a in report.applied if isinstance(a, LoadFirewall)]
    assert all(line.startswith("add element ") for line in update.script.splitlines())
    assert "2001:db8:1::13" in update.script
    # a rule removed: its group's chain is rewritten in place, the set it named goes
    fewer = (group(WEB, *GROUPS[0]["security_group_rules"][1:]), GROUPS[1])
    report = agent.run_once(compile_host(world(SERVER, CLIENT, other, groups=fewer), COMPUTE))
    (reload,) = [a for a in report.applied if isinstance(a, LoadFirewall)]
    assert reload.script.startswith(f"flush chain inet v6fabric sg_{WEB}_ingress\n")
    assert f"delete set inet v6fabric rg6_{CLIENTS}" in reload.script
    flushed = {line for line in reload.script.splitlines() if line.startswith("flush")}
    assert flushed == {f"flush chain inet v6fabric sg_{WEB}_ingress"}  # that chain only
    host = agent.layout.host_netns
    assert len(fake.drivers.nftables.loaded[host]) == 3  # type: ignore[attr-defined]
    assert "table inet v6fabric {" in fake.drivers.nftables.loaded[host][0]  # type: ignore[attr-defined]
    # a second workload port on this host, in the server's groups: it shares their chains, so
    # only elements of the bridge table's sets come, nothing rewritten
    second = guarded(14, [WEB])
    report = agent.run_once(
        compile_host(world(SERVER, CLIENT, other, second, groups=fewer), COMPUTE)
    )
    (plugged,) = [a for a in report.applied if isinstance(a, LoadFirewall)]
    lines = plugged.script.splitlines()
    assert lines and all(line.startswith("add element bridge v6fabric ") for line in lines)
    assert second["mac_address"] in plugged.script  # this port's elements, not another's
    assert "2001:db8:1::14" in plugged.script
    # nothing left on the host: our tables go
    report = agent.run_once(compile_host(snapshot(networks=[NET], subnets=[SUB]), COMPUTE))
    assert any(isinstance(a, RemoveFirewall) for a in report.applied)
    assert fake.drivers.nftables.tables(host) == set()  # type: ignore[attr-defined]


def test_a_failed_load_fails_closed_and_leaves_no_marker() -> None:
    fake, agent = new_host()
    fake.drivers.nftables.fail_next = True  # type: ignore[attr-defined]
    report = agent.run_once(compile_host(world(SERVER, CLIENT), COMPUTE))
    failed = {type(a).__name__: error for a, error in report.failed}
    assert "LoadFirewall" in failed
    assert failed["PlugWorkload"] == "waiting for the firewall to load"  # fails closed
    assert fake.files.read(agent.layout.firewall_loaded) is None
    assert fake.drivers.workloads.plugged() == set()  # type: ignore[attr-defined]


def _restarted(fake: FakeHost, monkeypatch: pytest.MonkeyPatch) -> Agent:
    """A new agent process on the same host: nothing in memory, the same files and tables."""
    monkeypatch.setattr(observe_firewall, "_JUST_LOADED", {})
    monkeypatch.setattr(firewall_loaded, "_BUCKET_DIGESTS", {})
    return Agent(
        "h1", host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN
    )


def _loads(report: Any) -> list[LoadFirewall]:
    return [a for a in report.applied if isinstance(a, LoadFirewall)]


def test_a_member_joining_rewrites_its_bucket_file_only_and_a_restart_resumes_from_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, agent = new_host()
    state = compile_host(world(SERVER, CLIENT), COMPUTE)
    agent.run_once(state)
    layout, files = agent.layout, fake.files
    (clients,) = state.firewall.remote_groups
    stored = {p for p in files.data if layout.firewall_members in p.parents}
    assert stored == {layout.firewall_bucket(CLIENTS, b.key) for b in clients.buckets}
    assert "2001:db8:1::11" not in (files.read(layout.firewall_spec) or "")  # members apart
    # a member joins on another host: its bucket's file and the marker change, nothing else
    joined = compile_host(world(SERVER, CLIENT, guarded(13, [CLIENTS], host=OTHER)), COMPUTE)
    before = dict(files.data)
    agent.run_once(joined)
    changed = {p for p in files.data.keys() | before.keys() if files.data.get(p) != before.get(p)}
    key = member_bucket("2001:db8:1::13/128")
    assert changed == {layout.firewall_bucket(CLIENTS, key), layout.firewall_loaded}
    # restarted: what the files say is what is loaded, nothing to do
    assert _restarted(fake, monkeypatch).run_once(joined).applied == []
    # restarted while the member left: one element line, its file follows
    report = _restarted(fake, monkeypatch).run_once(state)
    (update,) = _loads(report)
    assert update.script == f"delete element inet v6fabric rg6_{CLIENTS} {{ 2001:db8:1::13 }}\n"
    shared = key == member_bucket("2001:db8:1::11/128")
    assert (layout.firewall_bucket(CLIENTS, key) in files.data) == shared
    assert _restarted(fake, monkeypatch).run_once(state).applied == []


@pytest.mark.parametrize("damage", ["bucket file missing", "bucket file unreadable", "nft-6"])
def test_a_restart_with_files_it_cannot_trust_loads_the_whole_ruleset(
    damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, agent = new_host()
    state = compile_host(world(SERVER, CLIENT), COMPUTE)
    agent.run_once(state)
    layout = agent.layout
    (clients,) = state.firewall.remote_groups
    path = layout.firewall_bucket(CLIENTS, clients.buckets[0].key)
    if damage == "bucket file missing":
        fake.files.remove(path)
    elif damage == "bucket file unreadable":
        fake.files.write(path, '{"remote_groups": [')
    else:  # what an agent of the previous format left: members inside spec.json, no files
        old = codec.to_dict(state.firewall)
        old["remote_groups"] = [{"group_id": CLIENTS, "ipv6": list(clients.ipv6), "ipv4": []}]
        spec_json = orjson.dumps(old).decode()
        fake.files.remove_tree(layout.firewall_members)
        fake.files.write(layout.firewall_spec, spec_json)
        fake.files.write(layout.firewall_loaded, digest("nft-6\n" + spec_json) + "\n")
    # the next change (here: a member joins) loads the whole ruleset, and writes every file
    joined = compile_host(world(SERVER, CLIENT, guarded(13, [CLIENTS], host=OTHER)), COMPUTE)
    (load,) = _loads(_restarted(fake, monkeypatch).run_once(joined))
    assert "table inet v6fabric {" in load.script
    assert path in fake.files.data
    assert _restarted(fake, monkeypatch).run_once(joined).applied == []
