"""Interface sysctls read again after a round: only those of the links it touched, and
those missing whose interface is now there (observe's part; ``observe`` reads the rest).

Each round of a pass used to walk every key of the host namespace (one per tap: thousands on
a busy host) to find the few to read again, and to build their mapping anew."""

from __future__ import annotations

from collections.abc import Mapping

from v6fabric.agent.host import Drivers
from v6fabric.drivers.commands import CommandError
from v6fabric.hoststate.memo import IdentityMemo


def sysctl_ifname(key: str) -> str | None:
    parts = key.split(".")  # net.ipv6.conf.<ifname>.<attr>
    return parts[3] if len(parts) == 5 and parts[2] == "conf" else None


NAMESPACE_WIDE = ("all", "default")  # net.ipv6.conf.all.*: not an interface's
# per list of keys (``want.sysctl_keys`` keeps one per state and namespace): each key's
# interface, each interface's keys, and all of them as a set
_KEYS_BY_INTERFACE = IdentityMemo(64)


def _keys_by_interface(
    keys: list[str],
) -> tuple[dict[str, str | None], dict[str, list[str]], frozenset[str]]:
    def make() -> tuple[dict[str, str | None], dict[str, list[str]], frozenset[str]]:
        interface_of = {key: sysctl_ifname(key) for key in keys}
        keys_of: dict[str, list[str]] = {}
        for key, ifname in interface_of.items():
            if ifname is not None:
                keys_of.setdefault(ifname, []).append(key)
        return interface_of, keys_of, frozenset(keys)

    return _KEYS_BY_INTERFACE.get(keys, make)


def refresh_sysctls(
    drivers: Drivers,
    netns: str | None,
    keys: list[str],
    seen: Mapping[str, str],
    touched: set[str],
    links: Mapping[str, object],
) -> Mapping[str, str]:
    """``keys``' values from ``seen``, with those of the ``touched`` interfaces read again,
    and those ``seen`` lacks whose interface is now there (one of an interface that is not
    there cannot exist, and the plan sets none). ``seen`` itself when nothing changed."""
    interface_of, keys_of, wanted = _keys_by_interface(keys)
    again = [key for ifname in touched for key in keys_of.get(ifname, ())]
    for key in keys:
        if key in seen:
            continue
        ifname = interface_of[key]
        there = ifname is None or ifname in NAMESPACE_WIDE or ifname in links
        if there and ifname not in touched:  # (a touched one's are in ``again`` already)
            again.append(key)
    try:
        fresh = drivers.sysctls.read(netns, again) if again else {}
    except CommandError:
        fresh = {}
    if not again and seen.keys() <= wanted:
        return seen
    values = dict(seen)
    for key in seen.keys() - wanted:  # not asked for any more (a new state)
        del values[key]
    for key in again:
        values.pop(key, None)  # read again: gone unless read
    values.update(fresh)
    return values
