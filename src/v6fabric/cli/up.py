"""`v6fabric up`: run the API server in the foreground, creating the admin on first start.

Server modules are imported inside the command so that `v6fabric --help` and the client
commands stay fast and work where only the client is wanted.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

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
        typer.Option(
            "--no-agent",
            help="Run the API only. Accepted for scripts: there is no host agent yet, "
            "so the API is all that runs either way.",
        ),
    ] = False,
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
    if not no_agent:
        out.print(
            Text("Host agent        none yet: only the API runs (as with --no-agent)"),
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
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn handles SIGINT; this is a 2nd Ctrl-C
        server.run()
