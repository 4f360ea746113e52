"""A real v6fabric API server on a loopback port, run by uvicorn in a background thread.

For tests that drive the server with real OpenStack clients (openstacksdk, the openstack CLI)
over HTTP, as opposed to the in-process ``TestClient`` of ``conftest.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from v6fabric.api.app import create_app
from v6fabric.settings import Settings

START_TIMEOUT = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the usual small race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    settings: Settings
    app: FastAPI

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def identity_url(self) -> str:
        return self.settings.identity_url


@contextmanager
def live_server(state_dir: Path, host: str = "127.0.0.1") -> Iterator[LiveServer]:
    """Build the app on a fresh state directory, serve it, yield, then stop the server."""
    settings = Settings(state_dir=state_dir, api_host=host, api_port=free_port(host))
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=host, port=settings.api_port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="v6fabric-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the uvicorn server thread ended before it started serving")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start within {START_TIMEOUT} s")
        time.sleep(0.02)
    try:
        yield LiveServer(settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.db.dispose()
