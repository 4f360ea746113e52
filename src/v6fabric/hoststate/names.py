"""The names of a ``HostState``'s sections (see ``sections``), shared by the code that cuts a
state into sections and the code that applies a delta of them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

from v6fabric.hoststate.firewall import FirewallSpec
from v6fabric.hoststate.metadata import MetadataInstanceBucket, MetadataPortBucket, MetadataSpec
from v6fabric.hoststate.model import HostState

FIREWALL = "firewall."
GROUPS = "firewall.remote_groups"
BUCKET = GROUPS + "/"
METADATA = "metadata."
# plain sections: name -> (the class that holds the field, the field)
FIELDS: dict[str, tuple[type, str]] = {
    f.name: (HostState, f.name)
    for f in fields(HostState)
    if f.name not in ("revision", "firewall", "metadata")
}
FIELDS.update(
    (FIREWALL + f.name, (FirewallSpec, f.name))
    for f in fields(FirewallSpec)
    if f.name != "remote_groups"
)
FIELDS[METADATA + "listeners"] = (MetadataSpec, "listeners")


@dataclass(frozen=True)
class Bucketed:
    """A bucketed part of ``MetadataSpec``: its sections are ``<prefix><key>``, each the tuple
    ``items`` of one bucket (``items`` is also the part's key in the flat JSON form)."""

    prefix: str
    attr: str  # the MetadataSpec field holding the buckets
    cls: Any  # the bucket class (its NAME and COUNT)
    items: str  # the bucket's field holding the items

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """The section name of each key, made once."""
        return tuple(f"{self.prefix}{key}" for key in range(self.cls.COUNT))


BUCKETED = (
    Bucketed("metadata.ports/", "port_buckets", MetadataPortBucket, "ports"),
    Bucketed("metadata.instances/", "instance_buckets", MetadataInstanceBucket, "instances"),
)


def bucket_name(group_id: str, key: int) -> str:
    return f"{BUCKET}{group_id}/{key}"


def bucketed(name: str) -> Bucketed | None:
    """The bucketed metadata part a section name is of, None for any other name."""
    return next((part for part in BUCKETED if name.startswith(part.prefix)), None)
