"""The daemon's life: load the config, open the listeners, write the pid file (so whoever
started it knows it is serving), reload on SIGHUP, stop on SIGTERM/SIGINT.

The agent runs it like radvd: ``v6fabric metadata-proxy --config PATH --pid-file PATH``,
finds it again by its pid file, and sends SIGHUP after rewriting the config (a reload reads
only the bucket files whose digest in the head changed, ``config``). The optional
status file says which config is loaded (its digest) and which listeners are open or still
pending, so the agent can tell when a reload has taken effect and report what serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from v6fabric.drivers.commands import read_pid
from v6fabric.drivers.files import LocalFiles
from v6fabric.hoststate.metadata import MetadataListener
from v6fabric.metadata.config import ConfigError, ProxyConfig, load_config
from v6fabric.metadata.neighbours import NetlinkNeighbours
from v6fabric.metadata.server import MetadataProxy
from v6fabric.metadata.sockets import open_in_namespace

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0  # seconds between checks: listeners not open yet, or stale (made anew)


def write_pid_file(pid_file: Path) -> None:
    LocalFiles().write(pid_file, f"{os.getpid()}\n")


def status_text(proxy: MetadataProxy) -> str:
    config = proxy.tables.config

    def names(listeners: Iterable[MetadataListener]) -> list[str]:
        return sorted(f"{x.namespace}/{x.ifname}" for x in listeners)

    status = {
        "pid": os.getpid(),
        "config": config.digest,
        "mode": "proxy" if config.backend else "local",
        "listening": names(proxy.listening),
        "pending": names(proxy.pending),
    }
    return json.dumps(status, indent=1, sort_keys=True) + "\n"


def remove_pid_file(pid_file: Path) -> None:
    """Only if it still names us (a successor may have written its own)."""
    if read_pid(pid_file) == os.getpid():
        with contextlib.suppress(OSError):
            pid_file.unlink()


async def serve(
    config_path: Path,
    pid_file: Path,
    *,
    neighbour_ttl: float = 0.0,
    check_interval: float = CHECK_INTERVAL,
    status_file: Path | None = None,
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

    def report() -> None:
        if status_file is not None:
            LocalFiles().write(status_file, status_text(proxy))  # only when the text changed

    async def load(new: ProxyConfig) -> None:
        await proxy.reload(new)
        report()

    async def reload() -> None:
        try:
            new = load_config(config_path, proxy.tables.config)  # changed buckets only
        except ConfigError as exc:
            log.error("SIGHUP: keeping the current config: %s", exc)
            return
        await load(new)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        await load(config)
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
                report()
    finally:
        await proxy.close()
        neighbours.close()
        remove_pid_file(pid_file)
        if status_file is not None:
            with contextlib.suppress(OSError):
                status_file.unlink()
        log.info("metadata proxy stopped")


def run(
    config_path: Path,
    pid_file: Path,
    *,
    neighbour_ttl: float = 0.0,
    check_interval: float = CHECK_INTERVAL,
    status_file: Path | None = None,
) -> int:
    """The exit status: 0 after SIGTERM/SIGINT, 1 if the config cannot be loaded at start."""
    try:
        asyncio.run(
            serve(
                config_path,
                pid_file,
                neighbour_ttl=neighbour_ttl,
                check_interval=check_interval,
                status_file=status_file,
            )
        )
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    return 0
