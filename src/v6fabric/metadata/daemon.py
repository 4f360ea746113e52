"""The daemon's life: load the config, open the listeners, write the pid file (so whoever
started it knows it is serving), reload on SIGHUP, stop on SIGTERM/SIGINT.

The agent runs it like radvd: ``v6fabric metadata-proxy --config PATH --pid-file PATH``,
finds it again by its pid file, and sends SIGHUP after rewriting the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from v6fabric.metadata.config import ConfigError, load_config
from v6fabric.metadata.neighbours import NetlinkNeighbours
from v6fabric.metadata.server import MetadataProxy
from v6fabric.metadata.sockets import open_in_namespace

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0  # seconds between checks: listeners not open yet, or stale (made anew)


def write_pid_file(pid_file: Path) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_name(f".{pid_file.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, pid_file)


def remove_pid_file(pid_file: Path) -> None:
    """Only if it still names us (a successor may have written its own)."""
    with contextlib.suppress(OSError, ValueError):
        if int(pid_file.read_text().strip()) == os.getpid():
            pid_file.unlink()


async def serve(
    config_path: Path,
    pid_file: Path,
    *,
    neighbour_ttl: float = 0.0,
    check_interval: float = CHECK_INTERVAL,
) -> None:
    """Raises ``ConfigError`` if the first config cannot be loaded (nothing is opened)."""
    config = load_config(config_path)
    neighbours = NetlinkNeighbours()
    proxy = MetadataProxy(
        neighbours, listener_factory=open_in_namespace, neighbour_ttl=neighbour_ttl
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            await proxy.reload(load_config(config_path))
        except ConfigError as exc:
            log.error("SIGHUP: keeping the current config: %s", exc)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        await proxy.reload(config)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        write_pid_file(pid_file)
        log.info("metadata proxy running (pid %d, config %s)", os.getpid(), config_path)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), check_interval)
            if not stop.is_set():
                await proxy.refresh()
    finally:
        await proxy.close()
        neighbours.close()
        remove_pid_file(pid_file)
        log.info("metadata proxy stopped")


def run(
    config_path: Path,
    pid_file: Path,
    *,
    neighbour_ttl: float = 0.0,
    check_interval: float = CHECK_INTERVAL,
) -> int:
    """The exit status: 0 after SIGTERM/SIGINT, 1 if the config cannot be loaded at start."""
    try:
        asyncio.run(
            serve(
                config_path,
                pid_file,
                neighbour_ttl=neighbour_ttl,
                check_interval=check_interval,
            )
        )
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    return 0
