"""The `v6fabric` command: resource commands over the API, `admin`, and `up` to run a server."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from v6fabric.cli.admin import admin_app
from v6fabric.cli.agent import agent
from v6fabric.cli.context import FabricGroup, state
from v6fabric.cli.lab import lab_app
from v6fabric.cli.metadata_proxy import metadata_proxy
from v6fabric.cli.ports import port_app, quota_app, token_app
from v6fabric.cli.resources import network_app
from v6fabric.cli.routers import router_app
from v6fabric.cli.security_groups import security_app
from v6fabric.cli.subnets import subnet_app
from v6fabric.cli.up import up
from v6fabric.cli.workloads import workload_app

app = typer.Typer(
    cls=FabricGroup,
    name="v6fabric",
    help=(
        "IPv6-first network service. Resource commands talk to the API with the OS_* "
        "credentials (or $V6FABRIC_STATE_DIR/admin-openrc.sh); `up` runs the server."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(network_app, name="network")
app.add_typer(subnet_app, name="subnet")
app.add_typer(port_app, name="port")
app.add_typer(router_app, name="router")
app.add_typer(security_app, name="security")
app.add_typer(quota_app, name="quota")
app.add_typer(token_app, name="token")
app.add_typer(admin_app, name="admin")
app.add_typer(workload_app, name="workload")
app.add_typer(lab_app, name="lab")
app.command("agent")(agent)
app.command("up")(up)
app.command("metadata-proxy")(metadata_proxy)


def _version(show: bool) -> None:
    if show:
        try:
            typer.echo(version("v6fabric"))
        except PackageNotFoundError:
            typer.echo("unknown")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON output for every command (same as per command).")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Keep the invocation's shared state (a test may have passed its own as `obj`)."""
    state(ctx).json_output |= json_output


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # `python -m v6fabric.cli.main`: how the agent starts daemons
    main()
