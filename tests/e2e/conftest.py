"""Fixtures for root tests on real namespaces: a per-test tag for names, and a cleanup that
removes every namespace carrying the tag and every daemon started under the test's directory,
even when the test fails (and fails the test if anything could not be removed). ``lab`` and
``clean``: one API server and agent per module (``lab.py``), emptied after each test.

Names: the compiler derives namespace and interface names from ids, so a test makes its ids
start with its tag (``<tag>n1``, ``<tag>r1``); namespaces of its own (a plain "VM") are named
``t7-<tag>-...``. Run directories live under /tmp with mode 0755, not under pytest's 0700
base directory: dnsmasq drops privileges and must still read its hosts file on SIGHUP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from v6fabric.drivers.commands import pid_alive, run

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def eui64(prefix: str, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address a kernel with addr_gen_mode 0 forms from ``mac`` in ``prefix``."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return ipaddress.IPv6Network(prefix)[int.from_bytes(iid, "big")]


def _kill(pid: int) -> bool:
    """SIGKILL ``pid`` and wait for it to go; False if it is still alive after 3 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not pid_alive(pid)


def namespaces() -> set[str]:
    """The named network namespaces present (``/run/netns``)."""
    with contextlib.suppress(FileNotFoundError):
        return set(os.listdir("/run/netns"))
    return set()


def remove_tagged(tag: str, run_dirs: list[Path]) -> None:
    """Kill what runs in the tagged namespaces or from the run dirs, then delete them.

    Every removal is tried even when one fails; what could not be removed is raised at the end
    (an ``AssertionError``), so that a leak fails the test instead of the next run."""
    problems: list[str] = []
    for run_dir in run_dirs:
        for pid_file in run_dir.rglob("*.pid") if run_dir.exists() else []:
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                if not _kill(pid):
                    problems.append(f"pid {pid} of {pid_file} survived SIGKILL")
    for name in sorted(n for n in namespaces() if tag in n):
        pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
        problems += [f"pid {p} in {name} survived SIGKILL" for p in pids if not _kill(int(p))]
        deleted = run(["ip", "netns", "delete", name], check=False)
        if deleted.returncode != 0:
            problems.append(f"ip netns delete {name}: {deleted.stderr.strip()}")
    for run_dir in run_dirs:
        if run_dir.exists():
            shutil.rmtree(run_dir, onerror=lambda _f, p, exc: problems.append(f"{p}: {exc[1]}"))
    problems += [f"namespace {n} is still there" for n in sorted(namespaces()) if tag in n]
    if problems:
        raise AssertionError("cleanup left things behind:\n" + "\n".join(problems))


@pytest.fixture
def ns_tag() -> str:
    """Six random hex digits that every name of the test contains."""
    return secrets.token_hex(3)


@pytest.fixture
def lab_dirs(ns_tag: str) -> Iterator[tuple[Path, Path]]:
    """(agent run dir, the test's own dir); afterwards every daemon with a pid file in them is
    killed, every namespace whose name has the tag deleted, and both dirs removed."""
    made = []
    for _ in range(2):
        path = Path(tempfile.mkdtemp(prefix=f"v6f-e2e-{ns_tag}-"))
        path.chmod(0o755)
        made.append(path)
    try:
        yield made[0], made[1]
    finally:
        remove_tagged(ns_tag, made)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One API server and agent for a whole module (starting them takes seconds)."""
    from tests.e2e.lab import one_host_lab  # not at the top: lab.py imports this module

    with one_host_lab() as lab:
        yield lab


@pytest.fixture
def clean(lab: Lab) -> Iterator[Lab]:
    """The module's lab, emptied after the test; a failed cleanup fails the test."""
    yield lab
    lab.reset()
