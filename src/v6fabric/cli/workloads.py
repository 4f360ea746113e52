"""`workload` commands: namespace workloads (VM stand-ins) plugged into ports on a host."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from v6fabric.cli.client import FabricClient
from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.errors import ApiError, ClientError
from v6fabric.cli.options import key_values
from v6fabric.cli.output import Column, print_error, print_list, print_resource

workload_app = typer.Typer(
    help="Namespace workloads (/fabric/v1/workloads): VM stand-ins that learn their addresses "
    "from the network.",
    no_args_is_help=True,
)
COLUMNS = [
    Column("ID", "id"),
    Column("Name", "name"),
    Column("Host", "host"),
    Column("Ports", lambda w: "\n".join(w["port_ids"]), True),
    Column("Status", "status"),
]
PATH = "/fabric/v1/workloads"


def _find(api: FabricClient, name_or_id: str) -> dict[str, Any]:
    try:
        return api.request("GET", f"{PATH}/{name_or_id}")["workload"]
    except ApiError as exc:
        if exc.status != 404:
            raise
    matches = [w for w in api.request("GET", PATH)["workloads"] if w["name"] == name_or_id]
    if len(matches) != 1:
        raise ApiError(404, "NotFound", f"No single workload with name or ID '{name_or_id}'")
    return matches[0]


@workload_app.command("create")
def workload_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new workload.")],
    port: Annotated[
        list[str], typer.Option("--port", help="Port name or ID: eth0, eth1, ... in order.")
    ],
    host: Annotated[
        str | None, typer.Option("--host", help="Host to run on (default: this machine's name).")
    ] = None,
    user_data_file: Annotated[
        Path | None,
        typer.Option("--user-data-file", help="File whose text the metadata service serves."),
    ] = None,
    ssh_key: Annotated[
        list[str] | None,
        typer.Option("--ssh-key", help="NAME=PATH of an OpenSSH public key file (repeatable)."),
    ] = None,
    prop: Annotated[
        list[str] | None,
        typer.Option("--property", help="KEY=VALUE for meta_data.json's meta (repeatable)."),
    ] = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a workload plugged into the given ports (they get bound to the host)."""
    api = client(ctx)
    body: dict[str, Any] = {
        "name": name,
        "host": host or socket.gethostname(),
        "port_ids": [api.find_id("ports", p) for p in port],
    }
    if user_data_file is not None:
        body["user_data"] = _read(user_data_file, "--user-data-file")
    if ssh_key:
        body["public_keys"] = [
            {"name": key_name, "key": _read(Path(path), "--ssh-key").strip()}
            for key_name, path in key_values(ssh_key, "--ssh-key").items()
        ]
    if prop:
        body["properties"] = key_values(prop, "--property")
    created = api.request("POST", PATH, {"workload": body})["workload"]
    print_resource(created, as_json=want_json(ctx, json_flag))


def _read(path: Path, option: str) -> str:
    """A file's text, or a usage error naming the option (not a traceback)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from None


@workload_app.command("list")
def workload_list(ctx: typer.Context, json_flag: JsonOption = False) -> None:
    """List workloads."""
    rows = client(ctx).request("GET", PATH)["workloads"]
    print_list(rows, COLUMNS, as_json=want_json(ctx, json_flag))


@workload_app.command("show")
def workload_show(
    ctx: typer.Context,
    workload: Annotated[str, typer.Argument(help="Workload name or ID.")],
    json_flag: JsonOption = False,
) -> None:
    """Show one workload."""
    print_resource(_find(client(ctx), workload), as_json=want_json(ctx, json_flag))


@workload_app.command("delete")
def workload_delete(
    ctx: typer.Context,
    workloads: Annotated[list[str], typer.Argument(help="Workload names or IDs.")],
) -> None:
    """Delete workloads (their ports stay, unbound)."""
    api = client(ctx)
    failed = 0
    for name in workloads:
        try:
            api.request("DELETE", f"{PATH}/{_find(api, name)['id']}")
        except ApiError as exc:
            print_error(f"{name}: {exc}")
            failed += 1
    if failed:
        raise ClientError(f"{failed} of {len(workloads)} workloads could not be deleted")
