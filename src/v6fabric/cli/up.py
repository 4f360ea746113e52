"""`v6fabric up`: run the API server in the foreground, creating the admin on first start.

Server modules are imported inside the command so that `v6fabric --help` and the client
commands stay fast and work where only the client is wanted.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from v6fabric.cli.output import console


def up(
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Database and credentials (default: $V6FABRIC_STATE_DIR or /var/lib/v6fabric).",
        ),
    ] = None,
    api_host: Annotated[str, typer.Option("--api-host", help="Address to listen on.")] = (
        "127.0.0.1"
    ),
    api_port: Annotated[int, typer.Option("--api-port", help="Port to listen on.")] = 9696,
    no_agent: Annotated[
        bool,
        typer.Option("--no-agent", help="Run the API only, without a local host agent."),
    ] = False,
    host_netns: Annotated[
        str | None,
        typer.Option(
            "--host-netns",
            help="The local agent keeps bridges and taps in this namespace (v6h-...).",
        ),
    ] = None,
) -> None:
    """Run the API (Neutron v2.0 + Keystone v3) in the foreground until Ctrl-C."""
    import uvicorn

    from v6fabric.api.app import create_app
    from v6fabric.settings import Settings

    settings = Settings.from_env(state_dir=state_dir, api_host=api_host, api_port=api_port)
    state = settings.state_dir
    created = not state.exists()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    if created:
        os.chmod(state, 0o700)  # exactly 0700 whatever the umask: the dir holds secrets
    openrc = state / "admin-openrc.sh"
    had_openrc = openrc.exists()
    app = create_app(settings)
    openrc = app.state.identity.ensure_admin(state) or openrc

    out = console()
    out.print(
        Text(f"v6fabric API      {settings.base_url}  (Neutron v2.0 at /v2.0)", "bold"),
        soft_wrap=True,
    )
    out.print(Text(f"Identity (v3)     {settings.identity_url}"), soft_wrap=True)
    if not openrc.exists():
        out.print(
            Text(f"Admin credentials missing: {openrc} (the admin exists already)", "yellow"),
            soft_wrap=True,
        )
    else:
        note = "" if had_openrc else "  (admin created now; keep this file private)"
        out.print(Text(f"Admin credentials {openrc}{note}"), soft_wrap=True)
        out.print(
            Text(f"Use them:         source {openrc} && v6fabric network list"), soft_wrap=True
        )
    host = socket.gethostname()
    if not no_agent:
        out.print(
            Text(f"Host agent        {host} (a separate process; log {state / 'agent.log'})"),
            soft_wrap=True,
        )
    out.print(Text("Press Ctrl-C to stop."), soft_wrap=True)

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            access_log=False,
        )
    )
    agent: list[subprocess.Popen[bytes]] = []
    if not no_agent:
        threading.Thread(
            target=_start_agent_when_serving,
            args=(server, settings.base_url, host, state, host_netns, agent),
            daemon=True,
        ).start()
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn handles SIGINT; a 2nd Ctrl-C
            server.run()
    finally:
        for process in agent:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def _start_agent_when_serving(
    server: Any,
    base_url: str,
    host: str,
    state: Path,
    host_netns: str | None,
    started: list[subprocess.Popen[bytes]],
) -> None:
    """The local agent is a separate process talking HTTP, exactly as on a remote host; it
    authenticates with the admin credentials of the state directory."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    argv = [
        sys.executable,
        "-c",
        "from v6fabric.cli.main import main; main()",
        "agent",
        "--server",
        base_url,
        "--host",
        host,
        "--run-dir",
        str(state / "agent"),
    ]
    if host_netns:
        argv += ["--host-netns", host_netns]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["V6FABRIC_STATE_DIR"] = str(state)
    with open(state / "agent.log", "ab") as log:
        started.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
