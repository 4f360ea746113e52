"""keepalived.conf and the notify hook (``render.keepalived``, ``render.vrrp_notify``) against
checked-in files, the daemons' own checks on that output (keepalived's parser knows every
keyword, ``sh -n`` parses the hook), and the edge cases: no peers, IPv4 addresses, intervals
in centiseconds, what keepalived would refuse.

Regenerate with ``V6FABRIC_UPDATE_GOLDEN=1 pytest tests/golden`` and read the diff.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from v6fabric.hoststate.vrrp import VirtualAddress, VrrpSpec
from v6fabric.render.keepalived import advert_interval_text, render_keepalived
from v6fabric.render.vrrp_notify import HookPaths, render_notify_hook

EXPECTED = Path(__file__).parent / "expected_keepalived"
UPDATE = os.environ.get("V6FABRIC_UPDATE_GOLDEN") == "1"
RUN = "/run/v6fabric/agent/netns/v6r-5a6b7c8d-1111-4222-8333-944455556666"
ROUTER = "5a6b7c8d-1111-4222-8333-944455556666"
QR, QG = "qr-1f2e3d4c-5b6", "qg-9a8b7c6d-5e4"

SPECS = {
    # a router with a tenant subnet and an external gateway, on two hosts (one peer)
    "two_instances": VrrpSpec(
        namespace=f"v6r-{ROUTER}",
        router_id=ROUTER,
        vrid=1,
        interface="ha-0a1b2c3d-4e5",
        legs=(QG, QR),
        addresses=(
            VirtualAddress("2001:db8:ff::10/64", QG),
            VirtualAddress("2001:db8:1::1/64", QR),
            VirtualAddress("2001:db8:2::1/64", QR),
        ),
        peers=("fe80::f816:3eff:fe00:b01",),
    ),
    # dual stack, three instances, a slower interval
    "dual_stack_three": VrrpSpec(
        namespace=f"v6r-{ROUTER}",
        router_id=ROUTER,
        vrid=255,
        interface="ha-0a1b2c3d-4e5",
        legs=(QR,),
        addresses=(VirtualAddress("10.0.0.1/24", QR), VirtualAddress("2001:db8:1::1/64", QR)),
        peers=("fe80::f816:3eff:fe00:b01", "fe80::f816:3eff:fe00:c01"),
        priority=100,
        advert_interval=1.5,
    ),
    # alone so far (no peers: multicast), no addresses yet
    "alone": VrrpSpec(
        namespace=f"v6r-{ROUTER}",
        router_id=ROUTER,
        vrid=7,
        interface="ha-0a1b2c3d-4e5",
        legs=(QR,),
    ),
}
PATHS = HookPaths(
    state=f"{RUN}/keepalived.state",
    transitions=f"{RUN}/keepalived.transitions",
    lock=f"{RUN}/keepalived.lock",
    watcher_pid=f"{RUN}/keepalived.watcher.pid",
    keepalived_vrrp_pid=f"{RUN}/keepalived.vrrp.pid",
    radvd_conf=f"{RUN}/radvd.conf",
    radvd_pid=f"{RUN}/radvd.pid",
    radvd_log=f"{RUN}/radvd.log",
    order=f"{RUN}/keepalived.order",
)


def _golden() -> dict[str, Callable[[], str]]:
    files: dict[str, Callable[[], str]] = {}
    for name, spec in SPECS.items():
        files[f"{name}.keepalived.conf"] = lambda s=spec: render_keepalived(
            s, notify=f"{RUN}/keepalived.notify"
        )
    files["two_instances.notify.sh"] = lambda: render_notify_hook(
        SPECS["two_instances"], PATHS, python="/usr/bin/python3"
    )
    return files


GOLDEN = _golden()


@pytest.mark.parametrize("filename", sorted(GOLDEN))
def test_golden(filename: str, tmp_path: Path) -> None:
    text = GOLDEN[filename]()
    path = EXPECTED / filename
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with V6FABRIC_UPDATE_GOLDEN=1"
    assert text == path.read_text()
    if filename.endswith(".sh"):
        checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    elif shutil.which("keepalived"):
        # the interfaces exist only on a host: keepalived's parser must know every word
        checked = subprocess.run(
            ["keepalived", "-t", "-f", str(path)], capture_output=True, text=True
        )
        assert "Unknown keyword" not in checked.stderr, checked.stderr
        assert "Invalid" not in checked.stderr, checked.stderr


def test_no_orphan_expected_files() -> None:
    assert {p.name for p in EXPECTED.iterdir()} == set(GOLDEN)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "0.2"), (0.1, "0.1"), (1, "1"), (1.0, "1"), (0.05, "0.05"), (40.95, "40.95"), (3, "3")],
)
def test_advert_interval_in_centiseconds(seconds: float, text: str) -> None:
    assert advert_interval_text(seconds) == text


@pytest.mark.parametrize("seconds", [0, 0.001, 0.125, 40.96, -1, float("nan")])
def test_advert_interval_keepalived_cannot_send(seconds: float) -> None:
    with pytest.raises(ValueError):
        advert_interval_text(seconds)


def test_no_peers_is_multicast_and_ipv4_is_excluded_from_the_adverts() -> None:
    alone = render_keepalived(SPECS["alone"], notify="/x/hook")
    assert "unicast_peer" not in alone and "virtual_ipaddress" not in alone
    dual = render_keepalived(SPECS["dual_stack_three"], notify="/x/hook")
    excluded = dual.split("virtual_ipaddress_excluded {")[1].split("}")[0]
    assert "10.0.0.1/24 dev" in excluded and "2001:db8" not in excluded
    assert "advert_int 1.5" in dual and "priority 100" in dual


def test_every_address_is_untracked() -> None:
    text = render_keepalived(SPECS["two_instances"], notify="/x/hook")
    lines = [line.strip() for line in text.splitlines() if " dev " in line]
    assert len(lines) == 3 and all(line.endswith(" no_track") for line in lines)


@pytest.mark.parametrize(
    "changes",
    [
        {"vrid": 0},
        {"vrid": 256},
        {"priority": 255},
        {"priority": 0},
        {"interface": "ha-x;y"},
        {"legs": ("qr-0123456789abcdef",)},
        {"addresses": (VirtualAddress("2001:db8:1::1/64", "qr-other"),)},  # not a leg
        {"addresses": (VirtualAddress("2001:db8:1::1/200", QR),)},
        {"peers": ("10.0.0.2",)},
        {"peers": ("fe80::1\n}",)},
        {"router_id": "r1 }"},
        {"advert_interval": 0.005},
    ],
)
def test_refuses_what_keepalived_would_misread(changes: dict[str, object]) -> None:
    spec = dataclasses.replace(SPECS["two_instances"], **changes)
    with pytest.raises(ValueError):
        render_keepalived(spec, notify="/x/hook")


def test_refuses_a_hook_path_or_leg_it_will_not_paste() -> None:
    with pytest.raises(ValueError):
        render_keepalived(SPECS["alone"], notify="/x/hook name")
    with pytest.raises(ValueError):
        render_notify_hook(dataclasses.replace(SPECS["alone"], legs=("qr-$(x)",)), PATHS)
    with pytest.raises(ValueError):
        render_notify_hook(SPECS["alone"], dataclasses.replace(PATHS, state="/x/'y"))
