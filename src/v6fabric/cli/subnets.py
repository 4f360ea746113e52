"""`subnet` and `subnet pool` commands, named and optioned like the openstack CLI."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer

from v6fabric.cli import options
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

subnet_app = typer.Typer(help="Subnets (/v2.0/subnets) and subnet pools.", no_args_is_help=True)
pool_app = typer.Typer(help="Subnet pools (/v2.0/subnetpools).", no_args_is_help=True)
subnet_app.add_typer(pool_app, name="pool")

# --- subnet --------------------------------------------------------------------------------

SUBNET_COLUMNS = [
    Column("ID", "id"),
    Column("Name", "name"),
    Column("Network", "network_id", True),
    Column("Subnet", "cidr"),
]
SUBNET_LONG = [
    *SUBNET_COLUMNS,
    Column("Version", "ip_version"),
    Column("Gateway", "gateway_ip"),
    Column("DHCP", "enable_dhcp"),
    Column("RA mode", "ipv6_ra_mode"),
    Column("Address mode", "ipv6_address_mode"),
    Column("Allocation pools", "allocation_pools"),
    Column("Pool", "subnetpool_id", True),
]
Gateway = Annotated[
    str | None, typer.Option("--gateway", help="Gateway IP, or 'none' for no gateway.")
]
DnsNameservers = Annotated[
    list[str] | None, typer.Option("--dns-nameserver", help="DNS server IP (repeatable).")
]
AllocationPools = Annotated[
    list[str] | None,
    typer.Option("--allocation-pool", metavar="start=A,end=B", help="Pool (repeatable)."),
]
HostRoutes = Annotated[
    list[str] | None,
    typer.Option("--host-route", metavar="destination=C,gateway=IP", help="Route (repeatable)."),
]
Dhcp = Annotated[bool | None, typer.Option("--dhcp/--no-dhcp", help="DHCP on the subnet.")]


def _gateway(value: str | None) -> dict[str, Any]:
    if value is None or value.lower() == "auto":
        return {}
    return {"gateway_ip": None if value.lower() == "none" else value}


def _ip_version(
    explicit: int | None, cidr: str | None, pool: dict[str, Any] | None, v6_modes: bool
) -> int:
    """Explicit, else the range's family, else the pool's, else 6 if a v6 mode is set, else 4."""
    if explicit is not None:
        return explicit
    if cidr:
        try:
            return ipaddress.ip_network(cidr, strict=False).version
        except ValueError:
            return 6 if ":" in cidr else 4  # the server explains what is wrong with it
    if pool and pool.get("ip_version"):
        return int(pool["ip_version"])
    return 6 if v6_modes else 4


@subnet_app.command("create")
def subnet_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new subnet.")],
    network: Annotated[str, typer.Option("--network", help="Network name or ID.")],
    subnet_range: Annotated[
        str | None, typer.Option("--subnet-range", help="CIDR, e.g. 2001:db8:1::/64.")
    ] = None,
    ip_version: Annotated[
        int | None,
        typer.Option("--ip-version", help="4 or 6 (default: the range's; else 4)."),
    ] = None,
    ra_mode: Annotated[
        str | None,
        typer.Option("--ipv6-ra-mode", help="slaac, dhcpv6-stateful or dhcpv6-stateless."),
    ] = None,
    address_mode: Annotated[
        str | None,
        typer.Option("--ipv6-address-mode", help="slaac, dhcpv6-stateful or dhcpv6-stateless."),
    ] = None,
    gateway: Gateway = None,
    allocation_pool: AllocationPools = None,
    dns_nameserver: DnsNameservers = None,
    host_route: HostRoutes = None,
    dhcp: Dhcp = None,
    subnet_pool: Annotated[
        str | None, typer.Option("--subnet-pool", help="Allocate the range from this pool.")
    ] = None,
    prefix_length: Annotated[
        int | None, typer.Option("--prefix-length", help="Prefix length taken from the pool.")
    ] = None,
    use_default_pool: Annotated[
        bool, typer.Option("--use-default-subnet-pool", help="Take the range from the default.")
    ] = False,
    description: Description = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a subnet from a range, a subnet pool or the default pool."""
    if ip_version not in (None, 4, 6):
        raise typer.BadParameter("must be 4 or 6", param_hint="--ip-version")
    if not (subnet_range or subnet_pool or use_default_pool):
        ctx.fail("Give --subnet-range, --subnet-pool or --use-default-subnet-pool.")
    pools = options.allocation_pools(allocation_pool or [])
    routes = options.host_routes(host_route or [])
    api = client(ctx)
    pool = api.find("subnetpools", subnet_pool) if subnet_pool else None
    attributes = compact(
        name=name,
        network_id=api.find_id("networks", network),
        cidr=subnet_range,
        ip_version=_ip_version(ip_version, subnet_range, pool, bool(ra_mode or address_mode)),
        ipv6_ra_mode=ra_mode,
        ipv6_address_mode=address_mode,
        allocation_pools=pools or None,
        dns_nameservers=dns_nameserver or None,
        host_routes=routes or None,
        enable_dhcp=dhcp,
        subnetpool_id=pool["id"] if pool else None,
        prefixlen=prefix_length,
        use_default_subnetpool=use_default_pool or None,
        description=description,
        project_id=project,
    )
    attributes.update(_gateway(gateway))
    print_resource(api.create("subnets", attributes), as_json=want_json(ctx, json_flag))


@subnet_app.command("list")
def subnet_list(
    ctx: typer.Context,
    network: Annotated[str | None, typer.Option("--network", help="Network name or ID.")] = None,
    ip_version: Annotated[int | None, typer.Option("--ip-version", help="4 or 6.")] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List subnets."""
    api = client(ctx)
    network_id = api.find_id("networks", network) if network else None
    rows = api.list("subnets", **compact(network_id=network_id, ip_version=ip_version))
    print_list(rows, SUBNET_LONG if long else SUBNET_COLUMNS, as_json=want_json(ctx, json_flag))


@subnet_app.command("show")
def subnet_show(ctx: typer.Context, subnet: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one subnet."""
    print_resource(client(ctx).find("subnets", subnet), as_json=want_json(ctx, json_flag))


def _merged(
    current: list[Any] | None, added: list[Any], clear: bool, changed: bool
) -> list[Any] | None:
    """openstack `set` semantics: values are appended; --no-X clears first; None: untouched."""
    if not (clear or changed):
        return None
    return [*([] if clear else current or []), *added]


@subnet_app.command("set")
def subnet_set(
    ctx: typer.Context,
    subnet: NameOrId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    gateway: Gateway = None,
    dns_nameserver: DnsNameservers = None,
    no_dns: Annotated[
        bool, typer.Option("--no-dns-nameservers", help="Remove all DNS servers first.")
    ] = False,
    allocation_pool: AllocationPools = None,
    no_pools: Annotated[
        bool, typer.Option("--no-allocation-pool", help="Remove all pools first.")
    ] = False,
    host_route: HostRoutes = None,
    no_routes: Annotated[
        bool, typer.Option("--no-host-route", help="Remove all host routes first.")
    ] = False,
    dhcp: Dhcp = None,
    description: Description = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a subnet; list options add to what is there (use --no-... to replace)."""
    pools = options.allocation_pools(allocation_pool or [])
    routes = options.host_routes(host_route or [])
    api = client(ctx)
    current = api.find("subnets", subnet)
    attributes = compact(
        name=name,
        enable_dhcp=dhcp,
        description=description,
        dns_nameservers=_merged(
            current.get("dns_nameservers"), dns_nameserver or [], no_dns, bool(dns_nameserver)
        ),
        allocation_pools=_merged(current.get("allocation_pools"), pools, no_pools, bool(pools)),
        host_routes=_merged(current.get("host_routes"), routes, no_routes, bool(routes)),
    )
    attributes.update(_gateway(gateway))
    updated = api.update("subnets", current["id"], require_changes(ctx, attributes))
    print_resource(updated, as_json=want_json(ctx, json_flag))


@subnet_app.command("delete")
def subnet_delete(ctx: typer.Context, subnets: NamesOrIds) -> None:
    """Delete subnets."""
    delete_each(ctx, "subnets", subnets)


# --- subnet pool ---------------------------------------------------------------------------

POOL_COLUMNS = [Column("ID", "id"), Column("Name", "name"), Column("Prefixes", "prefixes")]
POOL_LONG = [
    *POOL_COLUMNS,
    Column("Version", "ip_version"),
    Column("Default length", "default_prefixlen"),
    Column("Min", "min_prefixlen"),
    Column("Max", "max_prefixlen"),
    Column("Shared", "shared"),
    Column("Default", "is_default"),
    Column("Project", "project_id", True),
]


@pool_app.command("create")
def pool_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new pool.")],
    pool_prefix: Annotated[
        list[str], typer.Option("--pool-prefix", help="A prefix of the pool (repeatable).")
    ],
    default_prefix_length: Annotated[
        int | None, typer.Option("--default-prefix-length", help="Default subnet length.")
    ] = None,
    min_prefix_length: Annotated[
        int | None, typer.Option("--min-prefix-length", help="Shortest subnet prefix.")
    ] = None,
    max_prefix_length: Annotated[
        int | None, typer.Option("--max-prefix-length", help="Longest subnet prefix.")
    ] = None,
    shared: Annotated[bool, typer.Option("--shared", help="Usable by every project.")] = False,
    default: Annotated[
        bool, typer.Option("--default", help="The default pool of its IP version.")
    ] = False,
    description: Description = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a subnet pool."""
    attributes = compact(
        name=name,
        prefixes=pool_prefix,
        default_prefixlen=default_prefix_length,
        min_prefixlen=min_prefix_length,
        max_prefixlen=max_prefix_length,
        shared=shared or None,
        is_default=default or None,
        description=description,
        project_id=project,
    )
    created = client(ctx).create("subnetpools", attributes)
    print_resource(created, as_json=want_json(ctx, json_flag))


@pool_app.command("list")
def pool_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="Only this name.")] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List subnet pools."""
    rows = client(ctx).list("subnetpools", **compact(name=name))
    print_list(rows, POOL_LONG if long else POOL_COLUMNS, as_json=want_json(ctx, json_flag))


@pool_app.command("show")
def pool_show(ctx: typer.Context, pool: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one subnet pool."""
    print_resource(client(ctx).find("subnetpools", pool), as_json=want_json(ctx, json_flag))


@pool_app.command("delete")
def pool_delete(ctx: typer.Context, pools: NamesOrIds) -> None:
    """Delete subnet pools."""
    delete_each(ctx, "subnetpools", pools)
