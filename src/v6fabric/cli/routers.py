"""`router` commands, named like the openstack CLI's: create, list, show, set, delete, and
add/remove subnet or port."""

from __future__ import annotations

from typing import Annotated

import typer

from v6fabric.cli import options
from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.output import Column, print_list, print_resource
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
    json_flag: JsonOption = False,
) -> None:
    """Create a router."""
    attributes = compact(
        name=name, admin_state_up=False if disable else None, description=description
    )
    print_resource(client(ctx).create("routers", attributes), as_json=want_json(ctx, json_flag))


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
    json_flag: JsonOption = False,
) -> None:
    """Change a router; --route adds to its routes (after --no-route, replaces them)."""
    api = client(ctx)
    current = api.find("routers", router)
    attributes = compact(name=name, admin_state_up=state)
    if route or no_route:
        kept = [] if no_route else list(current["routes"])
        attributes["routes"] = kept + options.host_routes(route or [])
    if not attributes:
        ctx.fail("Nothing to set: give at least one option.")
    updated = api.update("routers", current["id"], attributes)
    print_resource(updated, as_json=want_json(ctx, json_flag))


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
