"""Ports the fabric creates for itself (router interfaces, DHCP): one way to write them."""

from __future__ import annotations

from sqlalchemy import Connection

from v6fabric.domain.addresses import generate_mac
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

    As in Neutron, a network-owned port has no port security and no security groups. The MAC
    is random: a clash hits the unique constraint and the write is retried."""
    identity = PortIdentity(common.new_id(), network_id, generate_mac(), device_owner)
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
