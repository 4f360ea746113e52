"""Where the agent's objects live and how it recognises them after a crash (ownership).

Ownership without memory: an object is ours by its name (interface and namespace prefixes that
the compiler assigns), by our route protocol, or by being under our run directory. Host-side
taps are the exception: a ``tap...`` may be a hypervisor's, so the agent never deletes one by
name; ours go with their namespace end. One
exception, for labs and tests that run several agents on one machine, each with its own
``host_netns`` ("hypervisor" namespace): there namespace names alone cannot tell whose a router
namespace is, so such an agent also keeps a claim file per namespace and workload it created
and sweeps only what it claimed. In production (``host_netns`` None) names decide alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v6fabric.hoststate.model import (
    BRIDGE_PREFIX,
    CENTRAL_IF_PREFIX,
    CENTRAL_NS_PREFIX,
    DHCP_IF_PREFIX,
    DHCP_NS_PREFIX,
    GATEWAY_IF_PREFIX,
    GRE_PREFIX,
    ROUTER_IF_PREFIX,
    ROUTER_NS_PREFIX,
    VLAN_PREFIX,
    VXLAN_PREFIX,
    WORKLOAD_NS_PREFIX,
)
from v6fabric.hoststate.vrrp import HA_IF_PREFIX

# v6s-: a distributed router's central instance (``hoststate.dvr``), owned as a router's
OWNED_NAMESPACE_PREFIXES = (ROUTER_NS_PREFIX, DHCP_NS_PREFIX, CENTRAL_NS_PREFIX)
OWNED_NS_LINK_PREFIXES = (
    ROUTER_IF_PREFIX,
    GATEWAY_IF_PREFIX,
    DHCP_IF_PREFIX,
    HA_IF_PREFIX,
    CENTRAL_IF_PREFIX,
)
# in a namespace of ours, one each per namespace (keepalived: an HA router instance's)
DAEMON_KINDS = ("radvd", "dnsmasq", "keepalived")
HOST_DAEMON_KINDS = ("metadata",)  # in the agent's own namespace, one each per host
HOST_DAEMON_DIR = "host"  # <run_dir>/host/: their files


def is_our_namespace(name: str) -> bool:
    """Router (``v6r-``, ``v6s-``) and DHCP namespaces (workload namespaces belong to the
    workloads package)."""
    return name.startswith(OWNED_NAMESPACE_PREFIXES)


def is_our_workload_namespace(name: str) -> bool:
    return name.startswith(WORKLOAD_NS_PREFIX)


def is_our_bridge(name: str) -> bool:
    return name.startswith(BRIDGE_PREFIX)


def is_our_vxlan(name: str) -> bool:
    """A network's VXLAN device, in the host namespace as its bridge."""
    return name.startswith(VXLAN_PREFIX)


def is_our_ns_link(name: str) -> bool:
    return name.startswith(OWNED_NS_LINK_PREFIXES)


@dataclass(frozen=True)
class Layout:
    """The agent's run directory and the namespace that plays the hypervisor (None: root)."""

    run_dir: Path
    host_netns: str | None = None

    @property
    def scoped(self) -> bool:
        """Several agents may share this machine: sweep only what we claimed."""
        return self.host_netns is not None

    def netns_dir(self, namespace: str) -> Path:
        return self.run_dir / "netns" / namespace

    @property
    def netns_root(self) -> Path:
        return self.run_dir / "netns"

    def daemon_dir(self, namespace: str | None) -> Path:
        """A namespace's daemons' files; None: the host-wide daemons' (``HOST_DAEMON_KINDS``)."""
        return self.run_dir / HOST_DAEMON_DIR if namespace is None else self.netns_dir(namespace)

    def daemon_file(self, kind: str, namespace: str | None, suffix: str) -> Path:
        return self.daemon_dir(namespace) / f"{kind}.{suffix}"

    @property
    def namespace_claims(self) -> Path:
        return self.run_dir / "claims" / "netns"

    @property
    def workload_claims(self) -> Path:
        return self.run_dir / "claims" / "workloads"

    @property
    def firewall_loaded(self) -> Path:
        """The digest of the ruleset last loaded, written after ``nft -f`` succeeded."""
        return self.run_dir / "firewall" / "loaded"

    @property
    def firewall_spec(self) -> Path:
        """The loaded ``FirewallSpec`` without its members (``firewall_members``): the base of
        in-place updates."""
        return self.run_dir / "firewall" / "spec.json"

    @property
    def firewall_members(self) -> Path:
        """The loaded spec's members, one file a bucket (``<group>/<key>.json``): a member
        joining rewrites one small file, not the megabytes of a whole spec."""
        return self.run_dir / "firewall" / "members"

    def firewall_bucket(self, group_id: str, key: int) -> Path:
        return self.firewall_members / group_id / f"{key}.json"


def is_our_segment_link(name: str) -> bool:
    """A GRE network's tap to a remote host, or a VLAN network's sub-interface."""
    return name.startswith((GRE_PREFIX, VLAN_PREFIX))
