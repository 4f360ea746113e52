"""The host's metadata proxy in the southbound contract: where it listens, whom it answers, what
it serves.

Its own module because it is the one part of a ``HostState`` that is bucketed by itself (ports
and instances, ``hoststate.buckets``) and the one that the metadata proxy (``v6fabric.metadata``)
reads alone, from its config file, without the rest of the host's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from v6fabric.hoststate.buckets import grouped

METADATA_IPV6 = "fe80::a9fe:a9fe"  # on every serving interface, without DAD (two may serve)
METADATA_IPV4 = "169.254.169.254"


@dataclass(frozen=True)
class MetadataListener:
    """An interface the host's metadata proxy listens on (port 80 of ``METADATA_IPV6`` with
    this interface's scope, and of ``METADATA_IPV4`` if ``ipv4``); requests that arrive on it
    come from ``network_id``."""

    namespace: str  # v6d-<network> or v6r-<router>
    ifname: str  # ns-... or qr-...
    network_id: str
    ipv4: bool = False


@dataclass(frozen=True)
class MetadataPort:
    """A port on a served network whose requests are answered: found by the network the
    request arrived from, its source address (one of ``addresses``) and the MAC the neighbour
    table holds for that address (``mac``)."""

    port_id: str
    network_id: str
    mac: str
    addresses: tuple[str, ...]  # plain: fixed IPs, allowed pairs' hosts, the EUI-64 link-local
    device_id: str
    project_id: str


@dataclass(frozen=True)
class MetadataInstance:
    """What the fabric itself knows of a device (a workload), served when no external backend
    is configured on the host. ``network_data`` is OpenStack's network_data.json, rendered by
    the compiler, which knows the subnets' modes."""

    instance_id: str
    project_id: str
    name: str
    hostname: str
    public_keys: tuple[tuple[str, str], ...] = ()  # (key name, OpenSSH public key)
    user_data: str | None = None  # as given (text); None: no user data (404)
    properties: tuple[tuple[str, str], ...] = ()  # meta_data.json "meta"
    network_data: str = "{}"  # JSON text
    availability_zone: str = "nova"


@dataclass(frozen=True)
class MetadataPortBucket:
    """The served ports whose ``bucket_key(port_id, COUNT)`` is ``key``, sorted by id."""

    COUNT: ClassVar[int] = 256  # ~300 bytes a port
    NAME: ClassVar[Callable[[Any], str]] = attrgetter("port_id")  # bucket_key of this
    key: int
    ports: tuple[MetadataPort, ...] = ()


@dataclass(frozen=True)
class MetadataInstanceBucket:
    """The instances whose ``bucket_key(instance_id, COUNT)`` is ``key``, sorted by id."""

    COUNT: ClassVar[int] = 1024  # a few kB an instance (user_data up to 64 kB): ~2 a bucket
    NAME: ClassVar[Callable[[Any], str]] = attrgetter("instance_id")
    key: int  # at 2,000 workloads, so one changing sends ~10 kB
    instances: tuple[MetadataInstance, ...] = ()


@dataclass(frozen=True)
class MetadataSpec:
    """The host's one metadata proxy: where it listens, whom it answers, what it serves.

    Ports and instances are held in buckets (``hoststate.buckets``): with thousands of
    workloads, each with up to 64 KB of user_data, one workload changing changes one bucket, and
    only that bucket is hashed, sent and decoded (``sections``). Build with ``MetadataSpec.of``
    (or ``replaced``); read ``ports`` and ``instances``. Its JSON form (``codec.to_dict``, the
    wire, the proxy's config file) is the flat one, ``{"listeners", "ports", "instances"}``,
    items in bucket order: what older agents and proxies read.
    """

    listeners: tuple[MetadataListener, ...] = ()
    port_buckets: tuple[MetadataPortBucket, ...] = ()
    instance_buckets: tuple[MetadataInstanceBucket, ...] = ()

    @classmethod
    def of(
        cls,
        listeners: Iterable[MetadataListener] = (),
        ports: Iterable[MetadataPort] = (),
        instances: Iterable[MetadataInstance] = (),
    ) -> MetadataSpec:
        """From flat items, in any order (each bucket sorted by id)."""
        return cls(
            tuple(listeners),
            bucketed(MetadataPortBucket, ports),
            bucketed(MetadataInstanceBucket, instances),
        )

    def replaced(
        self,
        *,
        listeners: Iterable[MetadataListener] | None = None,
        ports: Iterable[MetadataPort] | None = None,
        instances: Iterable[MetadataInstance] | None = None,
    ) -> MetadataSpec:
        """``dataclasses.replace`` by the flat parts (those not given are kept)."""
        return MetadataSpec.of(
            self.listeners if listeners is None else listeners,
            self.ports if ports is None else ports,
            self.instances if instances is None else instances,
        )

    @property
    def ports(self) -> tuple[MetadataPort, ...]:
        """Sorted by id, as before the buckets (consumers index them; they are not hot)."""
        found = (port for bucket in self.port_buckets for port in bucket.ports)
        return tuple(sorted(found, key=lambda port: port.port_id))

    @property
    def instances(self) -> tuple[MetadataInstance, ...]:
        """Sorted by id."""
        found = (item for bucket in self.instance_buckets for item in bucket.instances)
        return tuple(sorted(found, key=lambda item: item.instance_id))


def bucketed(cls: Any, items: Iterable[Any]) -> tuple[Any, ...]:
    """``items`` in buckets of ``cls``, a metadata bucket class (its ``NAME`` and ``COUNT``)."""
    return tuple(cls(key, group) for key, group in grouped(items, cls.NAME, cls.COUNT).items())
