"""OpenStack's ``network_data.json`` for a workload, in the shape Nova's metadata service and
config drive give it (``links``, ``networks``, ``services``), so an unmodified guest (cloud-init,
or the workloads' own cloud-init-like step) configures from it.

One ``links`` entry per port of the workload, in NIC order: ``id`` is the tap name (Nova uses
the VIF's ``devname``, the same ``tap<port id[:11]>``), ``type`` ``bridge`` (Nova's VIF type
for a tap on a Linux bridge), the MAC, the network's MTU and ``vif_id`` the port id.

One ``networks`` entry per fixed IP (Nova writes only the first IPv4 and the first IPv6 subnet
of a network; several addresses per port are a requirement here, R17), ``id`` ``network<n>`` in
order. Its ``type`` says how the guest gets the address:

* IPv4: ``ipv4_dhcp`` where dnsmasq serves the subnet (``enable_dhcp``), else ``ipv4``.
* IPv6, by the mode the subnet's address comes by (``ipv6_address_mode``, else ``ipv6_ra_mode``,
  as ``compiler.dhcp`` decides): ``ipv6_slaac`` / ``ipv6_dhcpv6-stateless`` for the EUI-64
  address of the port's MAC; any other address on such a subnet is ``ipv6``, static (R8: SLAAC
  would never form it, so the guest must configure it itself); ``ipv6_dhcpv6-stateful`` where
  dnsmasq hands the address out by reservation, which includes subnets with neither mode set
  (dnsmasq serves those statically, as Neutron's legacy mode does); ``ipv6`` where no DHCPv6
  server serves the subnet (DHCP off, or a prefix dnsmasq refuses).

Every type but ``ipv4_dhcp`` (Nova's form for it) carries ``ip_address``, ``netmask`` (dotted
for IPv4; for IPv6 the mask as an address, ``ffff:ffff:ffff:ffff::``, as Nova writes it), the
routes (a default route via ``gateway_ip`` when the subnet has one and its host routes name no
default, then the host routes) and the subnet's DNS servers as ``services``. The top-level
``services`` are every DNS server once, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from v6fabric.compiler.dhcp import STATIC, address_mode, range_mode
from v6fabric.compiler.index import Index, PortView, SubnetView, WorkloadView, address_key
from v6fabric.compiler.ra import AUTONOMOUS_RA_MODES
from v6fabric.domain.addresses import IPAddress, eui64_address, parse_mac
from v6fabric.domain.subnet_rules import Ipv6Mode
from v6fabric.hoststate.model import tap_name

LINK_TYPE = "bridge"


@dataclass(frozen=True)
class LinkInput:
    """What one NIC's part of the document depends on: equal inputs, one rendering. Unchanged
    records are the same objects from one compile to the next (``index.IdentityMemo``), so
    comparing inputs is mostly identity checks."""

    port: PortView
    mtu: int
    subnets: tuple[SubnetView, ...]  # the network's, sorted by prefix


def workload_ports(index: Index, workload: WorkloadView) -> tuple[PortView, ...]:
    """The workload's ports in NIC order: those of ``port_ids`` that exist and still name the
    workload as their device."""
    found = (index.ports_by_id.get(port_id) for port_id in workload.port_ids)
    return tuple(
        port
        for port in found
        if port is not None and port.device_id == workload.id and port.network_id in index.networks
    )


def link_inputs(index: Index, workload: WorkloadView) -> tuple[LinkInput, ...]:
    return tuple(
        LinkInput(
            port,
            index.networks[port.network_id].mtu,
            index.subnets_by_network.get(port.network_id, ()),
        )
        for port in workload_ports(index, workload)
    )


def render_network_data(links: tuple[LinkInput, ...]) -> str:
    """The JSON text of the document for these NICs."""
    link_entries: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for link in links:
        port = link.port
        link_id = tap_name(port.id)
        link_entries.append(
            {
                "id": link_id,
                "vif_id": port.id,
                "type": LINK_TYPE,
                "mtu": link.mtu,
                "ethernet_mac_address": port.mac,
            }
        )
        for subnet in link.subnets:  # the port's addresses by subnet, subnets by prefix
            addresses = sorted(
                {ip.address for ip in port.fixed_ips if ip.subnet_id == subnet.id}, key=address_key
            )
            for address in addresses:
                entry = _network(len(networks), link_id, port, subnet, address)
                networks.append(entry)
                services += [dns for dns in _dns(subnet) if dns not in services]
    return json.dumps({"links": link_entries, "networks": networks, "services": services})


def network_type(subnet: SubnetView, address: IPAddress, mac: str) -> str:
    """How the guest gets ``address`` on ``subnet`` (see the module docstring)."""
    served = range_mode(subnet)
    if subnet.ip_version == 4:
        return "ipv4_dhcp" if served is not None else "ipv4"
    mode = address_mode(subnet)
    if mode in AUTONOMOUS_RA_MODES:
        normalised = parse_mac(mac)
        if normalised is None:
            return "ipv6"
        formed = eui64_address(subnet.cidr, normalised)  # type: ignore[arg-type]
        return f"ipv6_{mode}" if address == formed else "ipv6"
    if served == STATIC:
        return f"ipv6_{Ipv6Mode.DHCPV6_STATEFUL.value}"
    return "ipv6"


def _network(
    number: int, link_id: str, port: PortView, subnet: SubnetView, address: IPAddress
) -> dict[str, Any]:
    kind = network_type(subnet, address, port.mac)
    entry: dict[str, Any] = {"id": f"network{number}", "type": kind, "link": link_id}
    if kind == "ipv4_dhcp":
        entry["network_id"] = port.network_id
        return entry
    entry["ip_address"] = str(address)
    entry["netmask"] = str(subnet.cidr.netmask)
    entry["routes"] = _routes(subnet)
    entry["network_id"] = port.network_id
    entry["services"] = _dns(subnet)
    return entry


def _routes(subnet: SubnetView) -> list[dict[str, str]]:
    any_address = "0.0.0.0" if subnet.ip_version == 4 else "::"
    routes = []
    has_default = any(destination.prefixlen == 0 for destination, _ in subnet.host_routes)
    if subnet.gateway_ip is not None and not has_default:
        routes.append(
            {"network": any_address, "netmask": any_address, "gateway": str(subnet.gateway_ip)}
        )
    for destination, nexthop in subnet.host_routes:
        routes.append(
            {
                "network": str(destination.network_address),
                "netmask": str(destination.netmask),
                "gateway": str(nexthop),
            }
        )
    return routes


def _dns(subnet: SubnetView) -> list[dict[str, str]]:
    return [{"type": "dns", "address": str(server)} for server in subnet.dns_nameservers]
