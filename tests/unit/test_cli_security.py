"""`security group`, `security group rule` and the ports' security options, against the fake
cloud of test_cli.py: what the CLI sends, and how it shows rules."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result

from tests.unit.fake_cloud import FakeCloud

TCP_22_23 = {
    "direction": "ingress",
    "ethertype": "IPv6",
    "protocol": "tcp",
    "port_range_min": 22,
    "port_range_max": 23,
    "remote_ip_prefix": "2001:db8::/64",
}


def test_group_create_set_and_show(run: Callable[..., Result], cloud: FakeCloud) -> None:
    assert (
        run("security", "group", "create", "web", "--stateless", "--description", "w").exit_code
        == 0
    )
    assert cloud.bodies("POST", "/v2.0/security-groups") == [
        {"security_group": {"name": "web", "description": "w", "stateful": False}}
    ]
    (group,) = cloud.store["security-groups"].values()
    group["security_group_rules"] = [
        {"direction": "egress", "ethertype": "IPv6", "protocol": None},
        TCP_22_23,
    ]
    result = run("security", "group", "show", "web")
    assert result.exit_code == 0, result.output
    assert "egress IPv6 any" in result.stdout
    assert "ingress IPv6 tcp 22:23 from 2001:db8::/64" in result.stdout
    assert run("security", "group", "set", "web", "--name", "www", "--stateful").exit_code == 0
    assert cloud.bodies("PUT", f"/v2.0/security-groups/{group['id']}") == [
        {"security_group": {"name": "www", "stateful": True}}
    ]


def test_rule_create_options_like_openstack(run: Callable[..., Result], cloud: FakeCloud) -> None:
    web = cloud.add("security-groups", name="web")
    peers = cloud.add("security-groups", name="peers")
    args = ["security", "group", "rule", "create", "web", "--protocol", "tcp"]
    assert run(*args, "--dst-port", "22:23", "--remote-ip", "2001:db8::/64").exit_code == 0
    assert run(*args, "--dst-port", "443", "--egress", "--remote-group", "peers").exit_code == 0
    icmp = ["security", "group", "rule", "create", "web", "--protocol", "ipv6-icmp"]
    assert run(*icmp, "--icmp-type", "128", "--icmp-code", "0").exit_code == 0
    bodies = [b["security_group_rule"] for b in cloud.bodies("POST", "/v2.0/security-group-rules")]
    assert bodies == [
        {"security_group_id": web["id"], **TCP_22_23},
        {
            "security_group_id": web["id"],
            "direction": "egress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "port_range_min": 443,
            "port_range_max": 443,
            "remote_group_id": peers["id"],
        },
        {
            "security_group_id": web["id"],
            "direction": "ingress",
            "ethertype": "IPv6",
            "protocol": "ipv6-icmp",
            "port_range_min": 128,
            "port_range_max": 0,
        },
    ]


def test_rule_option_mistakes_are_usage_errors(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    cloud.add("security-groups", name="web")
    base = ["security", "group", "rule", "create", "web", "--protocol", "tcp"]
    result = run(*base, "--dst-port", "ssh")
    assert result.exit_code == 2 and "PORT or PORT:PORT" in result.output
    result = run(*base, "--dst-port", "22", "--icmp-type", "8")
    assert result.exit_code == 2
    assert cloud.bodies("POST", "/v2.0/security-group-rules") == []


def test_rule_list_filters_and_delete_by_id(run: Callable[..., Result], cloud: FakeCloud) -> None:
    web = cloud.add("security-groups", name="web")
    rule = cloud.add(
        "security-group-rules",
        security_group_id=web["id"],
        direction="ingress",
        ethertype="IPv6",
        protocol="ipv6-icmp",
        port_range_min=128,
        port_range_max=None,
        remote_ip_prefix=None,
        remote_group_id=None,
    )
    result = run("security", "group", "rule", "list", "web", "--ingress")
    assert result.exit_code == 0, result.output
    assert rule["id"] in result.stdout and "type 128" in result.stdout
    listing = cloud.requests[-1]
    assert listing.url.params["security_group_id"] == web["id"]
    assert listing.url.params["direction"] == "ingress"
    assert run("security", "group", "rule", "delete", rule["id"]).exit_code == 0
    assert cloud.store["security-group-rules"] == {}


def test_port_security_options(run: Callable[..., Result], cloud: FakeCloud) -> None:
    net = cloud.add("networks", name="blue")
    web = cloud.add("security-groups", name="web")
    db = cloud.add("security-groups", name="db")
    assert (
        run("port", "create", "p1", "--network", "blue", "--security-group", "web").exit_code == 0
    )
    assert run("port", "create", "p2", "--network", "blue", "--no-security-group").exit_code == 0
    assert (
        run("port", "create", "p3", "--network", "blue", "--disable-port-security").exit_code == 0
    )
    bodies = [b["port"] for b in cloud.bodies("POST", "/v2.0/ports")]
    assert [b.get("security_groups") for b in bodies] == [[web["id"]], [], None]
    assert bodies[2]["port_security_enabled"] is False and bodies[0]["network_id"] == net["id"]
    port = next(p for p in cloud.store["ports"].values() if p["name"] == "p1")
    assert run("port", "set", "p1", "--security-group", "db").exit_code == 0
    assert run("port", "set", "p1", "--no-security-group", "--disable-port-security").exit_code == 0
    assert [b["port"] for b in cloud.bodies("PUT", f"/v2.0/ports/{port['id']}")] == [
        {"security_groups": [web["id"], db["id"]]},
        {"security_groups": [], "port_security_enabled": False},
    ]
