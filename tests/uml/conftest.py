"""Namespaces and captures for the ``uml`` tests (they run inside the guest, as root).

The guest dies with everything in it, but the fixtures still remove what a test made, so that
the same tests stay correct on a host whose kernel has the features."""

from __future__ import annotations

import contextlib
import secrets
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import namespaces
from tests.e2e.underlay import tcpdump_listening
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
        tcpdump_listening(self.proc, 180)  # UML runs 3-10x slower than native, more under load

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
