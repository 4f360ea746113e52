"""What this host can do, probed once at start and sent with the registration.

Kernel features are tried, not guessed from config files: each link type is created in a
throw-away namespace (``v6p-<random>``, deleted at once), so the root namespace is never
touched. Daemons count as present when their program is on PATH.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Any

from v6fabric.drivers.commands import CommandError, run

DAEMONS = ("radvd", "dnsmasq", "dhclient", "keepalived")
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"

# feature -> `ip` commands that must all succeed inside the scratch namespace
KERNEL_PROBES: dict[str, list[list[str]]] = {
    "bridge": [["link", "add", "probe-br", "type", "bridge"]],
    "veth": [["link", "add", "probe-va", "type", "veth", "peer", "name", "probe-vb"]],
    "vxlan": [["link", "add", "probe-vx", "type", "vxlan", "id", "42", "dstport", "4789"]],
    "vlan": [
        ["link", "add", "probe-vp", "type", "bridge"],
        ["link", "add", "link", "probe-vp", "name", "probe-vl", "type", "vlan", "id", "10"],
    ],
    # GRE networks: one tap per remote, gretap over an IPv4 underlay, ip6gretap over IPv6
    "gretap": [
        [
            "link",
            "add",
            "probe-gt4",
            "type",
            "gretap",
            "key",
            "42",
            "local",
            "192.0.2.1",
            "remote",
            "192.0.2.2",
        ]
    ],
    "ip6gretap": [
        [
            "link",
            "add",
            "probe-gt6",
            "type",
            "ip6gretap",
            "key",
            "42",
            "local",
            "2001:db8::1",
            "remote",
            "2001:db8::2",
        ]
    ],
}


def _try(netns: str, commands: list[list[str]]) -> bool:
    try:
        for argv in commands:
            run(["ip", "-n", netns, *argv])
    except (CommandError, OSError):
        return False
    return True


def probe_kernel() -> dict[str, bool]:
    netns = f"v6p-{secrets.token_hex(4)}"
    run(["ip", "netns", "add", netns])
    try:
        found = {name: _try(netns, argv) for name, argv in KERNEL_PROBES.items()}
        found["gre"] = found["gretap"] and found["ip6gretap"]  # either underlay family
        try:
            run(["nft", "add", "table", "inet", "v6fabric_probe"], netns=netns)
            found["nftables"] = True
        except (CommandError, OSError):
            found["nftables"] = False
        return found
    finally:
        run(["ip", "netns", "delete", netns], check=False)


def probe_daemons() -> dict[str, bool]:
    path = f"{os.environ.get('PATH', '')}:{SBIN_PATH}"
    return {name: shutil.which(name, path=path) is not None for name in DAEMONS}


def probe() -> dict[str, Any]:
    """``{"kernel": {"bridge": true, ...}, "daemons": {"radvd": true, ...}}``."""
    return {"kernel": probe_kernel(), "daemons": probe_daemons()}
