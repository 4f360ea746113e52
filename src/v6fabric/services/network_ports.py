"""Ports the fabric creates for itself (router interfaces, DHCP): one way to write them."""

from __future__ import annotations

from sqlalchemy import Connection, select

from v6fabric.domain.addresses import generate_mac
from v6fabric.domain.errors import MacAddressGenerationFailure
from v6fabric.services import common
from v6fabric.services.fixed_ips import PortIdentity
from v6fabric.store.tables import ports


def insert_network_port(
    conn: Connection,
    *,
    network_id: str,
    project_id: str,
    device_owner: str,
    device_id: str,
) -> PortIdentity:
    """A port row with no addresses yet (the caller assigns them with ``fixed_ips.assign``).

    As in Neutron, a network-owned port has no port security and no security groups."""
    identity = PortIdentity(common.new_id(), network_id, free_mac(conn, network_id), device_owner)
    conn.execute(
        ports.insert().values(
            **common.new_standard_values(identity.id, project_id, None),
            network_id=network_id,
            mac_address=identity.mac_address,
            admin_state_up=True,
            status="DOWN",
            device_id=device_id,
            device_owner=device_owner,
            port_security_enabled=False,
            binding_host_id="",
            binding_vnic_type="normal",
            binding_profile={},
        )
    )
    return identity


def free_mac(conn: Connection, network_id: str, tries: int = 16) -> str:
    """A generated MAC no port of the network has. 24 random bits clash often on big networks
    (one bulk create of 250 ports in a network of 87,000 did about one time in five), and a
    clash found only by the unique constraint would fail the whole request."""
    for _ in range(tries):
        mac = generate_mac()
        taken = select(ports.c.id).where(
            ports.c.network_id == network_id, ports.c.mac_address == mac
        )
        if conn.execute(taken).first() is None:
            return mac
    raise MacAddressGenerationFailure(net_id=network_id)
