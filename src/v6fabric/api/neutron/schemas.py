"""Wire schemas of the Neutron resources: what a client may send (Create / Update).

Types are checked here; meaning (CIDRs, modes, addresses) is checked by the services so that
their error texts are Neutron's. Unknown attributes are refused.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Dicts = list[dict[str, Any]]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Owned(_Wire):
    name: str | None = None
    description: str | None = None
    project_id: str | None = None
    tenant_id: str | None = None


class NetworkCreate(_Owned):
    admin_state_up: bool | None = None
    shared: bool | None = None
    router_external: bool | None = Field(None, alias="router:external")
    mtu: int | None = None
    port_security_enabled: bool | None = None
    provider_network_type: str | None = Field(None, alias="provider:network_type")
    provider_physical_network: str | None = Field(None, alias="provider:physical_network")
    provider_segmentation_id: int | None = Field(None, alias="provider:segmentation_id")
    availability_zone_hints: list[str] | None = None


class NetworkUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None
    shared: bool | None = None
    router_external: bool | None = Field(None, alias="router:external")
    mtu: int | None = None
    port_security_enabled: bool | None = None
    provider_network_type: Any = Field(None, alias="provider:network_type")
    provider_physical_network: Any = Field(None, alias="provider:physical_network")
    provider_segmentation_id: Any = Field(None, alias="provider:segmentation_id")


class SubnetCreate(_Owned):
    network_id: str | None = None
    ip_version: int | None = None
    cidr: str | None = None
    gateway_ip: str | None = None
    allocation_pools: Dicts | None = None
    dns_nameservers: list[str] | None = None
    host_routes: Dicts | None = None
    enable_dhcp: bool | None = None
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    subnetpool_id: str | None = None
    prefixlen: int | None = None
    use_default_subnetpool: bool | None = None
    service_types: list[str] | None = None
    segment_id: str | None = None


class SubnetUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    gateway_ip: str | None = None
    allocation_pools: Dicts | None = None
    dns_nameservers: list[str] | None = None
    host_routes: Dicts | None = None
    enable_dhcp: bool | None = None
    # Read-only after create; accepted here so the service can answer with Neutron's message.
    ip_version: Any = None
    cidr: Any = None
    network_id: Any = None
    ipv6_ra_mode: Any = None
    ipv6_address_mode: Any = None
    subnetpool_id: Any = None
    prefixlen: Any = None
    project_id: Any = None
    tenant_id: Any = None


class SubnetPoolCreate(_Owned):
    prefixes: list[str] | None = None
    default_prefixlen: int | None = None
    min_prefixlen: int | None = None
    max_prefixlen: int | None = None
    shared: bool | None = None
    is_default: bool | None = None
    default_quota: int | None = None
    address_scope_id: str | None = None


class SubnetPoolUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    prefixes: list[str] | None = None
    default_prefixlen: int | None = None
    min_prefixlen: int | None = None
    max_prefixlen: int | None = None
    is_default: bool | None = None


class PortCreate(_Owned):
    network_id: str | None = None
    mac_address: str | None = None
    admin_state_up: bool | None = None
    fixed_ips: Dicts | None = Field(
        None,
        description=(
            "Beyond Neutron (R8): an ip_address on a SLAAC or DHCPv6-stateless subnet is "
            "accepted and replaces the EUI-64 address on that subnet."
        ),
    )
    device_id: str | None = None
    device_owner: str | None = None
    allowed_address_pairs: Any = None
    port_security_enabled: bool | None = None
    security_groups: Any = Field(None, description="Group IDs; default: the project's default.")
    binding_host_id: str | None = Field(None, alias="binding:host_id")
    binding_vnic_type: str | None = Field(None, alias="binding:vnic_type")
    binding_profile: dict[str, Any] | None = Field(None, alias="binding:profile")


class PortUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None
    mac_address: str | None = None
    fixed_ips: Dicts | None = None
    device_id: str | None = None
    device_owner: str | None = None
    allowed_address_pairs: Any = None
    port_security_enabled: bool | None = None
    security_groups: Any = None
    binding_host_id: str | None = Field(None, alias="binding:host_id")
    binding_vnic_type: str | None = Field(None, alias="binding:vnic_type")
    binding_profile: dict[str, Any] | None = Field(None, alias="binding:profile")
    network_id: Any = None


class RouterCreate(_Owned):
    admin_state_up: bool | None = None
    # Any: the service answers malformed values in Neutron's words
    external_gateway_info: Any = Field(
        None, description="{network_id, enable_snat, external_fixed_ips}: the router's gateway."
    )
    distributed: bool | None = None
    ha: bool | None = None


class RouterUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None
    external_gateway_info: Any = None
    routes: Dicts | None = None
    distributed: bool | None = None
    ha: bool | None = None


class RouterInterface(_Wire):
    """Body of add_router_interface / remove_router_interface: a subnet or a port."""

    # Any: the service answers malformed ids with Neutron's "'x' is not a valid UUID".
    subnet_id: Any = None
    port_id: Any = None


class RouterRoutes(_Wire):
    routes: Dicts


class RouterRoutesRequest(_Wire):
    """Body of add_extraroutes / remove_extraroutes (extraroute-atomic)."""

    router: RouterRoutes


class SecurityGroupCreate(_Owned):
    stateful: bool | None = None


class SecurityGroupUpdate(_Wire):
    name: str | None = None
    description: str | None = None
    stateful: bool | None = None


class SecurityGroupRuleCreate(_Wire):
    """Values are Any: the service converts them and answers with Neutron's own messages."""

    security_group_id: str | None = None
    direction: Any = None
    ethertype: Any = None
    protocol: Any = Field(None, description="A name (tcp, ipv6-icmp, ...) or a number 0-255.")
    port_range_min: Any = Field(None, description="First port, or the ICMP type.")
    port_range_max: Any = Field(None, description="Last port, or the ICMP code.")
    remote_ip_prefix: Any = None
    remote_group_id: Any = None
    remote_address_group_id: Any = None
    description: str | None = None
    project_id: str | None = None
    tenant_id: str | None = None


class SecurityGroupRuleUpdate(SecurityGroupRuleCreate):
    """Only the description changes; the other attributes are accepted here so that the
    service refuses them with Neutron's "Cannot update read-only attribute"."""


class QuotaUpdate(_Wire):
    model_config = ConfigDict(extra="allow")
