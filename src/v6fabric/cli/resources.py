"""Helpers shared by the resource commands, and the `network` commands (openstack CLI names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.errors import ApiError, ClientError
from v6fabric.cli.output import Column, print_error, print_list, print_resource

network_app = typer.Typer(help="Networks (/v2.0/networks).", no_args_is_help=True)

NameOrId = Annotated[str, typer.Argument(help="Name or ID.")]
NamesOrIds = Annotated[list[str], typer.Argument(help="Names or IDs.")]
Long = Annotated[bool, typer.Option("--long", help="More columns.")]
Description = Annotated[str | None, typer.Option("--description", help="Free text.")]
Project = Annotated[str | None, typer.Option("--project", help="Owner project ID (admin).")]


def compact(**attributes: Any) -> dict[str, Any]:
    """Only the attributes the user gave; the server's defaults stay the server's business."""
    return {key: value for key, value in attributes.items() if value is not None}


def wire(attributes: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """Python-friendly keys -> Neutron's `provider:...` and `router:external` names."""
    return {renames.get(key, key): value for key, value in attributes.items()}


def delete_each(
    ctx: typer.Context, plural: str, names: Sequence[str], by_name: bool = True
) -> None:
    """Delete every one that can be; report the others and fail at the end, as openstack does.

    ``by_name=False`` for resources without names (security group rules): IDs only."""
    api = client(ctx)
    failed = 0
    for name in names:
        try:
            api.delete(plural, api.find_id(plural, name) if by_name else name)
        except ApiError as exc:
            print_error(f"{name}: {exc}")
            failed += 1
    if failed:
        raise ClientError(f"{failed} of {len(names)} {plural} could not be deleted")


def require_changes(ctx: typer.Context, attributes: dict[str, Any]) -> dict[str, Any]:
    """A `set` without options is a usage error (exit 2) rather than a silent no-op."""
    if not attributes:
        ctx.fail("Nothing to set: give at least one option.")
    return attributes


# --- network -------------------------------------------------------------------------------

NETWORK_RENAMES = {
    "router_external": "router:external",
    "network_type": "provider:network_type",
    "physical_network": "provider:physical_network",
    "segmentation_id": "provider:segmentation_id",
}
NETWORK_COLUMNS = [Column("ID", "id"), Column("Name", "name"), Column("Subnets", "subnets", True)]
NETWORK_LONG = [
    *NETWORK_COLUMNS,
    Column("Status", "status"),
    Column("Shared", "shared"),
    Column("External", "router:external"),
    Column("MTU", "mtu"),
    Column("Type", "provider:network_type"),
    Column("Segment", "provider:segmentation_id"),
    Column("Port security", "port_security_enabled"),
    Column("Project", "project_id", True),
]


@network_app.command("create")
def network_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new network.")],
    shared: Annotated[bool, typer.Option("--shared", help="Usable by every project.")] = False,
    external: Annotated[bool, typer.Option("--external", help="router:external.")] = False,
    mtu: Annotated[int | None, typer.Option("--mtu", help="MTU (default: fabric's).")] = None,
    disable_port_security: Annotated[
        bool, typer.Option("--disable-port-security", help="No anti-spoofing or groups.")
    ] = False,
    network_type: Annotated[
        str | None, typer.Option("--provider-network-type", help="flat, vlan, vxlan, gre...")
    ] = None,
    physical_network: Annotated[
        str | None, typer.Option("--provider-physical-network", help="Physnet name.")
    ] = None,
    segment: Annotated[
        int | None, typer.Option("--provider-segment", help="VLAN ID or tunnel key.")
    ] = None,
    description: Description = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a network."""
    attributes = compact(
        name=name,
        shared=shared or None,
        router_external=external or None,
        mtu=mtu,
        port_security_enabled=False if disable_port_security else None,
        network_type=network_type,
        physical_network=physical_network,
        segmentation_id=segment,
        description=description,
        project_id=project,
    )
    created = client(ctx).create("networks", wire(attributes, NETWORK_RENAMES))
    print_resource(created, as_json=want_json(ctx, json_flag))


@network_app.command("list")
def network_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="Only this name.")] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List networks."""
    rows = client(ctx).list("networks", **compact(name=name))
    columns = NETWORK_LONG if long else NETWORK_COLUMNS
    print_list(rows, columns, as_json=want_json(ctx, json_flag))


@network_app.command("show")
def network_show(ctx: typer.Context, network: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one network."""
    print_resource(client(ctx).find("networks", network), as_json=want_json(ctx, json_flag))


@network_app.command("set")
def network_set(
    ctx: typer.Context,
    network: NameOrId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    mtu: Annotated[int | None, typer.Option("--mtu", help="New MTU.")] = None,
    shared: Annotated[
        bool | None, typer.Option("--shared/--no-shared", help="Share with every project.")
    ] = None,
    port_security: Annotated[
        bool | None,
        typer.Option(
            "--enable-port-security/--disable-port-security", help="Default for new ports."
        ),
    ] = None,
    description: Description = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a network."""
    attributes = compact(
        name=name,
        mtu=mtu,
        shared=shared,
        port_security_enabled=port_security,
        description=description,
    )
    changes = require_changes(ctx, attributes)
    api = client(ctx)
    updated = api.update("networks", api.find_id("networks", network), changes)
    print_resource(updated, as_json=want_json(ctx, json_flag))


@network_app.command("delete")
def network_delete(ctx: typer.Context, networks: NamesOrIds) -> None:
    """Delete networks."""
    delete_each(ctx, "networks", networks)
