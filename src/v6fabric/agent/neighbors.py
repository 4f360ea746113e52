"""Permanent neighbour entries of our namespaces (``NamespaceSpec.neighbors``), kept exactly.

A distributed router's instances never solicit (``hoststate.dvr``): their solicitations would
carry the shared gateway addresses onto the overlay. So each knows every port of its networks
by a permanent entry, and the agent keeps exactly those: adds the missing, replaces the
different, deletes the permanent entries nobody wants. Entries the kernel learnt are not
permanent and never touched. The kernel flushes a link's entries when it goes down or away:
an entry on a link (re)made in this plan is planned again, and one flushed behind the agent's
back is found missing on a later read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from v6fabric.agent.observe import Observed
from v6fabric.drivers.neighbors import DeleteNeighbor, Neighbor, ReplaceNeighbor, normalise_address
from v6fabric.hoststate.model import NamespaceSpec

NeighborOp = ReplaceNeighbor | DeleteNeighbor


def wanted(spec: NamespaceSpec) -> dict[tuple[str, str], Neighbor]:
    """(ifname, address) -> the entry, normalised as the kernel reports it."""
    found = {}
    for entry in spec.neighbors:
        address = normalise_address(entry.address)
        found[(entry.ifname, address)] = Neighbor(entry.ifname, address, entry.mac.lower())
    return found


def plan(
    namespaces: Mapping[str, NamespaceSpec],
    observed: Observed,
    created: Iterable[tuple[str | None, str]],
) -> tuple[list[ReplaceNeighbor], list[DeleteNeighbor]]:
    """The replaces (after the links and addresses) and the deletes, for the namespaces that
    stay; a namespace about to go takes its entries with it. An entry is planned only on a
    link that is there or being made (else it waits, as a sysctl does, for the link)."""
    made = set(created)
    replaces: list[ReplaceNeighbor] = []
    deletes: list[DeleteNeighbor] = []
    for name, spec in namespaces.items():
        present = name in observed.namespaces
        view = observed.view(name) if present else None
        links = view.links if view is not None else {}
        have = {
            (n.ifname, n.address): n
            for n in (view.neighbors if view is not None else ())
            if (name, n.ifname) not in made  # a link made anew has none
        }
        want = wanted(spec)
        for key, entry in sorted(want.items()):
            if have.get(key) == entry:
                continue
            if (name, entry.ifname) in made or entry.ifname in links:
                replaces.append(ReplaceNeighbor(name, entry))
        for key in sorted(have.keys() - want.keys()):
            deletes.append(DeleteNeighbor(name, *key))
    return replaces, deletes
