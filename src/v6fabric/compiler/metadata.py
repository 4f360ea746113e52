"""The host's ``MetadataSpec``: where its metadata proxy listens, whom it answers, and what the
fabric knows of each device it may answer for (issue 5, R12).

Listeners are the legs of the namespaces this host runs that sit on a network:

* the ``ns-`` interface of each network's ``v6d-`` namespace that serves DHCP/RA (the DHCP port
  that is up, ``links.serving_dhcp_ports``): isolated networks have metadata too;
* every ``qr-`` interface that is up of every router this host runs.

A routed network with a DHCP port so has two listeners, in two namespaces, both holding
``fe80::a9fe:a9fe`` without DAD: either answers, and metadata survives losing one. ``ipv4``
where the network has an IPv4 subnet (169.254.169.254, routed there by DHCP option 121).

Ports are the non-network-owned ports of a served network that belong to a device (the
candidates a request can be answered for; a port without a ``device_id`` has no data in any
mode, and leaving it out keeps unplugged ports from changing the section), with every source
address they may use: fixed IPs, single-address allowed pairs and the EUI-64 link-local of the
MAC. Instances are the workloads owning one of those ports; their ``network_data`` covers all
their ports, served here or not.

Ports and instances are cut into buckets (``hoststate.buckets``), and a bucket whose items are
the very objects of the last compile is the very same bucket object (``_BucketMemo``): one
workload changing makes one new instance bucket, the only one the server encodes and hashes,
the delta carries and the agent decodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from v6fabric.compiler.index import IdentityMemo, Index, PortView, WorkloadView, address_key
from v6fabric.compiler.links import dhcp_ifname, effective_up, router_ifname
from v6fabric.compiler.network_data import LinkInput, link_inputs, render_network_data
from v6fabric.domain.addresses import eui64_link_local, parse_mac
from v6fabric.hoststate.buckets import grouped
from v6fabric.hoststate.metadata import (
    MetadataInstance,
    MetadataInstanceBucket,
    MetadataListener,
    MetadataPort,
    MetadataPortBucket,
    MetadataSpec,
)
from v6fabric.hoststate.model import dhcp_namespace, router_namespace

MAX_HOSTNAME = 63  # one DNS label
_NOT_HOSTNAME = re.compile(r"[^a-z0-9]+")


def metadata_spec(
    index: Index,
    serving_dhcp: dict[str, PortView],
    routers: dict[str, tuple[PortView, ...]],
) -> MetadataSpec:
    """Everything the metadata proxy of the host running these namespaces needs."""
    listeners = [
        MetadataListener(
            namespace=dhcp_namespace(network_id),
            ifname=dhcp_ifname(port),
            network_id=network_id,
            ipv4=_has_ipv4(index, network_id),
        )
        for network_id, port in serving_dhcp.items()
    ]
    listeners += [
        MetadataListener(
            namespace=router_namespace(router_id),
            ifname=router_ifname(port),
            network_id=port.network_id,
            ipv4=_has_ipv4(index, port.network_id),
        )
        for router_id, ports in routers.items()
        for port in ports
        if effective_up(index, port)
    ]
    served = sorted({listener.network_id for listener in listeners})
    ports = [
        _metadata_port(port)
        for network_id in served
        for port in index.ports_by_network.get(network_id, ())
        if port.device_id and not port.network_owned
    ]
    devices = {port.device_id for port in ports}
    instances = [_INSTANCES.get(index, w) for w in index.workloads if w.id in devices]
    return MetadataSpec(
        listeners=tuple(sorted(listeners, key=lambda item: (item.namespace, item.ifname))),
        port_buckets=_BUCKETS.of(MetadataPortBucket, ports),
        instance_buckets=_BUCKETS.of(MetadataInstanceBucket, instances),
    )


class _BucketMemo:
    """The last bucket made per class and key, reused while its items are the very objects
    asked for (or equal to them). Items are the same objects while their records are unchanged
    (``_PORTS``, ``_INSTANCES``), so unchanged buckets stay the same objects across compiles,
    for a few identity tests a bucket. One bucket a key, not every bucket ever made: an instance may
    hold 64 KB, and old ones must not be kept alive. (One host serves metadata; a compile of
    another, or from a fresh read, only makes new buckets.) Threads racing only build twice."""

    def __init__(self) -> None:
        self._last: dict[tuple[type, int], tuple[tuple[Any, ...], Any]] = {}  # items, bucket

    def of(self, cls: Any, items: Iterable[Any]) -> tuple[Any, ...]:
        """As ``hoststate.metadata.bucketed``, reusing the last bucket of the same items."""
        made = []
        for key, members in grouped(items, cls.NAME, cls.COUNT).items():
            last = self._last.get((cls, key))
            if last is None or last[0] != members:  # mostly the same objects: identity tests
                last = self._last[(cls, key)] = (members, cls(key, members))
            made.append(last[1])
        return tuple(made)


_BUCKETS = _BucketMemo()


def hostname(name: str, instance_id: str) -> str:
    """``name`` as one DNS label (lower case, runs of other characters as ``-``); a name with
    nothing usable left, or only digits, gives ``host-<first 8 of the id>``."""
    label = _NOT_HOSTNAME.sub("-", name.lower()).strip("-")[:MAX_HOSTNAME].rstrip("-")
    if not label or label.isdigit():
        return f"host-{instance_id[:8]}"
    return label


def _has_ipv4(index: Index, network_id: str) -> bool:
    return any(s.ip_version == 4 for s in index.subnets_by_network.get(network_id, ()))


_PORTS = IdentityMemo()


def _metadata_port(port: PortView) -> MetadataPort:
    """Per port view (the same object while the port's record is unchanged)."""
    return _PORTS.get(port, lambda: _make_port(port))


def _make_port(port: PortView) -> MetadataPort:
    addresses = {ip.address for ip in port.fixed_ips} | set(port.pair_hosts)
    mac = parse_mac(port.mac)
    if mac is not None:
        addresses.add(eui64_link_local(mac))
    return MetadataPort(
        port_id=port.id,
        network_id=port.network_id,
        mac=port.mac,
        addresses=tuple(str(address) for address in sorted(addresses, key=address_key)),
        device_id=port.device_id,
        project_id=port.project_id,
    )


class _InstanceMemo:
    """The last instance made per workload id, with what it was made from: kept while the
    workload and its links compare equal, which for unchanged records is a few identity
    checks (hashing 2,000 workloads' inputs per compile cost more than rendering them).
    Emptied when full; a race between two compiling threads only renders twice."""

    def __init__(self, size: int = 1 << 16) -> None:
        self._size = size
        self._found: dict[str, tuple[WorkloadView, tuple[LinkInput, ...], MetadataInstance]] = {}

    def get(self, index: Index, workload: WorkloadView) -> MetadataInstance:
        links = link_inputs(index, workload)
        hit = self._found.get(workload.id)
        if hit is not None and (hit[0] is workload or hit[0] == workload) and hit[1] == links:
            return hit[2]
        if len(self._found) >= self._size:
            self._found.clear()
        made = _instance(workload, links)
        self._found[workload.id] = (workload, links, made)
        return made


_INSTANCES = _InstanceMemo()


def _instance(workload: WorkloadView, links: tuple[LinkInput, ...]) -> MetadataInstance:
    return MetadataInstance(
        instance_id=workload.id,
        project_id=workload.project_id,
        name=workload.name,
        hostname=hostname(workload.name, workload.id),
        public_keys=workload.public_keys,
        user_data=workload.user_data,
        properties=workload.properties,
        network_data=render_network_data(links),
    )
