"""The CLI against an in-process fake of the Keystone v3 + Neutron v2.0 wire (``fake_cloud``,
through httpx.MockTransport; the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import sys
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from tests.unit.fake_cloud import ENDPOINT, ENV, PROJECT_ID, TOKEN, FakeCloud, neutron_error
from v6fabric.cli.client import FabricClient
from v6fabric.cli.context import CliState
from v6fabric.cli.credentials import Credentials, parse_openrc
from v6fabric.cli.errors import ApiError

# --- client: auth and catalog -------------------------------------------------------------


@pytest.mark.parametrize("auth_url", [f"{ENDPOINT}/identity", f"{ENDPOINT}/identity/v3/"])
def test_client_authenticates_and_uses_the_public_network_endpoint(
    cloud: FakeCloud, auth_url: str
) -> None:
    credentials = Credentials(auth_url=auth_url, username="admin", password="secret",
                              project_name="admin")  # fmt: skip
    with FabricClient(credentials, transport=httpx.MockTransport(cloud)) as api:
        assert api.list("networks") == []
    auth, listing = cloud.requests
    assert str(auth.url) == f"{ENDPOINT}/identity/v3/auth/tokens"
    body = json.loads(auth.content)["auth"]
    assert body["identity"]["methods"] == ["password"]
    assert body["identity"]["password"]["user"] == {
        "name": "admin",
        "domain": {"name": "Default"},
        "password": "secret",
    }
    assert body["scope"] == {"project": {"name": "admin", "domain": {"name": "Default"}}}
    assert str(listing.url) == f"{ENDPOINT}/v2.0/networks"
    assert listing.headers["X-Auth-Token"] == TOKEN


@pytest.mark.parametrize(
    ("region", "interface", "expected"),
    [
        ("RegionTwo", "public", "http://two.test:9696/v2.0/networks"),
        (None, "internalURL", "http://internal.test:9696/v2.0/networks"),
    ],
)
def test_catalog_lookup_honours_region_and_interface(
    cloud: FakeCloud, region: str | None, interface: str, expected: str
) -> None:
    env = {**ENV, "OS_INTERFACE": interface, **({"OS_REGION_NAME": region} if region else {})}
    with FabricClient.from_env(env, transport=httpx.MockTransport(cloud)) as api:
        api.list("networks")
    assert str(cloud.requests[-1].url) == expected


def test_missing_catalog_entry_is_a_clear_error(cloud: FakeCloud) -> None:
    env = {**ENV, "OS_REGION_NAME": "Nowhere"}
    with (
        FabricClient.from_env(env, transport=httpx.MockTransport(cloud)) as api,
        pytest.raises(ApiError, match="No network endpoint"),
    ):
        api.list("networks")


def test_wrong_password_reports_keystone_error(run: Callable[..., Result]) -> None:
    result = run("network", "list", environ={**ENV, "OS_PASSWORD": "wrong"})
    assert result.exit_code == 1
    assert "Error: Invalid credentials (HTTP 401 Unauthorized)" in result.stderr


def test_credentials_from_state_dir_openrc(tmp_path: Path) -> None:
    (tmp_path / "admin-openrc.sh").write_text(
        "# written by v6fabric up\n"
        f"export OS_AUTH_URL={ENDPOINT}/identity/v3\n"
        "export OS_USERNAME=admin\n"
        "export OS_PASSWORD='s3cr3t with space'\n"
        'export OS_PROJECT_NAME="admin"\n'
        "export OS_USER_DOMAIN_NAME=Default\n"
    )
    credentials = Credentials.from_env(
        {"V6FABRIC_STATE_DIR": str(tmp_path), "OS_REGION_NAME": "RegionTwo"}
    )
    assert credentials.password == "s3cr3t with space"
    assert credentials.project_name == "admin"
    assert credentials.project_domain_name == "Default"
    assert credentials.region_name == "RegionTwo"  # the environment still wins


def test_parse_openrc_ignores_other_lines() -> None:
    assert parse_openrc("set -e\nexport PATH=/bin\nOS_A=1\nexport OS_B='x y' # c\n") == {
        "OS_A": "1",
        "OS_B": "x y",
    }


def test_missing_credentials_say_what_to_do(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("network", "list", environ={"V6FABRIC_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "Missing OS_AUTH_URL" in result.stderr
    assert "admin-openrc.sh" in result.stderr
    assert "Traceback" not in result.output


def test_connection_refused_names_the_url(cli_app: typer.Typer) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    obj = CliState(transport=httpx.MockTransport(refuse), environ=ENV)
    result = CliRunner().invoke(cli_app, ["network", "list"], obj=obj)
    assert result.exit_code == 1
    assert f"The API is not reachable at {ENDPOINT}" in result.stderr
    assert result.stdout == ""


# --- name resolution, pagination, output ----------------------------------------------------


def test_show_by_name_falls_back_to_a_name_filter(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    net = cloud.add("networks", name="blue", mtu=1450, subnets=[])
    result = run("network", "show", "blue", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == net
    paths = [(r.method, r.url.path, str(r.url.params)) for r in cloud.requests[1:]]
    assert paths == [
        ("GET", "/v2.0/networks/blue", ""),
        ("GET", "/v2.0/networks", "name=blue"),
    ]


def test_show_by_id_needs_one_request(run: Callable[..., Result], cloud: FakeCloud) -> None:
    net = cloud.add("networks", name="blue")
    assert run("network", "show", net["id"]).exit_code == 0
    assert len(cloud.requests) == 2  # token + GET by id


def test_ambiguous_and_unknown_names(run: Callable[..., Result], cloud: FakeCloud) -> None:
    cloud.add("networks", name="twin")
    cloud.add("networks", name="twin")
    result = run("network", "show", "twin")
    assert result.exit_code == 1
    assert "More than one network is named 'twin'" in result.stderr
    result = run("network", "show", "nothing")
    assert result.exit_code == 1
    assert "No network with name or ID 'nothing'" in result.stderr


def test_list_follows_pagination_links(run: Callable[..., Result], cloud: FakeCloud) -> None:
    cloud.page_size = 2
    for i in range(5):
        cloud.add("networks", name=f"net{i}", subnets=[])
    result = run("network", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [n["name"] for n in json.loads(result.stdout)] == [f"net{i}" for i in range(5)]
    assert len([r for r in cloud.requests if r.url.path == "/v2.0/networks"]) == 3


def test_global_json_option_and_table_output(run: Callable[..., Result], cloud: FakeCloud) -> None:
    subnet_id = str(uuid.uuid4())
    cloud.add("networks", name="blue", subnets=[subnet_id], mtu=1450)
    assert json.loads(run("--json", "network", "list").stdout)[0]["name"] == "blue"
    table = run("network", "list").stdout
    assert "blue" in table and subnet_id[:8] in table and subnet_id not in table
    long_table = run("network", "list", "--long").stdout
    assert "1450" in long_table


def test_show_prints_a_field_value_table(run: Callable[..., Result], cloud: FakeCloud) -> None:
    cloud.add(
        "subnets",
        name="v6",
        cidr="2001:db8::/64",
        allocation_pools=[{"start": "2001:db8::2", "end": "2001:db8::ff"}],
        host_routes=[{"destination": "2001:db8:9::/48", "nexthop": "2001:db8::1"}],
        gateway_ip=None,
    )
    out = run("subnet", "show", "v6").stdout
    assert "Field" in out and "Value" in out
    assert "2001:db8::2-2001:db8::ff" in out
    assert "2001:db8:9::/48 via 2001:db8::1" in out


def test_error_body_becomes_a_message_and_exit_1(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    cloud.fail_next = neutron_error(
        400, "InvalidInput", "Invalid input for operation: mtu 900 is below 1280."
    )
    result = run("network", "create", "tiny", "--mtu", "900")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: Invalid input for operation: mtu 900 is below 1280. (HTTP 400 InvalidInput)"
    )
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)


# --- option parsing -------------------------------------------------------------------------


def test_network_create_sends_provider_attributes(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    args = ["network", "create", "phys", "--shared", "--external", "--mtu", "9000"]
    args += ["--provider-network-type", "vlan", "--provider-physical-network", "physnet1"]
    args += ["--provider-segment", "42", "--disable-port-security"]
    assert run(*args).exit_code == 0
    assert cloud.bodies("POST", "/v2.0/networks") == [
        {
            "network": {
                "name": "phys",
                "shared": True,
                "router:external": True,
                "mtu": 9000,
                "port_security_enabled": False,
                "provider:network_type": "vlan",
                "provider:physical_network": "physnet1",
                "provider:segmentation_id": 42,
            }
        }
    ]


def test_subnet_create_parses_pools_routes_and_infers_v6(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    net = cloud.add("networks", name="blue")
    result = run(
        "subnet", "create", "v6", "--network", "blue", "--subnet-range", "2001:db8:1::/64",
        "--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac", "--gateway", "none",
        "--allocation-pool", "start=2001:db8:1::10,end=2001:db8:1::20",
        "--allocation-pool", "start=2001:db8:1::30,end=2001:db8:1::40",
        "--host-route", "destination=2001:db8:9::/48,gateway=2001:db8:1::1",
        "--dns-nameserver", "2001:4860:4860::8888", "--no-dhcp", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (body,) = cloud.bodies("POST", "/v2.0/subnets")
    assert body["subnet"] == {
        "name": "v6",
        "network_id": net["id"],
        "cidr": "2001:db8:1::/64",
        "ip_version": 6,
        "ipv6_ra_mode": "slaac",
        "ipv6_address_mode": "slaac",
        "gateway_ip": None,
        "allocation_pools": [
            {"start": "2001:db8:1::10", "end": "2001:db8:1::20"},
            {"start": "2001:db8:1::30", "end": "2001:db8:1::40"},
        ],
        "host_routes": [{"destination": "2001:db8:9::/48", "nexthop": "2001:db8:1::1"}],
        "dns_nameservers": ["2001:4860:4860::8888"],
        "enable_dhcp": False,
    }
    assert json.loads(result.stdout)["cidr"] == "2001:db8:1::/64"


def test_subnet_from_pool_takes_the_pools_version(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    cloud.add("networks", name="blue")
    pool = cloud.add("subnetpools", name="v6pool", ip_version=6, prefixes=["2001:db8::/48"])
    args = ["subnet", "create", "s", "--network", "blue", "--subnet-pool", "v6pool"]
    assert run(*args, "--prefix-length", "64").exit_code == 0
    (body,) = cloud.bodies("POST", "/v2.0/subnets")
    assert body["subnet"]["ip_version"] == 6
    assert body["subnet"]["subnetpool_id"] == pool["id"]
    assert body["subnet"]["prefixlen"] == 64


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--allocation-pool", "start=10.0.0.2", "lacks end"),
        ("--host-route", "destination=::/0,via=fe80::1", "unknown key 'via'"),
        ("--host-route", "destination", "is not key=value"),
    ],
)
def test_bad_pair_options_are_usage_errors(
    run: Callable[..., Result], cloud: FakeCloud, option: str, value: str, message: str
) -> None:
    cloud.add("networks", name="blue")
    args = ["subnet", "create", "s", "--network", "blue", "--subnet-range", "10.0.0.0/24"]
    result = run(*args, option, value)
    assert result.exit_code == 2
    assert message in result.output
    assert cloud.bodies("POST", "/v2.0/subnets") == []


def test_subnet_set_appends_and_replaces(run: Callable[..., Result], cloud: FakeCloud) -> None:
    subnet = cloud.add("subnets", name="s", dns_nameservers=["2001:db8::53"], host_routes=[])
    assert run("subnet", "set", "s", "--dns-nameserver", "2001:db8::54").exit_code == 0
    assert run("subnet", "set", "s", "--no-dns-nameservers", "--gateway", "none").exit_code == 0
    first, second = cloud.bodies("PUT", f"/v2.0/subnets/{subnet['id']}")
    assert first == {"subnet": {"dns_nameservers": ["2001:db8::53", "2001:db8::54"]}}
    assert second == {"subnet": {"dns_nameservers": [], "gateway_ip": None}}


def test_set_without_options_is_a_usage_error(run: Callable[..., Result], cloud: FakeCloud) -> None:
    cloud.add("networks", name="blue")
    result = run("network", "set", "blue")
    assert result.exit_code == 2
    assert "Nothing to set" in result.output


def test_port_create_fixed_ips_and_allowed_addresses(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    net = cloud.add("networks", name="blue")
    subnet = cloud.add("subnets", name="v6", network_id=net["id"])
    result = run(
        "port", "create", "p1", "--network", "blue",
        "--fixed-ip", "subnet=v6,ip-address=2001:db8:1::5", "--fixed-ip", f"subnet={subnet['id']}",
        "--allowed-address", "ip-address=2001:db8:1::/64,mac-address=fa:16:3e:00:00:01",
        "--vnic-type", "direct", "--host", "compute1", "--mac-address", "fa:16:3e:00:00:02",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (body,) = cloud.bodies("POST", "/v2.0/ports")
    assert body["port"] == {
        "name": "p1",
        "network_id": net["id"],
        "fixed_ips": [
            {"subnet_id": subnet["id"], "ip_address": "2001:db8:1::5"},
            {"subnet_id": subnet["id"]},
        ],
        "mac_address": "fa:16:3e:00:00:02",
        "binding:vnic_type": "direct",
        "binding:host_id": "compute1",
        "allowed_address_pairs": [
            {"ip_address": "2001:db8:1::/64", "mac_address": "fa:16:3e:00:00:01"}
        ],
    }


def test_port_fixed_ip_rejects_unknown_keys(run: Callable[..., Result], cloud: FakeCloud) -> None:
    cloud.add("networks", name="blue")
    result = run("port", "create", "p", "--network", "blue", "--fixed-ip", "ip=2001:db8::5")
    assert result.exit_code == 2
    assert "unknown key 'ip'" in result.output


def test_port_list_filters_and_renders_fixed_ips(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    subnet_id = str(uuid.uuid4())
    ips = [{"subnet_id": subnet_id, "ip_address": "2001:db8:1::5"}]
    cloud.add("ports", name="match", fixed_ips=ips, mac_address="fa:16:3e:00:00:01")
    cloud.add("ports", name="other", fixed_ips=[{"subnet_id": subnet_id, "ip_address": "10.0.0.5"}])
    result = run("port", "list", "--fixed-ip", "ip-address-substr=2001:db8")
    assert result.exit_code == 0, result.output
    assert f"2001:db8:1::5 ({subnet_id[:8]})" in result.stdout
    assert "other" not in result.stdout
    listing = cloud.requests[-1]
    assert listing.url.params.get_list("fixed_ips") == ["ip_address_substr=2001:db8"]


def test_port_set_adds_to_existing_fixed_ips(run: Callable[..., Result], cloud: FakeCloud) -> None:
    subnet = cloud.add("subnets", name="v6")
    old = {"subnet_id": subnet["id"], "ip_address": "2001:db8::5"}
    port = cloud.add("ports", name="p", fixed_ips=[old])
    assert run("port", "set", "p", "--fixed-ip", "ip-address=2001:db8::6").exit_code == 0
    assert run("port", "set", "p", "--no-fixed-ip").exit_code == 0
    first, second = cloud.bodies("PUT", f"/v2.0/ports/{port['id']}")
    assert first == {"port": {"fixed_ips": [old, {"ip_address": "2001:db8::6"}]}}
    assert second == {"port": {"fixed_ips": []}}


def test_delete_reports_failures_and_continues(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    a = cloud.add("networks", name="a")
    b = cloud.add("networks", name="b")
    result = run("network", "delete", "a", "missing", b["id"])
    assert result.exit_code == 1
    assert "missing: No network with name or ID 'missing'" in result.stderr
    assert "1 of 3 networks could not be deleted" in result.stderr
    assert cloud.store["networks"] == {}
    assert a["id"] not in cloud.store["networks"]


def test_subnet_pool_create(run: Callable[..., Result], cloud: FakeCloud) -> None:
    result = run(
        "subnet", "pool", "create", "p6", "--pool-prefix", "2001:db8::/40",
        "--pool-prefix", "2001:db9::/40", "--default-prefix-length", "64", "--default", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["prefixes"] == ["2001:db8::/40", "2001:db9::/40"]
    (body,) = cloud.bodies("POST", "/v2.0/subnetpools")
    assert body["subnetpool"] == {
        "name": "p6",
        "prefixes": ["2001:db8::/40", "2001:db9::/40"],
        "default_prefixlen": 64,
        "is_default": True,
    }
    assert "p6" in run("subnet", "pool", "list").stdout


def test_quota_show_defaults_to_the_token_project_and_set(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    shown = json.loads(run("quota", "show", "--json").stdout)
    assert shown["network"] == 100
    assert cloud.requests[-1].url.path == f"/v2.0/quotas/{PROJECT_ID}"
    result = run("quota", "set", "proj1", "--networks", "5", "--ports", "-1", "--json")
    assert result.exit_code == 0, result.output
    assert cloud.bodies("PUT", "/v2.0/quotas/proj1") == [{"quota": {"network": 5, "port": -1}}]


def test_token_issue(run: Callable[..., Result]) -> None:
    token = json.loads(run("token", "issue", "--json").stdout)
    assert token == {
        "id": TOKEN,
        "expires": "2030-01-01T00:00:00Z",
        "project_id": PROJECT_ID,
        "user_id": "u" * 32,
    }


# --- up -------------------------------------------------------------------------------------


def test_up_creates_state_dir_admin_and_runs_uvicorn(
    cli_app: typer.Typer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Server modules are faked: this pins the wiring, not the server."""
    calls: dict[str, Any] = {}

    class Identity:
        def ensure_admin(self, credentials_dir: Path) -> Path:
            calls["credentials_dir"] = credentials_dir
            openrc = credentials_dir / "admin-openrc.sh"
            openrc.write_text("export OS_USERNAME=admin\n")
            return openrc

    def create_app(settings: Any) -> Any:
        calls["settings"] = settings
        return types.SimpleNamespace(state=types.SimpleNamespace(identity=Identity()))

    class Server:
        started = False
        should_exit = False

        def __init__(self, config: Any) -> None:
            calls["config"] = config

        def run(self) -> None:
            calls["ran"] = True
            self.started = True  # serves, then stops at once

    fake_app_module = types.ModuleType("v6fabric.api.app")
    fake_app_module.create_app = create_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "v6fabric.api.app", fake_app_module)
    import uvicorn

    monkeypatch.setattr(uvicorn, "Server", Server)
    monkeypatch.setattr(
        "v6fabric.collector.tune_for_long_running", lambda: None
    )  # not this test process's GC
    state_dir = tmp_path / "state"
    args = ["up", "--state-dir", str(state_dir), "--api-port", "19696", "--no-agent"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert state_dir.stat().st_mode & 0o777 == 0o700
    assert calls["credentials_dir"] == state_dir
    assert calls["settings"].api_port == 19696
    assert calls["config"].port == 19696 and calls["config"].host == "127.0.0.1"
    assert calls["ran"]
    assert "http://127.0.0.1:19696" in result.stdout
    assert "http://127.0.0.1:19696/identity/v3" in result.stdout
    assert f"source {state_dir / 'admin-openrc.sh'}" in result.stdout


def test_workload_create_reads_user_data_keys_and_properties(
    run: Callable[..., Result], cloud: FakeCloud, tmp_path: Path
) -> None:
    port = cloud.add("ports", name="p1")
    (tmp_path / "user-data").write_text("#cloud-config\n")
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAC3Nza me@host\n")
    result = run(
        "workload", "create", "vm1", "--port", "p1", "--host", "h1",
        "--user-data-file", str(tmp_path / "user-data"),
        "--ssh-key", f"me={tmp_path / 'id.pub'}",
        "--property", "role=web", "--property", "motd=a=b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (body,) = cloud.bodies("POST", "/fabric/v1/workloads")
    assert body["workload"] == {
        "name": "vm1",
        "host": "h1",
        "port_ids": [port["id"]],
        "user_data": "#cloud-config\n",
        "public_keys": [{"name": "me", "key": "ssh-ed25519 AAAAC3Nza me@host"}],
        "properties": {"role": "web", "motd": "a=b"},
    }


def test_workload_create_option_errors_are_usage_errors(
    run: Callable[..., Result], cloud: FakeCloud, tmp_path: Path
) -> None:
    cloud.add("ports", name="p1")
    for extra in (
        ["--property", "novalue"],
        ["--property", "a=1", "--property", "a=2"],
        ["--ssh-key", f"me={tmp_path / 'missing.pub'}"],
        ["--user-data-file", str(tmp_path / "missing")],
    ):
        result = run("workload", "create", "vm1", "--port", "p1", "--host", "h1", *extra)
        assert result.exit_code == 2, (extra, result.output)
    assert cloud.bodies("POST", "/fabric/v1/workloads") == []


def test_router_gateway_options_and_the_upstream_routes_view(
    run: Callable[..., Result], cloud: FakeCloud
) -> None:
    public = cloud.add("networks", name="public")
    subnet = cloud.add("subnets", name="pub6", network_id=public["id"])
    result = run(
        "router", "create", "r1", "--external-gateway", "public",
        "--fixed-ip", "subnet=pub6,ip-address=2001:db8:ff::10", "--disable-snat",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (body,) = cloud.bodies("POST", "/v2.0/routers")
    assert body["router"]["external_gateway_info"] == {
        "network_id": public["id"],
        "external_fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "2001:db8:ff::10"}],
        "enable_snat": False,
    }
    router = next(iter(cloud.store["routers"].values()))
    assert run("router", "set", "r1", "--no-external-gateway").exit_code == 0
    assert cloud.bodies("PUT", f"/v2.0/routers/{router['id']}") == [
        {"router": {"external_gateway_info": None}}
    ]
    wrong = run("router", "set", "r1", "--no-external-gateway", "--external-gateway", "public")
    assert wrong.exit_code == 2 and "takes no other gateway option" in wrong.output
    assert run("router", "create", "r2", "--disable-snat").exit_code == 2
    cloud.add(
        "upstream_routes",
        router_id=router["id"],
        external_network_id=public["id"],
        destination="2001:db8:1::/64",
        nexthop="fe80::f816:3eff:fe00:1",
    )
    cloud.add("upstream_routes", router_id="other", destination="2001:db8:2::/64", nexthop="x")
    result = run("--json", "router", "routes", "r1")
    assert result.exit_code == 0, result.output
    assert [r["destination"] for r in json.loads(result.stdout)] == ["2001:db8:1::/64"]


def test_router_ha_option(run: Callable[..., Result], cloud: FakeCloud) -> None:
    assert run("router", "create", "r1", "--ha").exit_code == 0
    assert cloud.bodies("POST", "/v2.0/routers") == [{"router": {"name": "r1", "ha": True}}]
    router = next(iter(cloud.store["routers"].values()))
    assert run("router", "set", "r1", "--disable", "--no-ha").exit_code == 0
    assert cloud.bodies("PUT", f"/v2.0/routers/{router['id']}") == [
        {"router": {"admin_state_up": False, "ha": False}}
    ]


def test_router_distributed_option(run: Callable[..., Result], cloud: FakeCloud) -> None:
    assert run("router", "create", "r1", "--distributed").exit_code == 0
    assert cloud.bodies("POST", "/v2.0/routers") == [
        {"router": {"name": "r1", "distributed": True}}
    ]
    router = next(iter(cloud.store["routers"].values()))
    assert run("router", "set", "r1", "--disable", "--centralized").exit_code == 0
    assert cloud.bodies("PUT", f"/v2.0/routers/{router['id']}") == [
        {"router": {"admin_state_up": False, "distributed": False}}
    ]
