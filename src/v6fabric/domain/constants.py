"""Names and limits shared by every layer."""

from __future__ import annotations

DEVICE_OWNER_ROUTER_INTERFACE = "network:router_interface"
DEVICE_OWNER_ROUTER_HA_INTERFACE = "network:ha_router_replicated_interface"
DEVICE_OWNER_DVR_INTERFACE = "network:router_interface_distributed"
DEVICE_OWNER_ROUTER_GATEWAY = "network:router_gateway"
# An HA router instance's port on its project's HA network (the ``ha-`` leg keepalived speaks
# VRRP on): one per instance, bound to the instance's host, no project, no addresses.
DEVICE_OWNER_ROUTER_HA_PORT = "network:router_ha_interface"
DEVICE_OWNER_DHCP = "network:dhcp"
DEVICE_OWNER_FLOATINGIP = "network:floatingip"

# A router's internal interfaces take the gateway address instead of an EUI-64 one, and may use
# any address (Neutron's ROUTER_INTERFACE_OWNERS_SNAT). Its gateway port is not one of them: on
# an external SLAAC subnet it gets its EUI-64 address, as any host on that link would.
ROUTER_INTERFACE_OWNERS = frozenset(
    {
        DEVICE_OWNER_ROUTER_INTERFACE,
        DEVICE_OWNER_ROUTER_HA_INTERFACE,
        DEVICE_OWNER_DVR_INTERFACE,
    }
)
# Every port a router owns: deleted only through the router API.
ROUTER_PORT_OWNERS = ROUTER_INTERFACE_OWNERS | {
    DEVICE_OWNER_ROUTER_GATEWAY,
    DEVICE_OWNER_ROUTER_HA_PORT,
}

VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "remote-managed",
    "vdpa",
)

NETWORK_TYPES = ("flat", "vlan", "vxlan", "gre", "local")

MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20
MAX_ALLOWED_ADDRESS_PAIRS = 10

# Neutron's default quotas; -1 is unlimited.
DEFAULT_QUOTAS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "subnetpool": -1,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
    "rbac_policy": 10,
}

ROLES = ("admin", "member", "reader")
DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
