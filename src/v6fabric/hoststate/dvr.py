"""Distributed routers (``distributed=True``, R20) in the southbound contract.

A distributed router has an instance (``v6r-<router id>``) on every host with a workload port
on one of its networks. Every instance has the same legs (``qr-``, same names) with the same
gateway addresses, but each host's legs carry a MAC of their own (``host_leg_mac``), so the
shared port MAC never leaves a host and no bridge sees one MAC behind two hosts. The legs also
hold the link-local of the port's API MAC (EUI-64, added by the agent, no DAD), so the
workloads' default route (from RAs sent from that link-local) is the same on every host.

Neighbour discovery for the gateway is answered only on the host: the firewall drops, on the
bridges' uplinks (``FirewallNetwork.uplinks``), every NS/NA/RA/redirect from or about the
``local_only`` addresses. Because an instance's own solicitations would come from those
addresses, instances never solicit: the compiler gives them a permanent neighbour entry for
every port of their networks (``NamespaceSpec.neighbors``).

East/west is routed on the sending workload's host and crosses the overlay once, from the
sender's host leg MAC straight to the destination workload. North/south goes through the
router's central instance (``v6s-<router id>``) on its scheduled L3 host, as Neutron's SNAT
node: its gateway leg (``qg-``) and one ``sg-`` leg per internal network, a link-local-only leg
(no address taken from the tenants' subnets) with a MAC and id derived from the router and the
network (``central_leg_mac``, ``central_leg_id``). The instances' default route is the central
leg's link-local on the router's first IPv6 network; the central instance reaches the
workloads directly through its ``sg-`` legs (on-link routes, permanent neighbours).
"""

from __future__ import annotations

import hashlib
import uuid

# Locally administered, unicast; API MACs (fa:16:3e:...) never start with it.
LEG_MAC_PREFIX = "fe"
_CENTRAL_LEG_NAMESPACE = uuid.UUID("5b0f1f8e-3f0c-4c61-9a53-6c7f2d0d7e20")


def _mac(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]  # 40 bits: collisions negligible
    return ":".join([LEG_MAC_PREFIX, *(digest[i : i + 2] for i in range(0, 10, 2))])


def host_leg_mac(host: str, port_id: str) -> str:
    """The MAC of a distributed router's leg (its interface port ``port_id``) on ``host``."""
    return _mac(f"dvr/{host}/{port_id}")


def central_leg_id(router_id: str, network_id: str) -> str:
    """A stable id for the central instance's leg on a network: names its ``tap``/``sg-``."""
    return str(uuid.uuid5(_CENTRAL_LEG_NAMESPACE, f"{router_id}/{network_id}"))


def central_leg_mac(router_id: str, network_id: str) -> str:
    return _mac(f"central/{router_id}/{network_id}")
