"""Observations for the distributed routing proofs (``test_r20_*``, ``bench/dvr_throughput.py``).

* What crossed the underlay comes from ``underlay.VxlanCapture`` (``Crossing``s).
* ``FdbWatch``: ``bridge monitor fdb`` in a host's namespace, seeded with ``bridge fdb show``:
  every (bridge, MAC) and each port it was ever seen behind. A MAC behind two ports of one
  bridge is a flap.
* ``echoes``, ``neighbor_discovery_about``, ``touching``: the crossings that matter.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterable

from tests.e2e.underlay import Crossing
from v6fabric.drivers.commands import in_netns, run


def echoes(
    crossings: Iterable[Crossing], src: str, dst: str, reply: bool = False
) -> list[Crossing]:
    """The ICMPv6 echo requests (``reply``: replies) from ``src`` to ``dst`` among them."""
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

    kind = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    return [
        c
        for c in crossings
        if IPv6 in c.frame
        and kind in c.frame
        and c.frame[IPv6].src == src
        and c.frame[IPv6].dst == dst
    ]


def neighbor_discovery_about(crossings: Iterable[Crossing], addresses: set[str]) -> list[str]:
    """NS/NA/RA/redirects that crossed and were sent from, or about, one of ``addresses``."""
    from scapy.layers.inet6 import (
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        ICMPv6ND_RA,
        ICMPv6ND_Redirect,
        IPv6,
    )

    found = []
    for c in crossings:
        if IPv6 not in c.frame:
            continue
        for kind in (ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6ND_Redirect):
            if kind not in c.frame:
                continue
            target = getattr(c.frame[kind], "tgt", None)
            if c.frame[IPv6].src in addresses or target in addresses:
                found.append(f"{kind.__name__} {c.frame[IPv6].src} -> {target} (VNI {c.vni})")
    return found


_FDB_LINE = re.compile(
    r"^(?P<deleted>Deleted )?(?P<mac>[0-9a-f:]{17}) dev (?P<dev>\S+).*master (?P<bridge>\S+)"
)


class FdbWatch:
    """The bridges' forwarding entries in ``netns`` from now until ``stop``."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.proc = subprocess.Popen(
            in_netns(["bridge", "monitor", "fdb"], netns),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(0.3)
        self.initial = run(["bridge", "fdb", "show"], netns=netns).stdout

    def stop(self) -> dict[tuple[str, str], set[str]]:
        """(bridge, MAC) -> the ports it was seen behind (entries learnt or added; a deletion
        is not a move)."""
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        seen: dict[tuple[str, str], set[str]] = {}
        for line in [*self.initial.splitlines(), *out.splitlines()]:
            match = _FDB_LINE.match(line.strip())
            if match is None or match["deleted"]:
                continue
            seen.setdefault((match["bridge"], match["mac"]), set()).add(match["dev"])
        return seen


def flaps(seen: dict[tuple[str, str], set[str]]) -> list[str]:
    """(bridge, MAC)s seen behind more than one port."""
    return [
        f"{mac} on {bridge}: {sorted(devs)}"
        for (bridge, mac), devs in seen.items()
        if len(devs) > 1
    ]


def touching(crossings: Iterable[Crossing], address: str) -> list[Crossing]:
    """The IPv6 packets from or to ``address`` among them."""
    from scapy.layers.inet6 import IPv6

    return [
        c
        for c in crossings
        if IPv6 in c.frame and address in (c.frame[IPv6].src, c.frame[IPv6].dst)
    ]
