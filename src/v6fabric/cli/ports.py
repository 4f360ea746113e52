"""`port`, `quota` and `token` commands, named and optioned like the openstack CLI."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from v6fabric.cli import options
from v6fabric.cli.client import FabricClient
from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.output import Column, print_list, print_resource
from v6fabric.cli.resources import (
    Description,
    Long,
    NameOrId,
    NamesOrIds,
    Project,
    compact,
    delete_each,
    require_changes,
)

port_app = typer.Typer(help="Ports (/v2.0/ports).", no_args_is_help=True)
quota_app = typer.Typer(help="Per-project quotas (/v2.0/quotas).", no_args_is_help=True)
token_app = typer.Typer(help="Keystone tokens.", no_args_is_help=True)

PORT_RENAMES = {"host": "binding:host_id", "vnic_type": "binding:vnic_type"}
PORT_COLUMNS = [
    Column("ID", "id"),
    Column("Name", "name"),
    Column("MAC Address", "mac_address"),
    Column("Fixed IP Addresses", "fixed_ips", True),
    Column("Status", "status"),
]
PORT_LONG = [
    *PORT_COLUMNS,
    Column("Network", "network_id", True),
    Column("Device Owner", "device_owner"),
    Column("Device ID", "device_id", True),
    Column("Host", "binding:host_id"),
    Column("VNIC Type", "binding:vnic_type"),
    Column("Port security", "port_security_enabled"),
    Column("Security groups", "security_groups", True),
    Column("Allowed addresses", "allowed_address_pairs"),
]
FixedIps = Annotated[
    list[str] | None,
    typer.Option(
        "--fixed-ip",
        metavar="subnet=S,ip-address=IP",
        help="Address on a subnet (name or ID); either part may be left out (repeatable).",
    ),
]
AllowedAddresses = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-address",
        metavar="ip-address=IP[,mac-address=M]",
        help="Extra address (or prefix) the port may send from (repeatable).",
    ),
]
SecurityGroups = Annotated[
    list[str] | None,
    typer.Option("--security-group", help="Security group name or ID (repeatable)."),
]
NoSecurityGroup = Annotated[
    bool, typer.Option("--no-security-group", help="No groups (set: remove them all first).")
]
PortSecurity = Annotated[
    bool | None,
    typer.Option(
        "--enable-port-security/--disable-port-security",
        help="Anti-spoofing and groups (default: the network's).",
    ),
]
MacAddress = Annotated[str | None, typer.Option("--mac-address", help="MAC address.")]
DeviceOwner = Annotated[str | None, typer.Option("--device-owner", help="e.g. compute:nova.")]
DeviceId = Annotated[str | None, typer.Option("--device-id", help="The instance using it.")]
Host = Annotated[str | None, typer.Option("--host", help="binding:host_id.")]


def resolved_fixed_ips(api: FabricClient, values: list[str] | None) -> list[dict[str, str]]:
    """Parse --fixed-ip values and turn subnet names into IDs."""
    items = options.fixed_ips(values or [])
    for item in items:
        if "subnet_id" in item:
            item["subnet_id"] = api.find_id("subnets", item["subnet_id"])
    return items


def _group_ids(api: FabricClient, names: list[str] | None) -> list[str]:
    return [api.find_id("security-groups", name) for name in names or []]


def _wire(attributes: dict[str, Any]) -> dict[str, Any]:
    return {PORT_RENAMES.get(key, key): value for key, value in attributes.items()}


@port_app.command("create")
def port_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new port.")],
    network: Annotated[str, typer.Option("--network", help="Network name or ID.")],
    fixed_ip: FixedIps = None,
    no_fixed_ip: Annotated[
        bool, typer.Option("--no-fixed-ip", help="No addresses at all (fixed_ips=[]).")
    ] = False,
    mac_address: MacAddress = None,
    device_owner: DeviceOwner = None,
    device_id: DeviceId = None,
    vnic_type: Annotated[
        str | None, typer.Option("--vnic-type", help="normal, direct, macvtap, ...")
    ] = None,
    host: Host = None,
    allowed_address: AllowedAddresses = None,
    port_security: PortSecurity = None,
    security_group: SecurityGroups = None,
    no_security_group: NoSecurityGroup = False,
    description: Description = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a port (with the project's default security group unless told otherwise)."""
    pairs = options.allowed_addresses(allowed_address or [])
    api = client(ctx)
    fixed = resolved_fixed_ips(api, fixed_ip)
    groups = _group_ids(api, security_group)
    attributes = compact(
        name=name,
        network_id=api.find_id("networks", network),
        fixed_ips=[] if no_fixed_ip else fixed or None,
        mac_address=mac_address,
        device_owner=device_owner,
        device_id=device_id,
        vnic_type=vnic_type,
        host=host,
        allowed_address_pairs=pairs or None,
        port_security_enabled=port_security,
        security_groups=[] if no_security_group else groups or None,
        description=description,
        project_id=project,
    )
    print_resource(api.create("ports", _wire(attributes)), as_json=want_json(ctx, json_flag))


@port_app.command("list")
def port_list(
    ctx: typer.Context,
    network: Annotated[str | None, typer.Option("--network", help="Network name or ID.")] = None,
    device_id: DeviceId = None,
    device_owner: DeviceOwner = None,
    fixed_ip: Annotated[
        list[str] | None,
        typer.Option(
            "--fixed-ip",
            metavar="subnet=S|ip-address=IP|ip-address-substr=X",
            help="Filter on addresses (repeatable).",
        ),
    ] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List ports."""
    filters = options.fixed_ip_filters(fixed_ip or [])
    api = client(ctx)
    wire_filters: list[str] = []
    for item in filters:
        if "subnet_id" in item:
            item["subnet_id"] = api.find_id("subnets", item["subnet_id"])
        wire_filters.extend(f"{key}={value}" for key, value in item.items())
    rows = api.list(
        "ports",
        **compact(
            network_id=api.find_id("networks", network) if network else None,
            device_id=device_id,
            device_owner=device_owner,
            fixed_ips=wire_filters or None,
        ),
    )
    print_list(rows, PORT_LONG if long else PORT_COLUMNS, as_json=want_json(ctx, json_flag))


@port_app.command("show")
def port_show(ctx: typer.Context, port: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one port."""
    print_resource(client(ctx).find("ports", port), as_json=want_json(ctx, json_flag))


@port_app.command("set")
def port_set(
    ctx: typer.Context,
    port: NameOrId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    fixed_ip: FixedIps = None,
    no_fixed_ip: Annotated[
        bool, typer.Option("--no-fixed-ip", help="Remove all addresses first.")
    ] = False,
    allowed_address: AllowedAddresses = None,
    no_allowed_address: Annotated[
        bool, typer.Option("--no-allowed-address", help="Remove all allowed addresses first.")
    ] = False,
    mac_address: MacAddress = None,
    device_owner: DeviceOwner = None,
    device_id: DeviceId = None,
    host: Host = None,
    port_security: PortSecurity = None,
    security_group: SecurityGroups = None,
    no_security_group: NoSecurityGroup = False,
    description: Description = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a port; --fixed-ip, --allowed-address and --security-group add (use --no-... to
    replace)."""
    pairs = options.allowed_addresses(allowed_address or [])
    api = client(ctx)
    current = api.find("ports", port)
    fixed = resolved_fixed_ips(api, fixed_ip)
    attributes = compact(
        name=name,
        mac_address=mac_address,
        device_owner=device_owner,
        device_id=device_id,
        host=host,
        port_security_enabled=port_security,
        description=description,
    )
    if fixed or no_fixed_ip:
        kept = [] if no_fixed_ip else current.get("fixed_ips") or []
        # Keep existing entries as {subnet_id, ip_address} so the server keeps those addresses.
        attributes["fixed_ips"] = [*kept, *fixed]
    if pairs or no_allowed_address:
        kept = [] if no_allowed_address else current.get("allowed_address_pairs") or []
        attributes["allowed_address_pairs"] = [*kept, *pairs]
    if security_group or no_security_group:
        kept = [] if no_security_group else current.get("security_groups") or []
        added = [g for g in _group_ids(api, security_group) if g not in kept]
        attributes["security_groups"] = [*kept, *added]
    updated = api.update("ports", current["id"], _wire(require_changes(ctx, attributes)))
    print_resource(updated, as_json=want_json(ctx, json_flag))


@port_app.command("delete")
def port_delete(ctx: typer.Context, ports: NamesOrIds) -> None:
    """Delete ports."""
    delete_each(ctx, "ports", ports)


# --- quota ---------------------------------------------------------------------------------


def _project_id(api: FabricClient, project: str | None) -> str:
    """No project or our own project's name: the token's project ID; anything else as given."""
    session = api.session
    if project is None or project == session.project_name:
        if session.project_id is None:
            raise typer.BadParameter("the token has no project; give one", param_hint="PROJECT")
        return session.project_id
    return project


@quota_app.command("show")
def quota_show(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Argument(help="Project ID (default: the token's project).")
    ] = None,
    json_flag: JsonOption = False,
) -> None:
    """Show a project's quotas (-1 is unlimited)."""
    api = client(ctx)
    print_resource(api.show("quotas", _project_id(api, project)), as_json=want_json(ctx, json_flag))


QuotaOption = Annotated[int | None, typer.Option(help="Limit (-1: unlimited).")]


@quota_app.command("set")
def quota_set(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project ID.")],
    networks: QuotaOption = None,
    subnets: QuotaOption = None,
    ports: QuotaOption = None,
    subnetpools: QuotaOption = None,
    routers: QuotaOption = None,
    floating_ips: QuotaOption = None,
    security_groups: QuotaOption = None,
    security_group_rules: QuotaOption = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a project's quotas (admin)."""
    limits = compact(
        network=networks,
        subnet=subnets,
        port=ports,
        subnetpool=subnetpools,
        router=routers,
        floatingip=floating_ips,
        security_group=security_groups,
        security_group_rule=security_group_rules,
    )
    changes = require_changes(ctx, limits)
    api = client(ctx)
    updated = api.update("quotas", _project_id(api, project), changes)
    print_resource(updated, as_json=want_json(ctx, json_flag))


# --- token ---------------------------------------------------------------------------------


@token_app.command("issue")
def token_issue(ctx: typer.Context, json_flag: JsonOption = False) -> None:
    """Get a token for the configured user and project (for curl: X-Auth-Token)."""
    session = client(ctx).session
    body = session.body
    print_resource(
        {
            "id": session.token,
            "expires": body.get("expires_at"),
            "project_id": session.project_id,
            "user_id": (body.get("user") or {}).get("id"),
        },
        as_json=want_json(ctx, json_flag),
    )
