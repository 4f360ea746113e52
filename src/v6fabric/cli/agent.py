"""`v6fabric agent`: the host agent, making this host's Linux match its HostState."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_RUN_DIR = Path("/run/v6fabric/agent")


def agent(
    server: Annotated[
        str, typer.Option("--server", help="API base URL, e.g. http://127.0.0.1:9696.")
    ],
    host: Annotated[
        str | None, typer.Option("--host", help="This host's name (default: the hostname).")
    ] = None,
    host_netns: Annotated[
        str | None,
        typer.Option(
            "--host-netns",
            help="Keep bridges and taps in this namespace (v6h-...), as test labs do; "
            "default: the root namespace.",
        ),
    ] = None,
    netns: Annotated[
        str | None,
        typer.Option(
            "--netns",
            help="Live in this network namespace (v6h-...) as if it were the host's root one "
            "(labs of several hosts on one machine): the agent's connections to the server "
            "leave from it, and its bridges and taps are made in it.",
        ),
    ] = None,
    underlay_ip: Annotated[
        list[str] | None,
        typer.Option(
            "--underlay-ip",
            help="This host's tunnel endpoint, one per family (repeat for IPv4 and IPv6); "
            "sent with the registration.",
        ),
    ] = None,
    physical_network: Annotated[
        list[str] | None,
        typer.Option(
            "--physical-network",
            help="NAME=IFACE: this host's interface on a physical network (repeatable); flat "
            "provider networks on NAME get IFACE on their bridge. Sent with the registration.",
        ),
    ] = None,
    roles: Annotated[
        str,
        typer.Option("--roles", help="What this host runs, comma-separated: compute, network."),
    ] = "compute,network",
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Daemon configs, pid and lease files.")
    ] = DEFAULT_RUN_DIR,
    metadata_backend: Annotated[
        str | None,
        typer.Option(
            "--metadata-backend",
            help="Proxy metadata requests to this Nova-compatible metadata service (an "
            "external VIM's); default: answer from the fabric's workload records.",
        ),
    ] = None,
    metadata_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--metadata-secret-file",
            help="The secret shared with --metadata-backend that signs instance ids.",
        ),
    ] = None,
    heartbeat_seconds: Annotated[
        float,
        typer.Option(
            "--heartbeat-seconds",
            min=0.1,
            help="Report to the server at least this often, even when nothing changed (the "
            "server moves routers off a host silent for longer than its L3 agent down time).",
        ),
    ] = 10.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every action.")] = False,
) -> None:
    """Run the host agent in the foreground (admin credentials from OS_* or the state dir)."""
    from v6fabric.agent.loop import Agent
    from v6fabric.cli.credentials import Credentials
    from v6fabric.collector import tune_for_long_running
    from v6fabric.metadata.config import Backend

    if (metadata_backend is None) != (metadata_secret_file is None):
        raise typer.BadParameter("--metadata-backend and --metadata-secret-file go together")
    if netns is not None and host_netns not in (None, netns):
        raise typer.BadParameter("--netns is the host namespace: --host-netns must be the same")
    underlay = _underlay(underlay_ip or [])
    physical_networks = _physical_networks(physical_network or [])
    role_list = tuple(r.strip() for r in roles.split(",") if r.strip())
    if not role_list:
        raise typer.BadParameter("--roles needs at least one role")
    if netns is not None:
        from v6fabric.drivers.netns import enter_for_process

        enter_for_process(netns)  # first, while this is the only thread
        host_netns = netns

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per long-poll is noise
    stop = threading.Event()

    def _stop(*_: object) -> None:
        # Also break out of a long-poll at once. Half-applied work is safe: the agent is
        # level-triggered, and the next start resumes from what the host actually has.
        stop.set()
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    worker = Agent(
        host or socket.gethostname(),
        server_url=server,
        credentials=Credentials.from_env(),
        host_netns=host_netns,
        run_dir=run_dir,
        metadata_backend=(
            Backend(metadata_backend, str(metadata_secret_file))
            if metadata_backend and metadata_secret_file
            else None
        ),
        roles=role_list,
        underlay=underlay,
        physical_networks=physical_networks,
    )
    tune_for_long_running()
    try:
        worker.run(stop, heartbeat=heartbeat_seconds)
    finally:
        worker.close()


def _underlay(addresses: list[str]) -> dict[str, str]:
    """``--underlay-ip`` values by family: ``{"ipv4": ..., "ipv6": ...}``, one each at most."""
    found: dict[str, str] = {}
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise typer.BadParameter(f"--underlay-ip {text!r}: {exc}") from exc
        family = f"ipv{address.version}"
        if family in found:
            raise typer.BadParameter(f"--underlay-ip: two {family} addresses")
        found[family] = str(address)
    return found


def _physical_networks(values: list[str]) -> dict[str, str]:
    """``--physical-network NAME=IFACE`` values: ``{NAME: IFACE}``, each name and interface
    once (the server checks the names again)."""
    found: dict[str, str] = {}
    for text in values:
        name, _, iface = text.partition("=")
        name, iface = name.strip(), iface.strip()
        if not name or not iface or len(iface) > 15 or "/" in iface:
            raise typer.BadParameter(f"--physical-network {text!r}: NAME=IFACE (IFACE <= 15)")
        if name in found or iface in found.values():
            raise typer.BadParameter(f"--physical-network {text!r}: given twice")
        found[name] = iface
    return found
