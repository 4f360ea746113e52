"""The uplink guard (``render.nft_uplinks``, R20), pure: its sets keyed by uplink, its chains
left alone by address changes, its checks. The kernel loads it in tests/golden/test_nftables.py
and the traffic proof is tests/e2e/test_r20_dvr_hosts.py."""

from __future__ import annotations

import dataclasses

import pytest

from tests.golden.nft_cases import DVR, DVR_CHANGED, TENANT
from v6fabric.hoststate.firewall import FirewallNetwork
from v6fabric.render.nft_uplinks import UPLINK_SETS, uplink_chains, uplink_elements
from v6fabric.render.nftables import (
    render_ruleset,
    render_set_updates,
    render_update,
    sets_only_changed,
)


def test_elements_are_keyed_by_uplink() -> None:
    found = uplink_elements(DVR.networks)
    assert set(found) == set(UPLINK_SETS)
    assert found["uplinks"] == {'"vx-3f1c2b9a-5d"', '"gt-8d2e4f-1a2b3"', '"gt-8d2e4f-4c5d6"'}
    # the same IPv4 gateway on both networks: one element per uplink, none across networks
    assert {e for e in found["local4"] if e.endswith(". 10.0.0.1")} == {
        '"vx-3f1c2b9a-5d" . 10.0.0.1',
        '"gt-8d2e4f-1a2b3" . 10.0.0.1',
        '"gt-8d2e4f-4c5d6" . 10.0.0.1',
    }
    assert '"vx-3f1c2b9a-5d" . 169.254.169.254' in found["local4"]
    assert '"gt-8d2e4f-1a2b3" . 169.254.169.254' not in found["local4"]
    assert '"vx-3f1c2b9a-5d" . 0xfe8000000000000000000000a9fea9fe' in found["local_targets"]
    assert '"vx-3f1c2b9a-5d" . fe80::a9fe:a9fe' in found["local_src6"]
    assert not any("2001:db8:2::1" in e for e in found["local_src6"] if "vx-" in e)


def test_no_uplink_no_element() -> None:
    net = FirewallNetwork("n", "v6b-n", 1, local_only=("2001:db8::1",))  # one host: no uplink
    assert all(not elements for elements in uplink_elements([net]).values())


def test_both_directions_and_every_kind_are_guarded() -> None:
    chains = {name: (hook, rules) for name, hook, rules in uplink_chains()}
    assert chains["uplinks"][0] == "forward priority -190"
    for way, chain in (("iifname", "uplink_in"), ("oifname", "uplink_out")):
        rules = chains[chain][1]
        assert all(f"{way} ." in rule and "drop" in rule for rule in rules)
        text = " ".join(rules)
        for needed in ("@th,64,128 @local_targets", "ip6 saddr @local_src6", "nd-redirect"):
            assert needed in text
        assert "arp saddr ip @local4" in text and "arp daddr ip @local4" in text
    script = render_ruleset(DVR)
    assert "chain uplinks {" in script and "type filter hook forward priority -190" in script


def test_an_address_or_uplink_change_is_set_elements_only() -> None:
    assert sets_only_changed(TENANT, DVR) and sets_only_changed(DVR, DVR_CHANGED)
    update = render_set_updates(DVR, DVR_CHANGED)
    assert update == render_update(DVR, DVR_CHANGED)
    assert "chain" not in update and "table" not in update
    assert 'delete element bridge v6fabric uplinks { "gt-8d2e4f-4c5d6" }' in update
    assert "2001:db8:1:1::1" in update


@pytest.mark.parametrize(
    ("uplink", "address"),
    [("vx-n; drop", "2001:db8::1"), ("vx-n", "2001:db8::1/64"), ("vx-n", "gateway")],
)
def test_what_nft_would_misread_is_refused(uplink: str, address: str) -> None:
    base = TENANT.networks[0]
    good = dataclasses.replace(base, uplinks=("vx-n",), local_only=("2001:db8::1",))
    render_ruleset(dataclasses.replace(TENANT, networks=(good,)))  # the same shape renders
    bad = dataclasses.replace(base, uplinks=(uplink,), local_only=(address,))
    with pytest.raises(ValueError):
        render_ruleset(dataclasses.replace(TENANT, networks=(bad,)))
