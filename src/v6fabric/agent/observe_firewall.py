"""The firewall the agent loaded, as the host shows it (observe's part; ``observe`` reads the
rest): its marker files, our tables' names, and the spec its files hold.

The spec just loaded is remembered in memory (``remember_loaded``, called by ``managers``) and
known next pass by the marker's digest alone; its files are read and decoded only after a
restart. It is kept apart from the links, sysctls and daemons because it reads the firewall's
own files and digests (``firewall_loaded``), nothing else observe reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from v6fabric.agent import firewall_loaded
from v6fabric.agent.host import Drivers
from v6fabric.agent.layout import Layout
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.files import Files
from v6fabric.hoststate.codec import firewall_from_json
from v6fabric.hoststate.firewall import FirewallSpec, RemoteGroup
from v6fabric.render.nftables import TABLE as FIREWALL_TABLE


@dataclass(frozen=True)
class FirewallObserved:
    """What the agent last loaded (its marker files), None when our tables are not there."""

    loaded: str | None = None
    spec: FirewallSpec | None = None


# the marker file -> (the digest it holds, the spec; None: its files do not give it)
_JUST_LOADED: dict[Path, tuple[str, FirewallSpec | None]] = {}


def remember_loaded(marker: Path, loaded: str, spec: FirewallSpec | None) -> None:
    """The spec the agent just loaded, known next pass by the marker's digest alone: reading
    and decoding its files costs 0.4 s at 100,000 remote-group members."""
    _JUST_LOADED[marker] = (loaded, spec)


def observe_firewall(drivers: Drivers, layout: Layout, *, full: bool) -> FirewallObserved:
    """From the marker files; a full read also checks that our tables are really there (only
    their names: listing a big ruleset takes seconds)."""
    loaded = drivers.files.read(layout.firewall_loaded)
    if loaded is None:
        return FirewallObserved()
    if full:
        try:
            tables = drivers.nftables.tables(layout.host_netns)
        except CommandError:
            tables = set()
        if not {f"bridge {FIREWALL_TABLE}", f"inet {FIREWALL_TABLE}"} <= tables:
            return FirewallObserved()
    loaded = loaded.strip()
    known = _JUST_LOADED.get(layout.firewall_loaded)
    if known is not None and known[0] == loaded:
        return FirewallObserved(loaded, known[1])
    spec = _read_spec(drivers.files, layout)  # after a restart
    if spec is not None and firewall_loaded.firewall_digest(spec) != loaded:
        spec = None  # not what was loaded: the next load is a whole one
    remember_loaded(layout.firewall_loaded, loaded, spec)
    return FirewallObserved(loaded, spec)


def _read_spec(files: Files, layout: Layout) -> FirewallSpec | None:
    """The spec from ``spec.json`` and the member files; None when one is missing or
    unreadable (an older layout: ``spec.json`` with the members inside, no member files)."""
    try:
        frame = firewall_from_json(files.read(layout.firewall_spec) or "")
        groups = []
        for group in frame.remote_groups:
            folder = layout.firewall_members / group.group_id
            buckets = []
            for name in files.listdir(folder):
                (one,) = firewall_from_json(files.read(folder / name) or "").remote_groups
                (bucket,) = one.buckets
                if (one.group_id, name) != (group.group_id, f"{bucket.key}.json"):
                    return None
                buckets.append(bucket)
            groups.append(RemoteGroup(group.group_id, tuple(buckets)))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return dataclasses.replace(frame, remote_groups=tuple(groups))
