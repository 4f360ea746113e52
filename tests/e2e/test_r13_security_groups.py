"""R13: security groups for IPv6, proven by traffic between workloads on the real dataplane.

One IPv6 SLAAC network (its RAs from the network's own namespace), groups and rules made
through the API, and four workloads:

* ``server`` in group ``web`` only: ingress ICMPv6 echo-request (type 128) and TCP 8080-8081 from
  members of ``clients``, UDP 5000-5001 from the client's own address, IP protocol 253 from
  anywhere; egress anything (a new group's default rules);
* ``client`` in ``clients`` (egress only: nothing may open a flow towards it);
* ``other`` and ``buddy`` in the project's ``default`` group only.

Each allowed flow passes and its replies come back (stateful, though the client allows no
ingress); the same flow to another port or from another source is dropped; removing a rule
cuts new flows but keeps an established one; a port that joins ``clients`` is let in without
any rule changing (a set element); the default group lets its members reach each other.

The tests share the world (building it takes most of the time) and leave it as they found it,
so they pass in any order: a test that changes a port restores it, the rule that one removes
is its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import SLAAC, Lab, one_host_lab
from tests.e2e.probes import EchoServer, TcpSession, datagrams, tcp_connects
from tests.e2e.traffic import pings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

CIDR = "2001:db8:13::/64"


@dataclass
class World:
    lab: Lab
    web: dict
    clients: dict
    ports: dict[str, dict]
    workloads: dict[str, dict]

    def ns(self, name: str) -> str:
        return self.workloads[name]["namespace"]

    def address(self, name: str) -> str:
        (only,) = [ip["ip_address"] for ip in self.ports[name]["fixed_ips"]]
        return only


def _rule(lab: Lab, group: dict, **attrs: object) -> dict:
    return lab.create(
        "security_group_rule",
        security_group_id=group["id"],
        direction="ingress",
        ethertype="IPv6",
        **attrs,
    )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with one_host_lab() as lab:
        net = lab.network(name="r13")
        lab.subnet(net, CIDR, **SLAAC)
        web = lab.create("security_group", name="web")
        clients = lab.create("security_group", name="clients")
        _rule(lab, web, protocol="ipv6-icmp", port_range_min=128, remote_group_id=clients["id"])
        _rule(
            lab,
            web,
            protocol="tcp",
            port_range_min=8080,
            port_range_max=8081,
            remote_group_id=clients["id"],
        )
        ports = {
            "server": lab.port(net, security_groups=[web["id"]]),
            "client": lab.port(net, security_groups=[clients["id"]]),
            "other": lab.port(net),
            "buddy": lab.port(net),
        }
        client_address = ports["client"]["fixed_ips"][0]["ip_address"]
        _rule(
            lab,
            web,
            protocol="udp",
            port_range_min=5000,
            port_range_max=5001,
            remote_ip_prefix=f"{client_address}/128",
        )
        _rule(lab, web, protocol="253", remote_ip_prefix="::/0")
        workloads = {name: lab.workload(f"r13-{name}", port) for name, port in ports.items()}
        world = World(lab, web, clients, ports, workloads)
        lab.wait_active(*ports.values())
        for name in ports:
            lab.wait_addresses(workloads[name], world.address(name))
        yield world


def _pings(world: World, source: str, target: str) -> bool:
    return pings(world.ns(source), world.address(target), count=2)


def test_icmpv6_echo_is_allowed_by_type_from_the_remote_group_only(world: World) -> None:
    assert _pings(world, "client", "server")  # allowed, and the replies come back
    assert not _pings(world, "other", "server")  # not a member of clients
    assert not _pings(world, "server", "client")  # clients allows no ingress at all
    # by type: from the same allowed source, echo requests arrive and another type does not
    server, client = world.address("server"), world.address("client")
    echo = datagrams("icmp6", world.ns("server"), server, world.ns("client"), 128)
    assert echo == [client] * 3
    assert datagrams("icmp6", world.ns("server"), server, world.ns("client"), 200) == []


def test_tcp_on_the_rule_ports_from_the_remote_group_only(world: World) -> None:
    ports = (8079, 8080, 8081, 8082)
    with ExitStack() as servers:
        for port in ports:
            servers.enter_context(EchoServer(world.ns("server"), "::", port))
        server = world.address("server")
        reached = {p for p in ports if tcp_connects(world.ns("client"), server, p)}
        assert reached == {8080, 8081}  # the range's edges in, their neighbours out
        assert not tcp_connects(world.ns("other"), server, 8080)


def test_udp_port_range_from_a_remote_prefix(world: World) -> None:
    server, client = world.address("server"), world.address("client")
    for port in (5000, 5001):
        assert (
            datagrams("udp", world.ns("server"), server, world.ns("client"), port) == [client] * 3
        )
    assert datagrams("udp", world.ns("server"), server, world.ns("client"), 5002) == []
    assert datagrams("udp", world.ns("server"), server, world.ns("other"), 5000) == []


def test_an_arbitrary_ip_protocol_by_number(world: World) -> None:
    server, other = world.address("server"), world.address("other")
    assert datagrams("raw", world.ns("server"), server, world.ns("other"), 253) == [other] * 3
    assert datagrams("raw", world.ns("server"), server, world.ns("other"), 254) == []


def test_a_new_member_of_the_remote_group_is_let_in(world: World) -> None:
    lab = world.lab
    assert not _pings(world, "other", "server")
    groups = [world.clients["id"], *world.ports["other"]["security_groups"]]
    lab.update("port", world.ports["other"]["id"], security_groups=groups)
    try:
        wait_for(
            "other to be let in as a member of clients", lambda: _pings(world, "other", "server")
        )
    finally:
        lab.update("port", world.ports["other"]["id"], security_groups=groups[1:])
    wait_for("other to be shut out again", lambda: not _pings(world, "other", "server"))


def test_the_default_group_lets_its_members_in_and_keeps_others_out(world: World) -> None:
    assert _pings(world, "other", "buddy") and _pings(world, "buddy", "other")
    with EchoServer(world.ns("buddy"), "::", 9090):
        assert tcp_connects(world.ns("other"), world.address("buddy"), 9090)
        assert not tcp_connects(world.ns("server"), world.address("buddy"), 9090)  # web only


def test_removing_a_rule_cuts_new_flows_and_keeps_established_ones(world: World) -> None:
    """On a rule of its own (TCP 8090 from ``clients``): the other tests keep the world's rules
    whatever order they run in. The rule goes on the way out even if the test failed first."""
    lab, server = world.lab, world.address("server")
    rule = _rule(
        lab,
        world.web,
        protocol="tcp",
        port_range_min=8090,
        port_range_max=8090,
        remote_group_id=world.clients["id"],
    )
    try:
        with EchoServer(world.ns("server"), "::", 8090):
            wait_for(
                "the new rule to let clients in",
                lambda: tcp_connects(world.ns("client"), server, 8090),
            )
            with TcpSession(world.ns("client"), server, 8090) as session:
                assert session.connected and session.exchange("before") == "echo:before"
                lab.call("DELETE", f"/v2.0/security-group-rules/{rule['id']}", expect=204)
                wait_for(
                    "new TCP connections to be refused",
                    lambda: not tcp_connects(world.ns("client"), server, 8090),
                )
                assert session.exchange("after") == "echo:after"  # conntrack kept the flow
    finally:
        gone = lab.http.delete(f"/v2.0/security-group-rules/{rule['id']}")
        assert gone.status_code in (204, 404), gone.text  # 404: the test removed it
