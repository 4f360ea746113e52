"""`router` commands, named like the openstack CLI's: create, list, show, set, delete,
add/remove subnet or port, and ``routes``: what the upstream router must route to each
router's gateway (IPv6 is not translated, R4)."""

from __future__ import annotations

from typing import Annotated

import typer

from v6fabric.cli import options
from v6fabric.cli.client import FabricClient
from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.output import Column, print_list, print_resource
from v6fabric.cli.ports import FixedIps, resolved_fixed_ips
from v6fabric.cli.resources import Description, NameOrId, NamesOrIds, compact, delete_each

router_app = typer.Typer(help="Routers (/v2.0/routers).", no_args_is_help=True)
COLUMNS = [
    Column("ID", "id"),
    Column("Name", "name"),
    Column("Status", "status"),
    Column("State", "admin_state_up"),
    Column(
        "Routes", lambda r: "\n".join(f"{x['destination']} -> {x['nexthop']}" for x in r["routes"])
    ),
    Column("External network", lambda r: (r["external_gateway_info"] or {}).get("network_id")),
]
UPSTREAM_COLUMNS = [
    Column("Destination", "destination"),
    Column("Next hop", "nexthop"),
    Column("Router", "router_id"),
    Column("External network", "external_network_id"),
]
ExternalGateway = Annotated[
    str | None,
    typer.Option("--external-gateway", help="External network (name or ID) for the gateway."),
]
Ha = Annotated[
    bool | None,
    typer.Option("--ha/--no-ha", help="L3 HA: instances on several L3 hosts (admin)."),
]
Distributed = Annotated[
    bool | None,
    typer.Option(
        "--distributed/--centralized",
        help="DVR: routed on each workload's host, north/south via the L3 host (admin).",
    ),
]
Snat = Annotated[
    bool | None,
    typer.Option(
        "--enable-snat/--disable-snat", help="IPv4 source NAT (admin; IPv6 is never translated)."
    ),
]
Routes = Annotated[
    list[str] | None,
    typer.Option(
        "--route",
        metavar="destination=CIDR,gateway=IP",
        help="Extra route (repeatable); the gateway must be on one of the router's subnets.",
    ),
]


@router_app.command("create")
def router_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new router.")],
    disable: Annotated[bool, typer.Option("--disable", help="Create it down.")] = False,
    description: Description = None,
    external_gateway: ExternalGateway = None,
    fixed_ip: FixedIps = None,
    snat: Snat = None,
    ha: Ha = None,
    distributed: Distributed = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a router, with a gateway on an external network if --external-gateway."""
    api = client(ctx)
    attributes = compact(
        name=name,
        admin_state_up=False if disable else None,
        description=description,
        ha=ha,
        distributed=distributed,
    )
    if external_gateway:
        attributes["external_gateway_info"] = _gateway(api, external_gateway, fixed_ip, snat)
    elif fixed_ip or snat is not None:
        ctx.fail("--fixed-ip and --enable-snat/--disable-snat need --external-gateway.")
    print_resource(api.create("routers", attributes), as_json=want_json(ctx, json_flag))


def _gateway(
    api: FabricClient, network: str, fixed_ip: list[str] | None, snat: bool | None
) -> dict:
    info: dict = {"network_id": api.find_id("networks", network)}
    if fixed_ip:
        info["external_fixed_ips"] = resolved_fixed_ips(api, fixed_ip)
    if snat is not None:
        info["enable_snat"] = snat
    return info


@router_app.command("list")
def router_list(ctx: typer.Context, json_flag: JsonOption = False) -> None:
    """List routers."""
    print_list(client(ctx).list("routers"), COLUMNS, as_json=want_json(ctx, json_flag))


@router_app.command("show")
def router_show(ctx: typer.Context, router: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one router."""
    print_resource(client(ctx).find("routers", router), as_json=want_json(ctx, json_flag))


@router_app.command("set")
def router_set(
    ctx: typer.Context,
    router: NameOrId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    route: Routes = None,
    no_route: Annotated[bool, typer.Option("--no-route", help="Remove all routes first.")] = False,
    state: Annotated[bool | None, typer.Option("--enable/--disable", help="Up or down.")] = None,
    external_gateway: ExternalGateway = None,
    fixed_ip: FixedIps = None,
    snat: Snat = None,
    no_external_gateway: Annotated[
        bool, typer.Option("--no-external-gateway", help="Remove the gateway.")
    ] = False,
    ha: Ha = None,
    distributed: Distributed = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a router; --route adds to its routes (after --no-route, replaces them).
    --ha/--no-ha and --distributed/--centralized need the router down (--disable, in the
    same call or before)."""
    api = client(ctx)
    current = api.find("routers", router)
    attributes = compact(name=name, admin_state_up=state, ha=ha, distributed=distributed)
    if no_external_gateway and (external_gateway or fixed_ip or snat is not None):
        ctx.fail("--no-external-gateway takes no other gateway option.")
    if no_external_gateway:
        attributes["external_gateway_info"] = None
    elif external_gateway:
        attributes["external_gateway_info"] = _gateway(api, external_gateway, fixed_ip, snat)
    elif fixed_ip or snat is not None:
        ctx.fail("--fixed-ip and --enable-snat/--disable-snat need --external-gateway.")
    if route or no_route:
        kept = [] if no_route else list(current["routes"])
        attributes["routes"] = kept + options.host_routes(route or [])
    if not attributes:
        ctx.fail("Nothing to set: give at least one option.")
    updated = api.update("routers", current["id"], attributes)
    print_resource(updated, as_json=want_json(ctx, json_flag))


@router_app.command("routes")
def router_routes(
    ctx: typer.Context,
    router: Annotated[str | None, typer.Argument(help="Only this router (name or ID).")] = None,
    external_network: Annotated[
        str | None, typer.Option("--external-network", help="Only gateways on this network.")
    ] = None,
    json_flag: JsonOption = False,
) -> None:
    """The routes an upstream router needs: each tenant prefix via its router's gateway
    (a link-local next hop is on the external network's link)."""
    api = client(ctx)
    query: dict = {}
    if router:
        query["router_id"] = api.find_id("routers", router)
    if external_network:
        query["external_network_id"] = api.find_id("networks", external_network)
    found = api.request("GET", "/v2.0/upstream_routes", params=query)["upstream_routes"]
    print_list(found, UPSTREAM_COLUMNS, as_json=want_json(ctx, json_flag))


@router_app.command("delete")
def router_delete(ctx: typer.Context, routers: NamesOrIds) -> None:
    """Delete routers (remove their interfaces first)."""
    delete_each(ctx, "routers", routers)


def _interface(
    ctx: typer.Context, action: str, router: str, key: str, plural: str, ref: str
) -> None:
    api = client(ctx)
    router_id = api.find_id("routers", router)
    body = {key: api.find_id(plural, ref)}
    result = api.request("PUT", f"/v2.0/routers/{router_id}/{action}_router_interface", body)
    print_resource(result, as_json=want_json(ctx, False))


@router_app.command("add-subnet")
def router_add_subnet(ctx: typer.Context, router: NameOrId, subnet: NameOrId) -> None:
    """Attach a subnet: its gateway address goes on the router (IPv6 subnets of one network
    share one router port)."""
    _interface(ctx, "add", router, "subnet_id", "subnets", subnet)


@router_app.command("remove-subnet")
def router_remove_subnet(ctx: typer.Context, router: NameOrId, subnet: NameOrId) -> None:
    """Detach a subnet."""
    _interface(ctx, "remove", router, "subnet_id", "subnets", subnet)


@router_app.command("add-port")
def router_add_port(ctx: typer.Context, router: NameOrId, port: NameOrId) -> None:
    """Attach an existing port as a router interface."""
    _interface(ctx, "add", router, "port_id", "ports", port)


@router_app.command("remove-port")
def router_remove_port(ctx: typer.Context, router: NameOrId, port: NameOrId) -> None:
    """Detach (and delete) a router interface port."""
    _interface(ctx, "remove", router, "port_id", "ports", port)
