"""Root proof of ``drivers.nftables.NftLibrary``: libnftables in the process, a context kept per
namespace. What must hold as with the forked ``nft``: a script is one transaction (a refused one
changes nothing), it lands in the namespace named now (not in one deleted and made again under
that name), and a deleted namespace is not kept alive by a context of ours for long.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import remove_tagged
from tests.golden.nft_cases import TENANT, WITH_TWIN
from v6fabric.drivers import nftables as driver
from v6fabric.drivers.commands import CommandError, run
from v6fabric.drivers.nftables import NftCommand, NftLibrary
from v6fabric.render.nftables import render_ruleset, render_update

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables"),
]


@pytest.fixture
def library() -> NftLibrary:
    found = NftLibrary.open()
    if found is None:
        pytest.skip("libnftables cannot be loaded here")
    return found


@pytest.fixture
def names(ns_tag: str, library: NftLibrary) -> Iterator[list[str]]:
    made = [f"t7-{ns_tag}-nft{i}" for i in range(2)]
    for name in made:
        run(["ip", "netns", "add", name])
    try:
        yield made
    finally:
        for name in made:
            library.forget(name)
        remove_tagged(ns_tag, [])


def _ruleset(netns: str) -> str:
    return NftCommand()._run(["nft", "list", "ruleset"], netns)


def test_a_script_is_one_transaction_in_its_namespace(
    library: NftLibrary, names: list[str]
) -> None:
    one, other = names
    library.load(one, render_ruleset(TENANT))
    assert library.tables(one) == {"bridge v6fabric", "inet v6fabric"}
    assert library.tables(other) == set()
    before = _ruleset(one)
    broken = render_update(TENANT, WITH_TWIN) + "add element bridge v6fabric no_such_set { 1 }\n"
    with pytest.raises(CommandError, match="no_such_set"):
        library.load(one, broken)
    assert _ruleset(one) == before, "a refused script changed nothing"
    library.load(one, render_update(TENANT, WITH_TWIN))  # the error left no state behind
    library.load(other, render_ruleset(WITH_TWIN))
    assert _ruleset(one) == _ruleset(other), "the update in place equals a fresh load"


def test_a_namespace_made_again_under_its_name_gets_a_new_context(
    library: NftLibrary, names: list[str]
) -> None:
    one, other = names
    library.load(one, render_ruleset(TENANT))
    first = driver._CONTEXTS[one]
    run(["ip", "netns", "delete", one])
    with pytest.raises(CommandError):
        library.load(one, "add table inet v6fabric\n")  # no namespace: nothing to load into
    assert one not in driver._CONTEXTS
    run(["ip", "netns", "add", one])
    library.load(one, "add table inet v6fabric\n")
    assert driver._CONTEXTS[one][0] != first[0]
    assert library.tables(one) == {"inet v6fabric"}, "the new namespace, not the old one"
    # deleted behind our back: its context goes at the next call, whichever namespace it is for
    run(["ip", "netns", "delete", one])
    library.tables(other)
    assert one not in driver._CONTEXTS
    run(["ip", "netns", "add", one])
