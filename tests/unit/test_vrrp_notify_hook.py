"""The notify hook (``render.vrrp_notify``) run for real by ``sh``, with a stand-in ``ip`` that
records what it is told: transitions apply in keepalived's order even when their hooks take
the lock in the other one (a MASTER forked first but run after the BACKUP forked next is
stale), and the legs are those of the script as the agent last wrote it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from v6fabric.hoststate.vrrp import VrrpSpec
from v6fabric.render.vrrp_notify import SCRIPT_PATH, HookPaths, render_notify_hook

pytestmark = pytest.mark.skipif(not shutil.which("flock"), reason="needs flock")

LEGS = ("qg-zz0test0001", "qr-zz0test0001")  # no such links anywhere: only the stand-in sees them


def spec(legs: tuple[str, ...] = LEGS) -> VrrpSpec:
    return VrrpSpec("v6r-hooktest", "hooktest", 9, "ha-zz0test0001", legs)


class Hook:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = HookPaths(**{f: str(root / f) for f in HookPaths.__dataclass_fields__})
        self.script = root / "keepalived.notify"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        ip = bin_dir / "ip"
        ip.write_text(f"#!/bin/sh\ncat >> '{root}/ip.log'\n")
        ip.chmod(0o755)
        self.path_line = f"PATH={bin_dir}:{SCRIPT_PATH}"
        self.keepalived = subprocess.Popen(["sleep", "600"])  # the watcher's keepalived
        Path(self.paths.keepalived_vrrp_pid).write_text(f"{self.keepalived.pid}\n")

    def write(self, legs: tuple[str, ...] = LEGS) -> None:
        """As the agent writes it: a new file in its place (a running ``sh`` reads on)."""
        text = render_notify_hook(spec(legs), self.paths, python=sys.executable)
        new = self.script.with_name("new")
        new.write_text(text.replace(f"PATH={SCRIPT_PATH}", self.path_line, 1))
        os.replace(new, self.script)

    def argv(self, state: str) -> list[str]:
        return ["sh", str(self.script), "INSTANCE", "VR", state, "50"]

    def run(self, state: str) -> None:
        subprocess.run(self.argv(state), check=True, timeout=30)

    def state(self) -> str:
        return Path(self.paths.state).read_text().strip()

    def transitions(self) -> list[str]:
        return [line.split()[1] for line in Path(self.paths.transitions).read_text().splitlines()]

    def ip(self) -> list[str]:
        log = self.root / "ip.log"
        return log.read_text().splitlines() if log.exists() else []

    def close(self) -> None:
        watcher = Path(self.paths.watcher_pid)
        if watcher.exists():
            os.kill(int(watcher.read_text()), signal.SIGKILL)
        self.keepalived.kill()
        self.keepalived.wait()


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[Hook]:
    made = Hook(tmp_path)
    made.write()
    try:
        yield made
    finally:
        made.close()


def watcher_started(hook: Hook, timeout: float = 20.0) -> bool:
    """The MASTER hook starts its watcher in the background, which writes its own pid file
    a moment after the hook returns (seen missing under load right after it)."""
    deadline = time.monotonic() + timeout
    while not Path(hook.paths.watcher_pid).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_master_then_backup_in_order(hook: Hook) -> None:
    hook.run("MASTER")
    assert hook.state() == "active" and watcher_started(hook)
    hook.run("BACKUP")
    assert hook.state() == "standby" and hook.transitions() == ["MASTER", "BACKUP"]
    assert hook.ip() == [f"link set dev {leg} {how}" for how in ("up", "down") for leg in LEGS]
    assert not Path(hook.paths.watcher_pid).exists()  # the backup side ended it


def test_a_master_forked_first_but_locked_after_the_next_backup_is_stale(hook: Hook) -> None:
    """Seen in the lab: two backups take over together, one steps down 10 ms later, and its
    BACKUP hook won the lock: the MASTER hook then raised the legs of a backup for good."""
    master = subprocess.Popen(["sh", "-c", 'kill -STOP $$; exec "$@"', "sh", *hook.argv("MASTER")])
    try:
        _, status = os.waitpid(master.pid, os.WUNTRACED)  # forked, stopped before the lock
        assert os.WIFSTOPPED(status)
        hook.run("BACKUP")  # forked later, runs first
    finally:
        os.kill(master.pid, signal.SIGCONT)
        assert master.wait(timeout=30) == 0
    assert hook.state() == "standby"
    assert hook.transitions() == ["BACKUP", "STALE-MASTER"]
    assert hook.ip() == [f"link set dev {leg} down" for leg in LEGS]
    assert not Path(hook.paths.watcher_pid).exists()


def waiting_in_flock(pid: int, timeout: float = 30.0) -> bool:
    """True once a ``flock`` child of ``pid`` exists (the hook waits for the lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(") ", 1)
                if fields[0].endswith("(flock") and int(fields[1].split()[1]) == pid:
                    return True
        time.sleep(0.01)
    return False


def test_the_legs_are_read_from_the_script_as_last_written(hook: Hook) -> None:
    """A hook that read its script before the agent added a leg (rewriting the script, a new
    file) and took the lock after raises the new leg too."""
    with open(hook.paths.lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        master = subprocess.Popen(hook.argv("MASTER"))
        try:
            assert waiting_in_flock(master.pid)  # it runs the script it was started with
            hook.write((*LEGS, "qr-zz0test0002"))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            assert master.wait(timeout=30) == 0
    assert hook.state() == "active"
    assert "link set dev qr-zz0test0002 up" in hook.ip()
