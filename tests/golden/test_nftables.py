"""nftables renderer against checked-in scripts, and the kernel's own check of every script.

Regenerate with ``V6FABRIC_UPDATE_GOLDEN=1 pytest tests/golden/test_nftables.py`` and read the
diff: the files are the review of what the host's firewall is told. The expected files live in
their own directory (``expected_nftables``) beside the daemons' ones.

The root tests load each script with nft 1.0.6 into a throwaway network namespace
(``t6-nft-<random>``): ``nft -c`` first, then for real, twice (the script must replace our
tables whether or not they exist), next to a table of someone else's that must survive, and a
set update on top of the ruleset it belongs to.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.golden.nft_cases import RULESETS, SET_UPDATES, UPDATES
from v6fabric.render.nftables import render_ruleset, render_set_updates, render_update

EXPECTED = Path(__file__).parent / "expected_nftables"
UPDATE = os.environ.get("V6FABRIC_UPDATE_GOLDEN") == "1"


def _golden() -> dict[str, Callable[[], str]]:
    files: dict[str, Callable[[], str]] = {}
    for name, spec in RULESETS.items():
        files[f"{name}.nft"] = lambda spec=spec: render_ruleset(spec)
    for name, (old, new) in SET_UPDATES.items():
        files[f"{name}.update.nft"] = lambda old=old, new=new: render_set_updates(old, new)
    for name, (old, new) in UPDATES.items():
        files[f"{name}.update.nft"] = lambda old=old, new=new: render_update(old, new)
    return files


GOLDEN = _golden()


@pytest.mark.parametrize("filename", sorted(GOLDEN))
def test_golden(filename: str) -> None:
    text = GOLDEN[filename]()
    path = EXPECTED / filename
    if UPDATE:
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with V6FABRIC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_no_orphan_expected_files() -> None:
    assert {p.name for p in EXPECTED.iterdir()} == set(GOLDEN)


# --- the kernel's checks (root) ------------------------------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None,
    reason="needs root, nftables and iproute2 for a throwaway namespace",
)
FOREIGN = (
    "table inet someone_else {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\t}\n}\n"
)


def _nft(namespace: str, *args: str, script: str | None = None) -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"nft {' '.join(args)}: {result.stderr}\n{script or ''}"
    return result.stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"t6-nft-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@needs_root
@pytest.mark.parametrize("name", sorted(RULESETS))
def test_nft_loads_the_ruleset_and_touches_nothing_else(name: str, namespace: str) -> None:
    script = render_ruleset(RULESETS[name])
    _nft(namespace, "-f", "-", script=FOREIGN)
    _nft(namespace, "-c", "-f", "-", script=script)
    for _ in range(2):
        _nft(namespace, "-f", "-", script=script)
    tables = _nft(namespace, "list", "tables").split("\n")
    assert sorted(filter(None, tables)) == [
        "table bridge v6fabric",
        "table inet someone_else",
        "table inet v6fabric",
    ]


@needs_root
@pytest.mark.parametrize("name", sorted(SET_UPDATES))
def test_nft_applies_the_set_update_in_place(name: str, namespace: str) -> None:
    old, new = SET_UPDATES[name]
    _nft(namespace, "-f", "-", script=render_ruleset(old))
    update = render_set_updates(old, new)
    _nft(namespace, "-c", "-f", "-", script=update)
    _nft(namespace, "-f", "-", script=update)
    # What the kernel now holds is what loading the new ruleset from scratch gives.
    updated = _listing(namespace)
    _nft(namespace, "-f", "-", script=render_ruleset(new))
    assert updated == _listing(namespace)


@needs_root
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_nft_applies_the_update_in_place_as_a_fresh_load_would(name: str, namespace: str) -> None:
    old, new = UPDATES[name]
    _nft(namespace, "-f", "-", script=render_ruleset(old))
    update = render_update(old, new)
    assert "table" not in update  # never the tables themselves
    _nft(namespace, "-c", "-f", "-", script=update)
    _nft(namespace, "-f", "-", script=update)
    updated = _listing(namespace)
    _nft(namespace, "-f", "-", script=render_ruleset(new))
    assert updated == _listing(namespace)


def _listing(namespace: str) -> list[str]:
    """The ruleset as sorted JSON objects, set elements sorted (nft lists them as added)."""
    items = json.loads(_nft(namespace, "-j", "list", "ruleset"))["nftables"]
    for item in items:
        body = item.get("set") or item.get("map")
        if body:
            body.pop("handle", None)
            body["elem"] = sorted(json.dumps(e, sort_keys=True) for e in body.get("elem", []))
        for kind in ("table", "chain", "rule"):
            if kind in item:
                item[kind].pop("handle", None)
    return sorted(json.dumps(item, sort_keys=True) for item in items)
