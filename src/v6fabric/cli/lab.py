"""`v6fabric lab`: a multi-host lab on this machine for demos (``v6fabric.lab``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from v6fabric.cli.output import console

lab_app = typer.Typer(
    help="A lab of simulated hosts on this machine (namespaces joined by an underlay).",
    no_args_is_help=True,
)


@lab_app.command("up")
def lab_up(
    hosts: Annotated[int, typer.Option("--hosts", help="How many hosts.")] = 3,
    underlay: Annotated[
        str, typer.Option("--underlay", help="The underlay's family: ipv6, ipv4 or dual.")
    ] = "ipv6",
    tag: Annotated[
        str | None, typer.Option("--tag", help="Names the lab's objects (default: random).")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="The lab's directory (server state, agents' run dirs, logs), removed when "
            "the lab stops (default: /run/v6fabric/labs/<tag>).",
        ),
    ] = None,
    l3_hosts: Annotated[
        int,
        typer.Option(
            "--l3-hosts", help="Hosts 1..n have the network role (routers spread over them)."
        ),
    ] = 1,
    l3_agent_down_seconds: Annotated[
        float | None,
        typer.Option(
            "--l3-agent-down-seconds",
            help="Move a host's routers when its agent is silent this long (server default 75).",
        ),
    ] = None,
    heartbeat_seconds: Annotated[
        float | None,
        typer.Option("--heartbeat-seconds", help="Agents report at least this often."),
    ] = None,
    physical_network: Annotated[
        list[str] | None,
        typer.Option(
            "--physical-network",
            help="A physical segment every host has an interface on, eth1.. in order "
            "(repeatable): provider and external networks use it.",
        ),
    ] = None,
    ipv6_gateway: Annotated[
        str | None,
        typer.Option(
            "--ipv6-gateway",
            help="Upstream next hop for routers whose external network has no IPv6 gateway "
            "(default: learnt from the upstream's RAs).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Agents log every action.")] = (
        False
    ),
) -> None:
    """Run a lab in the foreground until Ctrl-C, then remove all of it."""
    from v6fabric.lab import run

    out = console()
    try:
        handle = run.up(
            hosts,
            underlay,
            tag,
            state_dir=state_dir,
            verbose=verbose,
            l3_hosts=l3_hosts,
            l3_agent_down_seconds=l3_agent_down_seconds,
            heartbeat_seconds=heartbeat_seconds,
            physical_networks=tuple(physical_network or ()),
            ipv6_gateway=ipv6_gateway,
        )
    except (ValueError, run.LabError) as exc:
        out.print(Text(f"lab up failed: {exc}", "red"), soft_wrap=True)
        raise typer.Exit(1) from exc
    stop = _stop_on_signals()
    try:
        out.print(Text(f"Lab {handle.tag} up in {handle.seconds:.1f} s", "bold"), soft_wrap=True)
        out.print(Text(f"API               {handle.api_url} (agents: {handle.agent_url})"))
        for host in handle.hosts:
            addresses = ", ".join(host.underlay.values())
            roles = ",".join(host.roles)
            out.print(
                Text(
                    f"Host {host.name}  netns {host.netns}  {addresses}  [{roles}]  log {host.log}"
                ),
                soft_wrap=True,
            )
        for physnet in handle.plan.physical_networks:
            bridge = handle.plan.physical_bridge(physnet)
            out.print(
                Text(f"Physical network {physnet}: bridge {bridge} in netns {handle.plan.netns}"),
                soft_wrap=True,
            )
        out.print(
            Text(f"Use it:           source {handle.openrc} && v6fabric network list"),
            soft_wrap=True,
        )
        out.print(Text("Press Ctrl-C to stop (and remove) the lab."))
        stop.wait()
    finally:
        handle.down()
        out.print(Text(f"Lab {handle.tag} removed."))


def _stop_on_signals() -> _Stop:
    stop = _Stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop.set)
    return stop


class _Stop:
    """A flag a signal handler sets (an Event's lock could be held by the interrupted wait)."""

    def __init__(self) -> None:
        self.is_set = False

    def set(self, *_: object) -> None:
        self.is_set = True

    def wait(self) -> None:
        while not self.is_set:
            time.sleep(0.2)


@lab_app.command("down")
def lab_down(
    tag: Annotated[
        str | None,
        typer.Option("--tag", help="The lab to remove (default: every lab found on this machine)."),
    ] = None,
) -> None:
    """Remove labs left behind (after a crash): processes, namespaces, files."""
    from v6fabric.lab import cleanup

    out = console()
    tags = [tag] if tag else cleanup.recorded_tags()
    failed = False
    for each in tags:
        problems = cleanup.remove(each)
        if problems:
            failed = True
            out.print(Text(f"lab {each}: left behind:\n" + "\n".join(problems), "red"))
        else:
            out.print(Text(f"lab {each} removed"))
    if not tags:
        out.print(Text("no lab found"))
    if failed:
        raise typer.Exit(1)
