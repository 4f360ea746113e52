"""The lab's wires: the underlay namespace with its bridge, and per host a veth from the
bridge into the host's namespace carrying the host's underlay addresses.

Addresses go in ``nodad``: nobody else is on this wire, and the agents must not wait out
DAD (1-2 s) before they can reach the server. A host's namespace disables IPv6 by default,
as the agent does for a host namespace it creates (a workload's tap must not speak IPv6 on
the host side before the agent sees it); only its underlay link gets IPv6 back.
"""

from __future__ import annotations

from pathlib import Path

from v6fabric.drivers.commands import ip_batch, run
from v6fabric.drivers.netns import run_in_netns
from v6fabric.lab.plan import HostPlan, LabPlan


def _write_sysctls(netns: str, values: dict[str, str]) -> None:
    def write() -> None:
        for key, value in values.items():
            Path("/proc/sys", *key.split(".")).write_text(value)

    run_in_netns(netns, write)


def build(lab: LabPlan) -> None:
    """Create the namespaces and links of ``lab`` (raises on the first failure: the caller
    removes whatever was made, by tag)."""
    run(["ip", "-batch", "-"], input="".join(f"netns add {ns}\n" for ns in _all_netns(lab)))
    for host in lab.hosts:
        # before the veth end arrives: new interfaces take the namespace's defaults
        _write_sysctls(host.netns, {"net.ipv6.conf.default.disable_ipv6": "1"})
    lines = ["link set lo up", f"link add {lab.bridge} type bridge"]
    for host in lab.hosts:
        lines += [
            f"link add {host.peer} type veth peer name {host.link} netns {host.netns}",
            f"link set {host.peer} master {lab.bridge} up",
        ]
    lines += _addresses(lab.bridge, lab.controller_ipv6, lab.controller_ipv4, lab)
    lines.append(f"link set {lab.bridge} up")
    ip_batch(lab.netns, lines)
    for host in lab.hosts:
        _host_side(lab, host)
    if lab.physical_networks:
        _physical_segments(lab)


def _physical_segments(lab: LabPlan) -> None:
    """A bridge per physical network, cabled to each host's ``eth<k>``; no IPv6 of the
    underlay namespace's own on them (it is no party to those segments)."""
    made, ports = [], []
    for physnet in lab.physical_networks:
        bridge = lab.physical_bridge(physnet)
        made.append(f"link add {bridge} type bridge")
        ports.append(bridge)
        for host in lab.hosts:
            for name, iface, peer in host.physical:
                if name == physnet:
                    made.append(f"link add {peer} type veth peer name {iface} netns {host.netns}")
                    made.append(f"link set {peer} master {bridge}")
                    ports.append(peer)
    ip_batch(lab.netns, made)
    _write_sysctls(lab.netns, {f"net.ipv6.conf.{name}.disable_ipv6": "1" for name in ports})
    ip_batch(lab.netns, [f"link set {name} up" for name in ports])


def attach_physical(lab: LabPlan, physnet: str, netns: str, ifname: str, peer: str) -> None:
    """Cable ``netns`` (someone else's: an upstream router's) into ``physnet``'s segment by a
    veth, ``ifname`` inside ``netns`` (left down: its owner configures it first) and ``peer``
    on the segment's bridge. The veth goes when either namespace does."""
    bridge = lab.physical_bridge(physnet)
    ip_batch(lab.netns, [f"link add {peer} type veth peer name {ifname} netns {netns}"])
    _write_sysctls(lab.netns, {f"net.ipv6.conf.{peer}.disable_ipv6": "1"})
    ip_batch(lab.netns, [f"link set {peer} master {bridge} up"])


def _host_side(lab: LabPlan, host: HostPlan) -> None:
    if host.ipv6:
        _write_sysctls(
            host.netns,
            {
                f"net.ipv6.conf.{host.link}.disable_ipv6": "0",
                f"net.ipv6.conf.{host.link}.accept_ra": "0",
            },
        )
    lines = ["link set lo up", *_addresses(host.link, host.ipv6, host.ipv4, lab)]
    ip_batch(host.netns, [*lines, f"link set {host.link} up"])


def _addresses(link: str, ipv6: str | None, ipv4: str | None, lab: LabPlan) -> list[str]:
    lines = []
    if ipv6:
        lines.append(f"address add {ipv6}/{lab.ipv6_prefix} dev {link} nodad")
    if ipv4:
        lines.append(f"address add {ipv4}/{lab.ipv4_prefix} dev {link}")
    return lines


def _all_netns(lab: LabPlan) -> list[str]:
    return [lab.netns, *(h.netns for h in lab.hosts)]
