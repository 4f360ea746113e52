"""Namespaces and captures for the ``uml`` tests (they run inside the guest, as root).

The guest dies with everything in it, but the fixtures still remove what a test made, so that
the same tests stay correct on a host whose kernel has the features."""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import namespaces
from v6fabric.drivers.commands import in_netns, run


@pytest.fixture
def netns_tag() -> Iterator[str]:
    """A random prefix for the test's namespaces (``t-<hex>-``); all of them go afterwards."""
    tag = f"t-{secrets.token_hex(3)}-"
    try:
        yield tag
    finally:
        leftovers = [name for name in namespaces() if name.startswith(tag)]
        for name in leftovers:
            run(["ip", "netns", "delete", name], check=False)
        assert not [name for name in namespaces() if name.startswith(tag)]


class Capture:
    """``tcpdump -e`` on ``ifname`` in ``netns``: frames matching ``bpf``, up to ``count``
    (0: until ``stop``).

    libpcap puts back the 802.1Q tag the kernel keeps out of band (a raw socket's frames lack
    it), so the text shows tags as they were on the wire."""

    def __init__(self, netns: str, ifname: str, bpf: str, count: int = 1) -> None:
        argv = ["tcpdump", "-Z", "root", "-e", "-n", "-l", "-i", ifname]
        argv += [*(["-c", str(count)] if count else []), bpf]
        self.proc = subprocess.Popen(
            in_netns(argv, netns), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None
        # Raw reads of the descriptor: a buffered readline() may take both of tcpdump's lines
        # at once, and select() would then wait for bytes already read.
        stderr_fd = self.proc.stderr.fileno()
        said = b""
        deadline = time.monotonic() + 180  # UML runs 3-10x slower than native, more under load
        while b"listening on" not in said:
            ready, _, _ = select.select([stderr_fd], [], [], max(0, deadline - time.monotonic()))
            chunk = os.read(stderr_fd, 4096) if ready else b""
            if not chunk:  # exited or timed out
                self.close()
                raise AssertionError(f"tcpdump did not start: {said.decode(errors='replace')}")
            said += chunk

    def lines(self, timeout: float = 30) -> list[str]:
        """The matching frames as tcpdump printed them, once ``count`` were seen (or after
        ``timeout``)."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out.splitlines()

    def stop(self) -> list[str]:
        """What tcpdump printed so far (it stops on SIGINT after flushing)."""
        self.proc.send_signal(signal.SIGINT)
        return self.lines()

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
