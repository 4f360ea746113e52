"""`v6fabric metadata-proxy`: the host's metadata proxy daemon, started by the agent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def metadata_proxy(
    config: Annotated[
        Path, typer.Option("--config", help="The JSON config the agent writes (spec, backend).")
    ],
    pid_file: Annotated[
        Path, typer.Option("--pid-file", help="Written once the listeners are open.")
    ],
    status_file: Annotated[
        Path | None,
        typer.Option(
            "--status-file",
            help="JSON written after each (re)load and check: the loaded config's digest, "
            "listeners open and pending.",
        ),
    ] = None,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="Log here instead of standard error.")
    ] = None,
    neighbour_ttl: Annotated[
        float,
        typer.Option(
            "--neighbour-ttl",
            help="Seconds to reuse a peer's MAC across connections (0: ask the kernel per "
            "connection; a cache lets an address taken over by another MAC pass for its "
            "old owner that long).",
        ),
    ] = 0.0,
    check_interval: Annotated[
        float,
        typer.Option(
            "--check-interval",
            help="Seconds between retries of listeners not open yet and checks for namespaces "
            "or interfaces made anew.",
        ),
    ] = 5.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Serve metadata in every namespace of the config until SIGTERM; SIGHUP reloads it."""
    from v6fabric.metadata.daemon import run

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=str(log_file) if log_file else None,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    status = run(
        config,
        pid_file,
        neighbour_ttl=neighbour_ttl,
        check_interval=check_interval,
        status_file=status_file,
    )
    raise typer.Exit(status)
