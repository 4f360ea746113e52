"""Renderers against checked-in files, and the daemons' own config checks on that output.

Regenerate the expected files with ``V6FABRIC_UPDATE_GOLDEN=1 pytest tests/golden`` and read
the diff before committing it: the files are the review of what the daemons are told.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.golden.cases import DNSMASQ, GOLDEN_RUN_DIR, RADVD, dnsmasq_paths
from v6fabric.hoststate.model import (
    DhcpHost,
    DhcpOption,
    DhcpRange,
    RaPrefix,
    RaRoute,
)
from v6fabric.render import (
    render_dnsmasq_conf,
    render_dnsmasq_hosts,
    render_dnsmasq_opts,
    render_radvd,
)

EXPECTED = Path(__file__).parent / "expected"
UPDATE = os.environ.get("V6FABRIC_UPDATE_GOLDEN") == "1"
RADVD_BIN = "/usr/sbin/radvd"
DNSMASQ_BIN = "/usr/sbin/dnsmasq"
LOGLESS = {"stateful"}  # rendered without log_file, to cover both forms


def _golden() -> dict[str, Callable[[], str]]:
    files: dict[str, Callable[[], str]] = {}
    for name, spec in RADVD.items():
        files[f"{name}.radvd.conf"] = lambda spec=spec: render_radvd(spec)
    for name, spec in DNSMASQ.items():
        paths = dnsmasq_paths(GOLDEN_RUN_DIR, spec.network_id, log=name not in LOGLESS)
        files[f"{name}.dnsmasq.conf"] = lambda s=spec, p=paths: render_dnsmasq_conf(s, **p)
        files[f"{name}.dnsmasq.hosts"] = lambda s=spec: render_dnsmasq_hosts(s)
        files[f"{name}.dnsmasq.opts"] = lambda s=spec: render_dnsmasq_opts(s)
    return files


GOLDEN = _golden()


@pytest.mark.parametrize("filename", sorted(GOLDEN))
def test_golden(filename: str) -> None:
    text = GOLDEN[filename]()
    path = EXPECTED / filename
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with V6FABRIC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_no_orphan_expected_files() -> None:
    assert {p.name for p in EXPECTED.iterdir()} == set(GOLDEN)


def test_rendering_is_deterministic_and_sorts_interfaces() -> None:
    spec = RADVD["two_prefixes"]
    flipped = dataclasses.replace(spec, interfaces=spec.interfaces[::-1])
    assert render_radvd(spec) == render_radvd(flipped) == render_radvd(spec)
    text = render_radvd(spec)
    assert text.index("interface qr-4d5e6f70-819") < text.index("interface qr-5e6f7081-92a")


def test_rdnss_lines_hold_at_most_three_servers() -> None:
    lines = [line for line in render_radvd(RADVD["many_rdnss"]).splitlines() if "RDNSS" in line]
    assert [len(line.split("{")[0].split()) - 1 for line in lines] == [3, 2]


def _iface(name: str, **changes: object):
    spec = RADVD[name]
    return dataclasses.replace(
        spec, interfaces=(dataclasses.replace(spec.interfaces[0], **changes),)
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"ifname": "qr-with space"},
        {"ifname": "qr-0123456789abcdef"},  # longer than 15
        {"ifname": "qr-x;\n};"},
        {"max_interval": 3},
        {"max_interval": 1801},
        {"min_interval": 2},
        {"min_interval": 8, "max_interval": 10},  # above 0.75 x max
        {"default_lifetime": 5},  # below MaxRtrAdvInterval
        {"default_lifetime": 9001},
        {"prefixes": (RaPrefix("2001:db8:1::1/64", autonomous=True),)},  # host bits
        {"prefixes": (RaPrefix("10.0.0.0/24", autonomous=True),)},
        {"rdnss": ("10.0.0.53",)},
        {"rdnss": ("2001:db8::53 2001:db8::54",)},
        {"dnssl": ("bad domain",)},
        {"dnssl": ("x;};",)},
        {"routes": (RaRoute("2001:db8::/48", preference="urgent"),)},
    ],
)
def test_radvd_refuses_what_radvd_would_misread(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render_radvd(_iface("slaac_router", **changes))


def test_radvd_refuses_empty_and_duplicate_interfaces() -> None:
    spec = RADVD["slaac_router"]
    with pytest.raises(ValueError):
        render_radvd(dataclasses.replace(spec, interfaces=()))
    with pytest.raises(ValueError):
        render_radvd(dataclasses.replace(spec, interfaces=spec.interfaces * 2))


def test_radvd_link_mtu_only_from_1280() -> None:
    assert "AdvLinkMTU" not in render_radvd(_iface("slaac_router", mtu=1279))
    assert "AdvLinkMTU 1280;" in render_radvd(_iface("slaac_router", mtu=1280))


BAD_DNSMASQ = {
    "interface": {"interface": "ns-x,y"},
    "no ranges": {"ranges": ()},
    "host bits": {"ranges": (DhcpRange("subnet-x", 6, "2001:db8::1", 64),)},
    "version": {"ranges": (DhcpRange("subnet-x", 4, "2001:db8::", 64),)},
    "short prefix": {"ranges": (DhcpRange("subnet-x", 6, "2001:db8::", 56),)},
    "mode": {"ranges": (DhcpRange("subnet-x", 6, "2001:db8::", 64, mode="slaac"),)},
    "v4 stateless": {"ranges": (DhcpRange("subnet-x", 4, "10.0.0.0", 24, mode="stateless"),)},
    "lease": {"ranges": (DhcpRange("subnet-x", 6, "2001:db8::", 64, lease_seconds=60),)},
    "tag": {"ranges": (DhcpRange("subnet,x", 6, "2001:db8::", 64),)},
    "same tag": {
        "ranges": (
            DhcpRange("subnet-x", 6, "2001:db8::", 64),
            DhcpRange("subnet-x", 6, "2001:db8:1::", 64),
        )
    },
}
RANGE = (DhcpRange("subnet-x", 6, "2001:db8::", 64),)
BAD_HOSTS = {
    "mac": DhcpHost("fa:16:3e:00:00", ("2001:db8::5",), "vm"),
    "address": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5/64",), "vm"),
    "lease-like name": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "3600"),
    "keyword name": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "ignore"),
    "dotted name": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "vm.example.org"),
    "comma name": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "vm,ignore"),
    "leading hyphen": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "-vm"),
    "too long": DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "h" * 64),
}


@pytest.mark.parametrize("case", sorted(BAD_DNSMASQ))
def test_dnsmasq_refuses_bad_specs(case: str) -> None:
    spec = dataclasses.replace(DNSMASQ["stateful"], **BAD_DNSMASQ[case])
    with pytest.raises(ValueError):
        render_dnsmasq_conf(spec, **dnsmasq_paths(GOLDEN_RUN_DIR, "n"))


@pytest.mark.parametrize(
    "path", ["relative/pid", "/run/with space", "/run/a\nport=53", "/run/../x"]
)
def test_dnsmasq_refuses_unsafe_paths(path: str) -> None:
    paths = {**dnsmasq_paths(GOLDEN_RUN_DIR, "n"), "pid_file": path}
    with pytest.raises(ValueError):
        render_dnsmasq_conf(DNSMASQ["stateful"], **paths)


@pytest.mark.parametrize("case", sorted(BAD_HOSTS))
def test_dnsmasq_refuses_bad_hosts(case: str) -> None:
    spec = dataclasses.replace(DNSMASQ["stateful"], ranges=RANGE, hosts=(BAD_HOSTS[case],))
    with pytest.raises(ValueError):
        render_dnsmasq_hosts(spec)


def test_dnsmasq_accepts_the_compilers_hostnames_and_path_objects() -> None:
    # Neutron-style names from an address; one ending in "::" ends in "--".
    hosts = (
        DhcpHost("fa:16:3e:00:00:01", ("2001:db8:0:0:1::",), "host-2001-db8-0-0-1--"),
        DhcpHost("fa:16:3e:00:00:02", ("2001:db8::6",), "host-2001-db8--6"),
    )
    spec = dataclasses.replace(DNSMASQ["stateful"], ranges=RANGE, hosts=hosts)
    assert render_dnsmasq_hosts(spec).splitlines()[-2:] == [
        "fa:16:3e:00:00:01,[2001:db8:0:0:1::],host-2001-db8-0-0-1--",
        "fa:16:3e:00:00:02,[2001:db8::6],host-2001-db8--6",
    ]
    as_paths = {k: Path(v) for k, v in dnsmasq_paths(GOLDEN_RUN_DIR, "n").items() if v}
    assert render_dnsmasq_conf(spec, **as_paths) == render_dnsmasq_conf(
        spec, **dnsmasq_paths(GOLDEN_RUN_DIR, "n")
    )


def test_dnsmasq_refuses_shared_address_and_mac() -> None:
    hosts = (
        DhcpHost("fa:16:3e:00:00:01", ("2001:db8::5",), "a"),
        DhcpHost("fa:16:3e:00:00:02", ("2001:db8::5",), "b"),
    )
    spec = dataclasses.replace(DNSMASQ["stateful"], ranges=RANGE, hosts=hosts)
    with pytest.raises(ValueError):
        render_dnsmasq_hosts(spec)
    hosts = (hosts[0], dataclasses.replace(hosts[0], mac="FA:16:3E:00:00:01", addresses=()))
    with pytest.raises(ValueError):
        render_dnsmasq_hosts(dataclasses.replace(spec, hosts=hosts))


@pytest.mark.parametrize(
    "option",
    [
        DhcpOption("subnet-x", 5, "dns-server", "[2001:db8::53]"),
        DhcpOption("subnet-x", 6, "dns server", "[2001:db8::53]"),
        DhcpOption("subnet-x", 6, "dns-server", "[2001:db8::53]\ndhcp-range=::,static"),
        DhcpOption("tag:x", 6, "dns-server", "[2001:db8::53]"),
    ],
)
def test_dnsmasq_refuses_bad_options(option: DhcpOption) -> None:
    with pytest.raises(ValueError):
        render_dnsmasq_opts(dataclasses.replace(DNSMASQ["stateful"], options=(option,)))


def test_dnsmasq_empty_option_value_sends_the_option_empty() -> None:
    spec = dataclasses.replace(
        DNSMASQ["stateful"], options=(DhcpOption("subnet-x", 6, "dns-server", ""),)
    )
    assert render_dnsmasq_opts(spec).splitlines()[-1] == "tag:subnet-x,option6:dns-server"


# The daemons' own checks of the golden output.

needs_radvd = pytest.mark.skipif(not os.path.exists(RADVD_BIN), reason="radvd is not installed")
needs_dnsmasq = pytest.mark.skipif(
    not os.path.exists(DNSMASQ_BIN), reason="dnsmasq is not installed"
)


def _check(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output


@needs_radvd
@pytest.mark.parametrize("name", sorted(RADVD))
def test_radvd_configtest_accepts(name: str, tmp_path: Path) -> None:
    conf = tmp_path / "radvd.conf"
    conf.write_text(render_radvd(RADVD[name]))
    _check([RADVD_BIN, "-c", "-C", str(conf)])


@needs_dnsmasq
@pytest.mark.parametrize("name", sorted(DNSMASQ))
def test_dnsmasq_test_mode_accepts(name: str, tmp_path: Path) -> None:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(render_dnsmasq_conf(DNSMASQ[name], **dnsmasq_paths(str(tmp_path), "n")))
    _check([DNSMASQ_BIN, "--test", f"--conf-file={conf}"])
