"""The processes of namespace workloads: which pid is a workload's, and stopping it.

Apart from ``plumbing`` so that the guest agent, which needs these too, starts without
importing the host side (links, specs): it starts with every workload.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from v6fabric.drivers.commands import read_pid

log = logging.getLogger(__name__)

GUEST_MODULE = "v6fabric.workloads.guest"


def process_cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def _netns_inode(namespace: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{namespace}").st_ino
    except OSError:
        return None


def in_namespace(pid: int, namespace: str) -> bool:
    inode = _netns_inode(namespace)
    try:
        return inode is not None and os.stat(f"/proc/{pid}/ns/net").st_ino == inode
    except OSError:
        return False


def workload_pid(pid_file: Path, namespace: str) -> int | None:
    """The pid in ``pid_file`` if that process is alive and inside ``namespace`` (so that a
    recycled pid is never signalled)."""
    pid = read_pid(pid_file)
    return pid if pid is not None and _alive(pid) and in_namespace(pid, namespace) else None


def _alive(pid: int) -> bool:
    try:  # reap it if it is our child (plug() in this process started it)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def terminate(pid: int, grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.01)
    log.warning("process %d survived SIGKILL", pid)
