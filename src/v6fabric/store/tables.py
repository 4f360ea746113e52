"""The relational schema: one table per stored concept.

Tables are SQLAlchemy Core objects because the services read and write plain rows; the API never
sees them (it has its own pydantic wire models). Lists that are small and always read whole
(DNS servers, host routes, pools, prefixes) are JSON columns in their owner row; what the
firewall compiler joins on (security group bindings, allowed address pairs) has its own table.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = 36  # uuid4 text length


def _standard_columns(index_project: bool = True, named: bool = True) -> list[Column]:
    """Neutron's standard attributes shared by every resource (security group rules have no
    name)."""
    return [
        Column("id", String(ID), primary_key=True),
        Column("project_id", String(64), nullable=False, index=index_project),
        *([Column("name", String(255), nullable=False, default="")] if named else []),
        Column("description", String(255), nullable=False, default=""),
        Column("revision_number", Integer, nullable=False, default=1),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    ]


fabric_revision = Table(
    "fabric_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# --- identity -------------------------------------------------------------------------------

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("domain_id", String(64), nullable=False, default="default"),
    Column("description", String(255), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("domain_id", String(64), nullable=False, default="default"),
    Column("password_hash", Text, nullable=False),
    Column("default_project_id", String(64), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    UniqueConstraint("domain_id", "name", name="uq_users_domain_name"),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("role", String(32), primary_key=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the token; the token is not kept
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", String(64), nullable=True),
    Column("methods", JSON, nullable=False),
    Column("audit_id", String(32), nullable=False),
    Column("issued_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, index=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

# --- network resources ----------------------------------------------------------------------

networks = Table(
    "networks",
    metadata,
    *_standard_columns(),
    Column("admin_state_up", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False, default="ACTIVE"),
    Column("shared", Boolean, nullable=False, default=False),
    Column("external", Boolean, nullable=False, default=False),
    Column("mtu", Integer, nullable=False),
    Column("port_security_enabled", Boolean, nullable=False, default=True),
    Column("network_type", String(16), nullable=False),
    Column("physical_network", String(64), nullable=True),
    Column("segmentation_id", BigInteger, nullable=True),
    UniqueConstraint(
        "network_type", "physical_network", "segmentation_id", name="uq_networks_segment"
    ),
)

subnetpools = Table(
    "subnetpools",
    metadata,
    *_standard_columns(),
    Column("ip_version", Integer, nullable=False),
    Column("prefixes", JSON, nullable=False),
    Column("default_prefixlen", Integer, nullable=False),
    Column("min_prefixlen", Integer, nullable=False),
    Column("max_prefixlen", Integer, nullable=False),
    Column("shared", Boolean, nullable=False, default=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("default_quota", Integer, nullable=True),
)

subnets = Table(
    "subnets",
    metadata,
    *_standard_columns(),
    Column(
        "network_id",
        String(ID),
        ForeignKey("networks.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("ip_version", Integer, nullable=False),
    Column("cidr", String(64), nullable=False),
    Column("gateway_ip", String(64), nullable=True),
    Column("enable_dhcp", Boolean, nullable=False, default=True),
    Column("ipv6_ra_mode", String(32), nullable=True),
    Column("ipv6_address_mode", String(32), nullable=True),
    Column("subnetpool_id", String(ID), ForeignKey("subnetpools.id"), nullable=True, index=True),
    Column("allocation_pools", JSON, nullable=False),
    Column("dns_nameservers", JSON, nullable=False),
    Column("host_routes", JSON, nullable=False),
)

ports = Table(
    "ports",
    metadata,
    *_standard_columns(index_project=False),
    Column(
        "network_id",
        String(ID),
        ForeignKey("networks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("mac_address", String(17), nullable=False),
    Column("admin_state_up", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False, default="DOWN"),
    Column("device_id", String(255), nullable=False, default=""),
    Column("device_owner", String(255), nullable=False, default=""),
    Column("port_security_enabled", Boolean, nullable=False, default=True),
    Column("binding_host_id", String(255), nullable=False, default=""),
    Column("binding_vnic_type", String(32), nullable=False, default="normal"),
    Column("binding_profile", JSON, nullable=False),
    UniqueConstraint("network_id", "mac_address", name="uq_ports_network_mac"),
    Index("ix_ports_device_id", "device_id"),
    # Lists are ordered by id: (filter, id) indexes keep a filtered page independent of size.
    Index("ix_ports_project_id_id", "project_id", "id"),
    Index("ix_ports_network_id_id", "network_id", "id"),
)

ip_allocations = Table(
    "ip_allocations",
    metadata,
    # The primary key is the guard against handing one address out twice, whatever the race.
    Column("subnet_id", String(ID), ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True),
    Column("ip_address", String(64), primary_key=True),
    Column(
        "port_id",
        String(ID),
        ForeignKey("ports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("network_id", String(ID), nullable=False, index=True),
    Column("position", Integer, nullable=False, default=0),
)

quotas = Table(
    "quotas",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("limit", Integer, nullable=False),
)

# --- routers (issue 3) ----------------------------------------------------------------------

routers = Table(
    "routers",
    metadata,
    *_standard_columns(),
    Column("admin_state_up", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False, default="ACTIVE"),
    Column("external_network_id", String(ID), nullable=True),
    Column("enable_snat", Boolean, nullable=False, default=True),
    Column("routes", JSON, nullable=False),  # extraroute: [{"destination", "nexthop"}]
    Column("distributed", Boolean, nullable=False, default=False),
    Column("ha", Boolean, nullable=False, default=False),
    # An HA router's VRRP virtual router id (1..255), unique among its project's HA routers
    # (they share the project's HA network); null for other routers.
    Column("ha_vr_id", Integer, nullable=True),
    Index("ix_routers_project_ha_vr_id", "project_id", "ha_vr_id", unique=True),
)

# Each project's HA network (issue 7): made with its first HA router, gone with its last.
ha_networks = Table(
    "ha_networks",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column(
        "network_id",
        String(ID),
        ForeignKey("networks.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
)

# --- the fabric: hosts and workloads (issue 3) ----------------------------------------------

hosts = Table(
    "hosts",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("roles", JSON, nullable=False),  # ["compute", "network"]
    Column("capabilities", JSON, nullable=False),  # kernel features and daemons present
    Column("registered_at", DateTime, nullable=False),
    Column("seen_at", DateTime, nullable=False),
    Column("applied_hash", String(64), nullable=True),  # the HostState the agent last applied
)

# Where each router runs (issue 6, the L3 scheduler): one row per instance, one for a router,
# one per host for an HA router (issue 7); a router without one is unscheduled (no live L3
# host when it was made). Gone with its router. ``ha_state`` is what the host's agent last
# reported of an HA instance ("active" | "standby"); null until then, and for other routers.
router_hosts = Table(
    "router_hosts",
    metadata,
    Column("router_id", String(ID), ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True, index=True),
    Column("scheduled_at", DateTime, nullable=False),
    Column("ha_state", String(16), nullable=True),
)

# Where each network's DHCP runs (issue 6, the DHCP scheduler): its ``v6d-`` namespace, DHCP
# ports, dnsmasq and the RAs of its isolated subnets. One row per network with a DHCP port;
# gone with the network, or with its DHCP port.
network_dhcp_hosts = Table(
    "network_dhcp_hosts",
    metadata,
    Column(
        "network_id", String(ID), ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("host", String(255), nullable=False, index=True),
    Column("scheduled_at", DateTime, nullable=False),
)

workloads = Table(
    "workloads",
    metadata,
    *_standard_columns(),
    Column("host", String(255), nullable=False, index=True),
    Column("port_ids", JSON, nullable=False),  # in NIC order: eth0, eth1, ...
    Column("status", String(16), nullable=False, default="BUILD"),
    # Instance metadata (issue 5): what the metadata service answers for this device.
    Column("user_data", Text, nullable=True),
    Column("public_keys", JSON, nullable=False, default=list),  # [{"name", "key"}]
    Column("properties", JSON, nullable=False, default=dict),  # {str: str}: meta_data "meta"
)

# --- security groups (issue 4) --------------------------------------------------------------

security_groups = Table(
    "security_groups",
    metadata,
    *_standard_columns(),
    Column("stateful", Boolean, nullable=False, default=True),
    # The project's `default` group (at most one per project: writers are serialised).
    Column("is_default", Boolean, nullable=False, default=False),
)

security_group_rules = Table(
    "security_group_rules",
    metadata,
    *_standard_columns(named=False),
    Column(
        "security_group_id",
        String(ID),
        ForeignKey("security_groups.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("direction", String(16), nullable=False),  # ingress | egress
    Column("ethertype", String(4), nullable=False),  # IPv4 | IPv6
    Column("protocol", String(40), nullable=True),  # a name or a number as text; null: any
    Column("port_range_min", Integer, nullable=True),  # ICMP: the type
    Column("port_range_max", Integer, nullable=True),  # ICMP: the code
    Column("remote_ip_prefix", String(64), nullable=True),  # as given, mask added
    Column("normalized_cidr", String(64), nullable=True),  # the prefix with host bits cleared
    # Deleting a group removes the rules naming it as their remote, as in Neutron.
    Column(
        "remote_group_id",
        String(ID),
        ForeignKey("security_groups.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("remote_address_group_id", String(ID), nullable=True),  # no address groups: null
)

port_security_groups = Table(
    "port_security_groups",
    metadata,
    Column("port_id", String(ID), ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "security_group_id",
        String(ID),
        ForeignKey("security_groups.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,  # the members of a remote group
    ),
    Column("position", Integer, nullable=False, default=0),
)

allowed_address_pairs = Table(
    "allowed_address_pairs",
    metadata,
    Column("port_id", String(ID), ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True),
    Column("mac_address", String(17), primary_key=True),
    Column("ip_address", String(64), primary_key=True),  # an address or a CIDR
    Column("position", Integer, nullable=False, default=0),
)
