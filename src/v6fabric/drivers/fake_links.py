"""A link as the fake kernel (``drivers.fake``) stores it, and the ``Link`` fields it reads as.

Its own module because it is the fake's record, apart from the kernel's rules that change it;
``drivers.fdb``'s fake reads these same records (a VXLAN device's kind and ifindex).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeLink:
    name: str
    ifindex: int
    kind: str | None
    mac: str
    mtu: int
    up: bool = False
    master: str | None = None
    peer: tuple[str | None, str] | None = None  # (namespace, name)
    addresses: set[str] = field(default_factory=set)
    stp: bool | None = None
    forward_delay: int | None = None
    sysctls: dict[str, str] = field(default_factory=dict)
    mtu_by_user: bool = False  # bridges: an MTU set after creation sticks; else min of ports
    vxlan: tuple[int, str, int] | None = None  # VXLAN devices: (vni, local, dstport)
    learning: bool = False  # VXLAN devices: learns remote MACs
    gre: tuple[int, str, str] | None = None  # gretap/ip6gretap: (key, local, remote)
    vlan: tuple[str, int] | None = None  # 802.1Q sub-interfaces: (lower, id)
    isolated: bool = False  # as a bridge port


def _vxlan_fields(fake: FakeLink) -> dict[str, object]:
    if fake.vxlan is None:
        return {}
    vni, local, dstport = fake.vxlan
    return {"vni": vni, "vxlan_local": local, "dstport": dstport, "learning": fake.learning}


def _segment_fields(fake: FakeLink) -> dict[str, object]:
    found: dict[str, object] = {"isolated": fake.isolated if fake.master else None}
    if fake.gre is not None:
        key, local, remote = fake.gre
        found.update(gre_key=key, tunnel_local=local, tunnel_remote=remote)
    if fake.vlan is not None:
        found.update(lower=fake.vlan[0], vlan_id=fake.vlan[1])
    return found
