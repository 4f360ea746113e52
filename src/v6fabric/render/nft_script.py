"""nft scripts from a model of our tables: sets (and maps) with their elements, chains with their
rules. ``script`` defines the tables from scratch; ``update`` is one transaction that takes the
loaded tables from one model to the next without replacing them.

Why the order of ``update`` (all in one ``nft -f``, so atomic): new sets and empty new chains
first (rules and map elements may name them), element deletes (a verdict map element may be
the last reference to a chain that goes), flushes of changed and departing chains (their jumps
go), the rules of new and changed chains, then departing chains and sets, and element adds
last. A changed base chain or set declaration cannot be updated in place: ``ValueError``, and
the caller loads ``script`` instead. Sets whose elements a model leaves out (too many to diff
as a whole) come with their element changes, worked out by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TABLE = "v6fabric"
FAMILIES = ("bridge", "inet")


@dataclass(frozen=True)
class NftSet:
    family: str  # "bridge" | "inet"
    name: str
    declaration: tuple[str, ...]
    elements: frozenset[str]


@dataclass(frozen=True)
class Chain:
    family: str
    name: str
    hook: str | None  # base chains: "prerouting priority -200"; None for chains we jump to
    rules: tuple[str, ...]


ElementChanges = tuple[frozenset[str], frozenset[str]]  # elements to delete, to add


@dataclass(frozen=True)
class Ruleset:
    sets: dict[tuple[str, str], NftSet]
    chains: dict[tuple[str, str], Chain]


def script(model: Ruleset) -> str:
    """Our tables from scratch: declare, delete, define; works whether or not they exist."""
    out = [f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in FAMILIES]
    for family in FAMILIES:
        sets = [v for (f, _n), v in model.sets.items() if f == family]
        chains = [c for (f, _n), c in model.chains.items() if f == family]
        out.append(_table(family, sets, chains))
    return "".join(out)


def update(
    before: Ruleset, after: Ruleset, changes: Mapping[tuple[str, str], ElementChanges] | None = None
) -> str:
    """One transaction taking the loaded ``before`` to ``after``; empty when they are equal.

    ``changes``: (family, name) -> elements to delete and to add, besides those the models'
    elements differ by (for a set of ``after``)."""
    for key, chain in after.chains.items():
        was = before.chains.get(key)
        if (chain.hook or (was and was.hook)) and (was is None or was.hook != chain.hook):
            raise ValueError(f"base chain {key} changed: load the whole script instead")
    for key in before.chains.keys() - after.chains.keys():
        if before.chains[key].hook:
            raise ValueError(f"base chain {key} went: load the whole script instead")
    for key, nft_set in after.sets.items():
        was = before.sets.get(key)
        if was is not None and was.declaration != nft_set.declaration:
            raise ValueError(f"set {key} declared otherwise: load the whole script instead")
    added_chains = [c for k, c in after.chains.items() if k not in before.chains]
    changed = [c for k, c in after.chains.items() if k in before.chains and before.chains[k] != c]
    gone_chains = [c for k, c in before.chains.items() if k not in after.chains]
    added_sets = [v for k, v in after.sets.items() if k not in before.sets]
    gone_sets = [v for k, v in before.sets.items() if k not in after.sets]
    out = [_set_declaration(v) for v in added_sets]
    out += [f"add chain {c.family} {TABLE} {c.name}\n" for c in added_chains]
    adds: list[str] = []
    for key, nft_set in after.sets.items():  # element deletes first (they free chains)
        elements = before.sets[key].elements if key in before.sets else frozenset()
        gone, new = (changes or {}).get(key, (frozenset(), frozenset()))
        out += _elements("delete", nft_set, (elements - nft_set.elements) | gone)
        adds += _elements("add", nft_set, (nft_set.elements - elements) | new)
    out += [f"flush chain {c.family} {TABLE} {c.name}\n" for c in (*changed, *gone_chains)]
    for chain in (*added_chains, *changed):
        out += [f"add rule {chain.family} {TABLE} {chain.name} {rule}\n" for rule in chain.rules]
    out += [f"delete chain {c.family} {TABLE} {c.name}\n" for c in gone_chains]
    out += [f"delete set {v.family} {TABLE} {v.name}\n" for v in gone_sets]
    return "".join(out + adds)


def _set_declaration(nft_set: NftSet) -> str:
    body = "; ".join(nft_set.declaration)
    kind = "map" if ":" in nft_set.declaration[0] else "set"
    return f"add {kind} {nft_set.family} {TABLE} {nft_set.name} {{ {body}; }}\n"


def _elements(verb: str, nft_set: NftSet, elements: Iterable[str]) -> list[str]:
    listed = sorted(elements)
    if not listed:
        return []
    where = f"{nft_set.family} {TABLE} {nft_set.name}"
    return [f"{verb} element {where} {{ {', '.join(listed)} }}\n"]


def _table(family: str, sets: list[NftSet], chains: list[Chain]) -> str:
    blocks = []
    for nft_set in sets:
        kind = "map" if ":" in nft_set.declaration[0] else "set"
        lines = [f"\t{kind} {nft_set.name} {{", *(f"\t\t{d}" for d in nft_set.declaration)]
        if nft_set.elements:
            body = ",\n".join(f"\t\t\t{e}" for e in sorted(nft_set.elements))
            lines += ["\t\telements = {", body, "\t\t}"]
        blocks.append("\n".join([*lines, "\t}"]) + "\n")
    blocks += [_chain(c.name, c.rules, c.hook) for c in chains]
    return f"table {family} {TABLE} {{\n" + "\n".join(blocks) + "}\n"


def _chain(name: str, rules: Iterable[str], hook: str | None = None) -> str:
    lines = [f"\tchain {name} {{"]
    if hook:
        lines.append(f"\t\ttype filter hook {hook}; policy accept;")
    lines += [f"\t\t{rule}" for rule in rules]
    return "\n".join([*lines, "\t}"]) + "\n"
