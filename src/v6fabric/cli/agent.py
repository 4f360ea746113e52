"""`v6fabric agent`: the host agent, making this host's Linux match its HostState."""

from __future__ import annotations

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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every action.")] = False,
) -> None:
    """Run the host agent in the foreground (admin credentials from OS_* or the state dir)."""
    from v6fabric.agent.loop import Agent
    from v6fabric.cli.client import Credentials
    from v6fabric.collector import tune_for_long_running
    from v6fabric.metadata.config import Backend

    if (metadata_backend is None) != (metadata_secret_file is None):
        raise typer.BadParameter("--metadata-backend and --metadata-secret-file go together")

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
    )
    tune_for_long_running()
    try:
        worker.run(stop)
    finally:
        worker.close()
