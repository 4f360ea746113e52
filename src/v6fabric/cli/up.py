"""`v6fabric up`: run the API server in the foreground, creating the admin on first start.

Server modules are imported inside the command so that `v6fabric --help` and the client
commands stay fast and work where only the client is wanted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from v6fabric.cli.output import console

AGENT_RUN_DIR = Path("/run/v6fabric")
PR_SET_PDEATHSIG = 1


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
    listen_netns: Annotated[
        str | None,
        typer.Option(
            "--listen-netns",
            help="Make the --listen-address sockets inside this network namespace (a lab's "
            "underlay), besides the --api-host one here.",
        ),
    ] = None,
    listen_addresses: Annotated[
        list[str] | None,
        typer.Option(
            "--listen-address",
            help="Also listen on this address, same port (repeatable; see --listen-netns).",
        ),
    ] = None,
    overlay_ip_version: Annotated[
        int | None,
        typer.Option(
            "--overlay-ip-version",
            help="The tunnels' underlay family, 4 or 6 (default: $V6FABRIC_OVERLAY_IP_VERSION "
            "or 4).",
        ),
    ] = None,
) -> None:
    """Run the API (Neutron v2.0 + Keystone v3) in the foreground until Ctrl-C."""
    import uvicorn

    from v6fabric.api.app import create_app
    from v6fabric.cli.listen import listening_sockets
    from v6fabric.collector import tune_for_long_running
    from v6fabric.settings import Settings

    if overlay_ip_version not in (None, 4, 6):
        raise typer.BadParameter("--overlay-ip-version must be 4 or 6")
    if listen_netns and not listen_addresses:
        raise typer.BadParameter("--listen-netns needs at least one --listen-address")
    settings = Settings.from_env(
        state_dir=state_dir,
        api_host=api_host,
        api_port=api_port,
        overlay_ip_version=overlay_ip_version,
    )
    state = settings.state_dir
    created = not state.exists()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    if created:
        os.chmod(state, 0o700)  # exactly 0700 whatever the umask: the dir holds secrets
    openrc = state / "admin-openrc.sh"
    had_openrc = openrc.exists()
    app = create_app(settings)
    openrc = app.state.identity.ensure_admin(state) or openrc
    tune_for_long_running()

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
    # Extra listeners: every socket is made here (the extra ones in --listen-netns) and handed
    # to uvicorn; without them uvicorn binds --api-host itself, as it always did.
    sockets = (
        listening_sockets(settings.api_host, settings.api_port, listen_netns, listen_addresses)
        if listen_addresses
        else None
    )
    for extra in (sockets or [])[1:]:
        where = f" in {listen_netns}" if listen_netns else ""
        address, port = extra.getsockname()[:2]
        shown = f"[{address}]" if ":" in address else address
        out.print(Text(f"Also listening    http://{shown}:{port}{where}"), soft_wrap=True)
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
    # uvicorn serves from a thread so that the main thread owns the agent process: the
    # agent's parent-death signal fires when the thread that started it ends.
    serving = threading.Thread(
        target=server.run,
        kwargs={"sockets": sockets} if sockets else {},
        name="v6fabric-api",
        daemon=True,
    )
    serving.start()
    while not server.started:
        if not serving.is_alive():
            raise typer.Exit(1)
        time.sleep(0.05)
    agent = None if no_agent else _start_agent(settings.base_url, host, state, host_netns)
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a background job ignores it
        signal.signal(sig, _interrupt)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while serving.is_alive():
                serving.join(0.5)
    finally:
        server.should_exit = True
        if agent is not None:
            agent.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.wait(timeout=10)
        serving.join(timeout=10)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _start_agent(
    base_url: str, host: str, state: Path, host_netns: str | None
) -> subprocess.Popen[bytes]:
    """The local agent is a separate process talking HTTP, exactly as on a remote host; it
    authenticates with the admin credentials of the state directory."""
    argv = [
        sys.executable,
        "-c",
        "from v6fabric.cli.main import main; main()",
        "agent",
        "--server",
        base_url,
        "--host",
        host,
        # The agent's own run dir, not one under the 0700 state dir: dnsmasq drops to nobody
        # and must still read its hosts file there.
        "--run-dir",
        str(AGENT_RUN_DIR / host),
    ]
    if host_netns:
        argv += ["--host-netns", host_netns]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["V6FABRIC_STATE_DIR"] = str(state)
    with open(state / "agent.log", "ab") as log:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    """The agent gets SIGTERM when `up` ends, however it ends (uvicorn re-raises the signal
    that stopped it, so `up` may not reach its own clean-up)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
