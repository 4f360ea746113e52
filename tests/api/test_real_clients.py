"""Real OpenStack clients against a real server: openstacksdk in-process, the openstack CLI as a
subprocess, both over HTTP to uvicorn on a loopback port (see ``live_server.py``).

What the clients must get right here is the whole chain: Keystone discovery and password auth,
the service catalog, Neutron's resource shapes, filters, and the error shapes that the clients
turn into their exceptions and messages.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import openstack.config
import openstack.connection
import pytest
from openstack import exceptions as osexc

from tests.api.live_server import LiveServer, live_server

NEUTRON_UNEQUAL_MODES = "If both attributes are set, they must be the same value"
PASSWORDS = {"alice": "alice-secret-pw", "bob": "bob-secret-pw"}
PROJECTS = {"alice": "demo", "bob": "other", "admin": "admin"}
OPENSTACK_CLI = Path(sys.executable).with_name("openstack")
CLI_TIMEOUT = 60

pytestmark = pytest.mark.clients


# --- helpers --------------------------------------------------------------------------------


def eui64(prefix: str, mac: str) -> str:
    """Modified EUI-64 address (RFC 4291 appendix A) of ``mac`` in the /64 ``prefix``, computed
    here by hand: ff:fe in the middle of the MAC and the universal/local bit flipped."""
    octets = [int(part, 16) for part in mac.split(":")]
    assert len(octets) == 6, mac
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    network = ipaddress.IPv6Network(prefix)
    assert network.prefixlen == 64, prefix
    return str(network.network_address + int.from_bytes(iid, "big"))


def test_eui64_helper_matches_known_vectors() -> None:
    assert eui64("2001:db8::/64", "00:01:02:03:04:05") == "2001:db8::201:2ff:fe03:405"
    assert eui64("2001:db8:1::/64", "fa:16:3e:12:34:56") == "2001:db8:1:0:f816:3eff:fe12:3456"


def ips_by_subnet(port: Any) -> dict[str, list[str]]:
    """{subnet_id: [normalised addresses]} of a port (an SDK resource or a CLI/JSON dict)."""
    out: dict[str, list[str]] = {}
    for entry in port["fixed_ips"]:
        out.setdefault(entry["subnet_id"], []).append(
            str(ipaddress.ip_address(entry["ip_address"]))
        )
    return out


def connect(server: LiveServer, user: str) -> openstack.connection.Connection:
    return openstack.connection.Connection(
        auth_url=server.identity_url,
        username=user,
        password=PASSWORDS[user],
        project_name=PROJECTS[user],
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )


@dataclass
class Cloud:
    server: LiveServer
    home: Path  # HOME and cwd of CLI runs: no stray clouds.yaml, no shared cache
    admin_password: str
    project_ids: dict[str, str]
    sdk: dict[str, openstack.connection.Connection]


# --- the server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    base = tmp_path_factory.mktemp("real-clients")
    with live_server(base / "state") as server:
        identity = server.app.state.identity
        # The first-start path: project and user "admin", credentials written to files.
        assert identity.ensure_admin(base / "credentials") is not None
        admin_config = openstack.config.OpenStackConfig(
            config_files=[str(base / "credentials" / "clouds.yaml")],
            vendor_files=[],
            secure_files=[],
            load_envvars=False,
        ).get_one(cloud="v6fabric")
        admin_password = admin_config.auth["password"]
        project_ids = {"admin": identity.get_project("admin")["id"]}
        for user in ("alice", "bob"):
            project = identity.create_project(PROJECTS[user])
            project_ids[PROJECTS[user]] = project["id"]
            identity.create_user(user, PASSWORDS[user], project=PROJECTS[user], role="member")
        sdk = {user: connect(server, user) for user in ("alice", "bob")}
        # admin through the clouds.yaml that ensure_admin wrote
        sdk["admin"] = openstack.connection.Connection(config=admin_config)
        home = base / "home"
        home.mkdir()
        try:
            yield Cloud(server, home, admin_password, project_ids, sdk)
        finally:
            for conn in sdk.values():
                conn.close()


# --- openstacksdk ---------------------------------------------------------------------------

DHCP = "network:dhcp"  # every network with a DHCP subnet has its DHCP port, as in Neutron
MODES = {
    # name: (cidr, ipv6_ra_mode, ipv6_address_mode)
    "slaac": ("2001:db8:1::/64", "slaac", "slaac"),
    "stateless": ("2001:db8:2::/64", "dhcpv6-stateless", "dhcpv6-stateless"),
    "stateful": ("2001:db8:3::/64", "dhcpv6-stateful", "dhcpv6-stateful"),
    "ra-only": ("2001:db8:4::/64", "dhcpv6-stateful", None),  # radvd M flag, no address mode
    "address-only": ("2001:db8:5::/64", None, "slaac"),  # external router RAs, EUI-64 here
}
AUTO_ADDRESS = {"slaac", "stateless", "address-only"}  # Neutron's is_auto_address_subnet
POOLED_V6 = {"stateful", "ra-only"}


def test_sdk_network_subnets_ports_lifecycle(cloud: Cloud) -> None:
    alice = cloud.sdk["alice"].network
    net = alice.create_network(name="sdk-net")
    assert net.project_id == cloud.project_ids["demo"]
    assert net.status == "ACTIVE" and net.subnet_ids == []

    # one subnet per IPv6 mode, and an IPv4 subnet
    subnets = {}
    for name, (cidr, ra_mode, address_mode) in MODES.items():
        attrs = {"ipv6_ra_mode": ra_mode, "ipv6_address_mode": address_mode}
        attrs = {key: value for key, value in attrs.items() if value is not None}
        subnet = alice.create_subnet(network_id=net.id, name=name, ip_version=6, cidr=cidr, **attrs)
        assert (subnet.ip_version, subnet.cidr) == (6, cidr)
        assert (subnet.ipv6_ra_mode, subnet.ipv6_address_mode) == (ra_mode, address_mode)
        assert subnet.is_dhcp_enabled is True
        assert subnet.gateway_ip == str(ipaddress.IPv6Network(cidr).network_address)
        subnets[name] = subnet
    v4 = alice.create_subnet(network_id=net.id, name="v4", ip_version=4, cidr="10.20.0.0/24")
    assert v4.gateway_ip == "10.20.0.1" and v4.ipv6_ra_mode is None
    subnets["v4"] = v4
    ids = {name: subnet.id for name, subnet in subnets.items()}
    assert set(alice.get_network(net.id).subnet_ids) == set(ids.values())

    # an automatic port: EUI-64 of its MAC on every auto-address subnet, one pooled address
    # from one stateful-kind IPv6 subnet and one IPv4 address
    auto = alice.create_port(network_id=net.id, name="auto")
    got = ips_by_subnet(auto)
    for name in AUTO_ADDRESS:
        assert got[ids[name]] == [eui64(MODES[name][0], auto.mac_address)], name
    assert len(got[ids["v4"]]) == 1
    assert ipaddress.ip_address(got[ids["v4"]][0]) in ipaddress.ip_network("10.20.0.0/24")
    pooled = [ids[name] for name in POOLED_V6 if ids[name] in got]
    assert len(pooled) == 1, got
    assert len(got) == len(AUTO_ADDRESS) + 2

    # a chosen MAC: the textbook EUI-64 vector
    known = alice.create_port(network_id=net.id, name="known", mac_address="00:01:02:03:04:05")
    assert ips_by_subnet(known)[ids["slaac"]] == ["2001:db8:1:0:201:2ff:fe03:405"]

    # a chosen stateful address: exactly that, plus the EUI-64 addresses, no IPv4
    chosen = alice.create_port(
        network_id=net.id,
        name="chosen",
        fixed_ips=[{"subnet_id": ids["stateful"], "ip_address": "2001:db8:3::42"}],
    )
    got = ips_by_subnet(chosen)
    assert got[ids["stateful"]] == ["2001:db8:3::42"]
    for name in AUTO_ADDRESS:
        assert got[ids[name]] == [eui64(MODES[name][0], chosen.mac_address)], name
    assert set(got) == {ids["stateful"]} | {ids[name] for name in AUTO_ADDRESS}

    # the same address again: 409 IpAddressAlreadyAllocated
    with pytest.raises(osexc.ConflictException) as conflict:
        alice.create_port(
            network_id=net.id,
            fixed_ips=[{"subnet_id": ids["stateful"], "ip_address": "2001:db8:3::42"}],
        )
    assert conflict.value.status_code == 409
    assert conflict.value.request_id.startswith("req-")
    assert "2001:db8:3::42" in str(conflict.value)

    # listing with filters
    assert [n.id for n in alice.networks(name="sdk-net")] == [net.id]
    slaac_addressed = {s.id for s in alice.subnets(network_id=net.id, ipv6_address_mode="slaac")}
    assert slaac_addressed == {ids["slaac"], ids["address-only"]}
    assert {s.id for s in alice.subnets(network_id=net.id, ipv6_ra_mode="dhcpv6-stateful")} == {
        ids["stateful"],
        ids["ra-only"],
    }
    assert [s.id for s in alice.subnets(network_id=net.id, ip_version=4)] == [ids["v4"]]
    assert [s.id for s in alice.subnets(cidr="2001:db8:2::/64")] == [ids["stateless"]]
    assert {p.id for p in alice.ports(network_id=net.id, device_owner="")} == {
        auto.id,
        known.id,
        chosen.id,
    }
    assert [p.id for p in alice.ports(fixed_ips=["ip_address=2001:db8:3::42"])] == [chosen.id]
    assert [p.id for p in alice.ports(mac_address="00:01:02:03:04:05")] == [known.id]
    assert [p.id for p in alice.ports(name="chosen", network_id=net.id)] == [chosen.id]
    on_stateful = {
        p.id
        for p in alice.ports(fixed_ips=[f"subnet_id={ids['stateful']}"])
        if p.device_owner != DHCP
    }
    expected = {p.id for p in (auto, known, chosen) if ids["stateful"] in ips_by_subnet(p)}
    assert chosen.id in on_stateful and on_stateful == expected
    substr = {p.id for p in alice.ports(fixed_ips=["ip_address_substr=2001:db8:3::4"])}
    assert substr == {chosen.id}
    # pages of one, followed by the SDK through the ports_links "next" link
    page = alice.get("/ports", params={"network_id": net.id, "device_owner": "", "limit": 1}).json()
    assert len(page["ports"]) == 1 and page["ports_links"][0]["rel"] == "next"
    paged = [p.id for p in alice.ports(network_id=net.id, device_owner="", limit=1)]
    assert sorted(paged) == sorted({auto.id, known.id, chosen.id})
    names = [s.name for s in alice.subnets(network_id=net.id, sort_key="name", sort_dir="desc")]
    assert names == sorted(MODES.keys() | {"v4"}, reverse=True)
    # a subset of fields, as clients ask for them
    slim = list(alice.ports(network_id=net.id, device_owner="", fields=["id", "mac_address"]))
    assert {p.id for p in slim} == {auto.id, known.id, chosen.id}
    assert all(p.name is None for p in slim)

    # update: rename, move the stateful address; the EUI-64 addresses stay
    revision = chosen.revision_number  # update_port refreshes the object it is given
    updated = alice.update_port(
        chosen,
        name="moved",
        fixed_ips=[{"subnet_id": ids["stateful"], "ip_address": "2001:db8:3::43"}],
    )
    assert updated.name == "moved"
    got = ips_by_subnet(updated)
    assert got[ids["stateful"]] == ["2001:db8:3::43"]
    assert got[ids["slaac"]] == [eui64(MODES["slaac"][0], chosen.mac_address)]
    assert updated.revision_number > revision
    # the old address is free again
    again = alice.create_port(
        network_id=net.id,
        fixed_ips=[{"subnet_id": ids["stateful"], "ip_address": "2001:db8:3::42"}],
    )
    assert ips_by_subnet(again)[ids["stateful"]] == ["2001:db8:3::42"]
    assert alice.update_network(net, name="sdk-net-2").name == "sdk-net-2"
    subnet = alice.update_subnet(
        ids["stateful"], name="stateful-2", dns_nameservers=["2001:db8::53"]
    )
    assert (subnet.name, subnet.dns_nameservers) == ("stateful-2", ["2001:db8::53"])
    # the IPv6 modes are create-only
    with pytest.raises(osexc.BadRequestException):
        alice.update_subnet(ids["slaac"], ipv6_address_mode="dhcpv6-stateless")

    # delete: in-use errors first, then everything
    with pytest.raises(osexc.ConflictException):
        alice.delete_subnet(ids["stateful"])  # addresses in use: SubnetInUse
    with pytest.raises(osexc.ConflictException):
        alice.delete_network(net)  # ports on it
    for port in (auto, known, chosen, again):
        alice.delete_port(port)
    assert [p.device_owner for p in alice.ports(network_id=net.id)] == [DHCP]  # only its own
    with pytest.raises(osexc.NotFoundException):
        alice.get_port(auto.id)
    alice.delete_subnet(ids["v4"])
    alice.delete_network(net)  # takes the remaining subnets with it
    with pytest.raises(osexc.NotFoundException):
        alice.get_network(net.id)
    with pytest.raises(osexc.NotFoundException):
        alice.get_subnet(ids["slaac"])
    with pytest.raises(osexc.NotFoundException):
        alice.find_network("sdk-net-2", ignore_missing=False)


UNEQUAL = [
    (ra, address)
    for ra in ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
    for address in ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
    if ra != address
]


def test_sdk_errors(cloud: Cloud) -> None:
    alice = cloud.sdk["alice"].network
    net = alice.create_network(name="errors")
    for index, (ra_mode, address_mode) in enumerate(UNEQUAL):
        with pytest.raises(osexc.BadRequestException) as bad:
            alice.create_subnet(
                network_id=net.id,
                ip_version=6,
                cidr=f"2001:db8:e{index}::/64",
                ipv6_ra_mode=ra_mode,
                ipv6_address_mode=address_mode,
            )
        message = str(bad.value)
        assert bad.value.status_code == 400
        assert NEUTRON_UNEQUAL_MODES in message, message
        assert f"ipv6_ra_mode set to '{ra_mode}'" in message
        assert f"ipv6_address_mode set to '{address_mode}'" in message
    assert list(alice.subnets(network_id=net.id)) == []

    # ResourceNotFound is the SDK's alias of NotFoundException
    assert osexc.ResourceNotFound is osexc.NotFoundException
    unknown = str(uuid.uuid4())
    with pytest.raises(osexc.ResourceNotFound):
        alice.get_network(unknown)
    with pytest.raises(osexc.NotFoundException) as missing:
        alice.create_port(network_id=unknown)
    assert missing.value.status_code == 404
    with pytest.raises(osexc.NotFoundException):
        alice.create_subnet(network_id=unknown, ip_version=6, cidr="2001:db8:f::/64")
    with pytest.raises(osexc.NotFoundException):
        alice.delete_network(unknown, ignore_missing=False)
    assert alice.delete_network(unknown) is None  # ignore_missing=True is the SDK default

    # further Neutron validations, as the SDK reports them
    with pytest.raises(osexc.BadRequestException, match="requires the prefix to be /64"):
        alice.create_subnet(
            network_id=net.id, ip_version=6, cidr="2001:db8:ee::/80", ipv6_ra_mode="slaac"
        )
    with pytest.raises(osexc.BadRequestException, match="not valid when ip_version is 4"):
        alice.create_subnet(
            network_id=net.id, ip_version=4, cidr="10.9.0.0/24", ipv6_address_mode="slaac"
        )
    alice.delete_network(net)


def test_sdk_tenant_isolation(cloud: Cloud) -> None:
    alice, bob, admin = (cloud.sdk[user].network for user in ("alice", "bob", "admin"))
    net = alice.create_network(name="alice-only")
    subnet = alice.create_subnet(
        network_id=net.id,
        ip_version=6,
        cidr="2001:db8:a1::/64",
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )
    try:
        assert net.id not in {n.id for n in bob.networks()}
        with pytest.raises(osexc.NotFoundException):
            bob.find_network("alice-only", ignore_missing=False)
        with pytest.raises(osexc.NotFoundException):
            bob.get_network(net.id)
        with pytest.raises(osexc.NotFoundException):
            bob.get_subnet(subnet.id)
        assert subnet.id not in {s.id for s in bob.subnets()}
        with pytest.raises(osexc.NotFoundException):
            bob.create_port(network_id=net.id)
        with pytest.raises(osexc.NotFoundException):
            bob.update_network(net.id, name="stolen")
        with pytest.raises(osexc.NotFoundException):
            bob.delete_network(net.id, ignore_missing=False)
        # bob's own network is his, and invisible to alice
        mine = bob.create_network(name="bob-only")
        assert mine.project_id == cloud.project_ids["other"]
        assert mine.id not in {n.id for n in alice.networks()}
        bob.delete_network(mine)
        # the admin sees everybody's
        seen = {n.id for n in admin.networks(project_id=cloud.project_ids["demo"])}
        assert net.id in seen
        assert admin.get_network(net.id).name == "alice-only"
        assert alice.get_network(net.id).name == "alice-only"
    finally:
        alice.delete_network(net)


def test_sdk_cloud_layer(cloud: Cloud) -> None:
    """The SDK's higher "cloud" layer: name lookups by listing, and its own argument checks."""
    conn = cloud.sdk["alice"]
    net = conn.create_network("cloud-layer")
    try:
        subnet = conn.create_subnet(
            "cloud-layer",
            cidr="2001:db8:c1::/64",
            ip_version=6,
            ipv6_ra_mode="dhcpv6-stateless",
            ipv6_address_mode="dhcpv6-stateless",
            subnet_name="cl6",
            enable_dhcp=True,  # the cloud layer defaults to False, which the IPv6 modes forbid
        )
        assert subnet["ipv6_address_mode"] == "dhcpv6-stateless"
        port = conn.create_port(net["id"], name="cl-port")
        assert ips_by_subnet(port)[subnet["id"]] == [eui64("2001:db8:c1::/64", port["mac_address"])]
        assert conn.get_network("cloud-layer")["id"] == net["id"]
        assert conn.get_subnet("cl6")["id"] == subnet["id"]
        listed = conn.search_ports(filters={"network_id": net["id"], "device_owner": ""})
        assert [p["id"] for p in listed] == [port["id"]]
        assert conn.delete_port("cl-port") is True
    finally:
        conn.delete_network(net["id"])


# --- the openstack CLI ----------------------------------------------------------------------


def cli_env(cloud: Cloud, user: str) -> dict[str, str]:
    password = cloud.admin_password if user == "admin" else PASSWORDS[user]
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(
        HOME=str(cloud.home),
        OS_AUTH_URL=cloud.server.identity_url,
        OS_USERNAME=user,
        OS_PASSWORD=password,
        OS_PROJECT_NAME=PROJECTS[user],
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
    )
    return env


def run_cli(cloud: Cloud, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPENSTACK_CLI), *args],
        env=cli_env(cloud, user),
        cwd=cloud.home,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def cli_json(cloud: Cloud, *args: str, user: str = "alice") -> Any:
    result = run_cli(cloud, *args, "-f", "json", user=user)
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.skipif(not OPENSTACK_CLI.exists(), reason="python-openstackclient is not installed")
def test_openstack_cli(cloud: Cloud) -> None:
    net = cli_json(cloud, "network", "create", "cli-net")
    assert net["name"] == "cli-net" and net["project_id"] == cloud.project_ids["demo"]

    s6 = cli_json(
        cloud,
        *("subnet", "create", "--network", "cli-net", "--ip-version", "6"),
        *("--subnet-range", "2001:db8:10::/64"),
        *("--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac", "s6"),
    )
    assert (s6["cidr"], s6["ipv6_ra_mode"], s6["ipv6_address_mode"]) == (
        "2001:db8:10::/64",
        "slaac",
        "slaac",
    )
    stateful = cli_json(
        cloud,
        *("subnet", "create", "--network", "cli-net", "--ip-version", "6"),
        *("--subnet-range", "2001:db8:11::/64"),
        *("--ipv6-ra-mode", "dhcpv6-stateful", "--ipv6-address-mode", "dhcpv6-stateful", "s6s"),
    )
    assert stateful["ipv6_address_mode"] == "dhcpv6-stateful"

    # the subnet by name, resolved by the CLI through a filtered list
    p1 = cli_json(
        cloud,
        *("port", "create", "--network", "cli-net"),
        *("--fixed-ip", "subnet=s6s,ip-address=2001:db8:11::42", "p1"),
    )
    expected = {
        stateful["id"]: ["2001:db8:11::42"],
        s6["id"]: [eui64("2001:db8:10::/64", p1["mac_address"])],
    }
    assert ips_by_subnet(p1) == expected

    networks = cli_json(cloud, "network", "list")
    (row,) = [n for n in networks if n["ID"] == net["id"]]
    assert row["Name"] == "cli-net" and set(row["Subnets"]) == {s6["id"], stateful["id"]}

    ports = cli_json(cloud, "port", "list", "--network", "cli-net")
    named = [(p["ID"], p["Name"]) for p in ports if p["Name"]]  # the DHCP port has no name
    assert named == [(p1["id"], "p1")]
    (p1_row,) = [p for p in ports if p["ID"] == p1["id"]]
    assert ips_by_subnet({"fixed_ips": p1_row["Fixed IP Addresses"]}) == expected

    pool = cli_json(
        cloud,
        *("subnet", "pool", "create", "--pool-prefix", "2001:db8:100::/48"),
        *("--default-prefix-length", "64", "pool6"),
    )
    assert pool["prefixes"] == ["2001:db8:100::/48"] and pool["ip_version"] == 6
    from_pool = cli_json(
        cloud,
        *("subnet", "create", "--network", "cli-net", "--subnet-pool", "pool6"),
        *("--ip-version", "6", "--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac", "sp6"),
    )
    assert from_pool["subnetpool_id"] == pool["id"]
    cidr = ipaddress.IPv6Network(from_pool["cidr"])
    assert cidr.prefixlen == 64 and cidr.subnet_of(ipaddress.IPv6Network("2001:db8:100::/48"))

    # a new auto-address subnet gives existing ports their EUI-64 address on it
    shown = cli_json(cloud, "port", "show", "p1")
    expected[from_pool["id"]] = [eui64(str(cidr), p1["mac_address"])]
    assert shown["id"] == p1["id"] and ips_by_subnet(shown) == expected

    bad = run_cli(
        cloud,
        *("subnet", "create", "--network", "cli-net", "--ip-version", "6"),
        *("--subnet-range", "2001:db8:12::/64"),
        *("--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "dhcpv6-stateful", "bad"),
    )
    assert bad.returncode != 0
    assert NEUTRON_UNEQUAL_MODES in bad.stderr, bad.stderr
    assert "BadRequestException: 400" in bad.stderr, bad.stderr

    # bob, in another project, sees none of it
    assert net["id"] not in {n["ID"] for n in cli_json(cloud, "network", "list", user="bob")}


# --- once incompatibilities, now fixed: quota flags and the domains API -------------------


@pytest.mark.skipif(not OPENSTACK_CLI.exists(), reason="python-openstackclient is not installed")
def test_cli_quota_set(cloud: Cloud) -> None:
    result = run_cli(cloud, "quota", "set", "--networks", "50", "other", user="admin")
    assert result.returncode == 0, result.stderr
    quota = cloud.sdk["admin"].network.get_quota(cloud.project_ids["other"])
    assert quota.networks == 50


def test_sdk_find_default_domain(cloud: Cloud) -> None:
    domain = cloud.sdk["admin"].identity.find_domain("Default", ignore_missing=False)
    assert (domain.id, domain.name) == ("default", "Default")


# --- security groups (R13, R15) -------------------------------------------------------------


def test_sdk_security_groups_rules_and_ports(cloud: Cloud) -> None:
    bob = cloud.sdk["bob"].network
    default = bob.find_security_group("default", project_id=cloud.project_ids["other"])
    assert default is not None and len(default.security_group_rules) == 4
    web = bob.create_security_group(name="web", description="front", stateful=True)
    assert {(r["direction"], r["ethertype"]) for r in web.security_group_rules} == {
        ("egress", "IPv4"),
        ("egress", "IPv6"),
    }
    ssh_args = {
        "security_group_id": web.id,
        "direction": "ingress",
        "ether_type": "IPv6",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "2001:db8::1/64",
    }
    ssh = bob.create_security_group_rule(protocol="tcp", **ssh_args)
    assert (ssh.remote_ip_prefix, ssh.normalized_cidr) == ("2001:db8::1/64", "2001:db8::/64")
    with pytest.raises(osexc.ConflictException, match="Security group rule already exists"):
        bob.create_security_group_rule(protocol="6", **ssh_args)
    with pytest.raises(osexc.BadRequestException, match="Conflicting value ethertype IPv4"):
        bob.create_security_group_rule(**{**ssh_args, "ether_type": "IPv4", "protocol": "tcp"})
    echo = bob.create_security_group_rule(
        security_group_id=web.id,
        direction="ingress",
        ether_type="IPv6",
        protocol="icmpv6",
        port_range_min=128,
        remote_group_id=default.id,
    )
    assert (echo.protocol, echo.port_range_min, echo.remote_group_id) == (
        "ipv6-icmp",
        128,
        default.id,
    )
    rules = list(bob.security_group_rules(security_group_id=web.id, direction="ingress"))
    assert {r.id for r in rules} == {ssh.id, echo.id}

    net = bob.create_network(name="sg-net")
    port = bob.create_port(network_id=net.id, security_group_ids=[web.id])
    assert port.security_group_ids == [web.id] and port.is_port_security_enabled
    with pytest.raises(osexc.ConflictException, match="in use"):
        bob.delete_security_group(web)
    port = bob.update_port(port, security_group_ids=[], is_port_security_enabled=False)
    assert (port.security_group_ids, port.is_port_security_enabled) == ([], False)
    bob.delete_port(port)
    bob.delete_security_group(web)
    bob.delete_network(net)
    # alice never sees bob's groups
    alice_groups = {g.id for g in cloud.sdk["alice"].network.security_groups()}
    assert default.id not in alice_groups


@pytest.mark.skipif(not OPENSTACK_CLI.exists(), reason="python-openstackclient is not installed")
def test_openstack_cli_security_groups(cloud: Cloud) -> None:
    group = cli_json(cloud, "security", "group", "create", "cli-web")
    assert group["name"] == "cli-web"
    rule = cli_json(
        cloud,
        *("security", "group", "rule", "create", "--ethertype", "IPv6", "--protocol", "tcp"),
        *("--dst-port", "80:81", "--remote-ip", "2001:db8::/48", "cli-web"),
    )
    assert (rule["port_range_min"], rule["port_range_max"], rule["protocol"]) == (80, 81, "tcp")
    icmp = cli_json(
        cloud,
        *("security", "group", "rule", "create", "--ethertype", "IPv6"),
        *("--protocol", "ipv6-icmp", "--icmp-type", "128", "cli-web"),
    )
    assert (icmp["protocol"], icmp["port_range_min"]) == ("ipv6-icmp", 128)
    listed = cli_json(cloud, "security", "group", "rule", "list", "cli-web")
    assert {rule["id"], icmp["id"]} <= {r["ID"] for r in listed}
    shown = cli_json(cloud, "security", "group", "show", "cli-web")
    assert len(shown["rules"]) == 4
    net = cli_json(cloud, "network", "create", "cli-sg-net")
    port = cli_json(
        cloud, "port", "create", "--network", net["id"], "--security-group", "cli-web", "cli-sg"
    )
    assert port["security_group_ids"] == [group["id"]]
    result = run_cli(cloud, "security", "group", "delete", "cli-web")
    assert result.returncode != 0 and "in use" in result.stderr, result.stderr
