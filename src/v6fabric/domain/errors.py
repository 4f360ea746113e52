"""Domain errors, each carrying the Neutron exception type name, HTTP status and message text.

The API turns any ``FabricError`` into ``{"NeutronError": {"type", "message", "detail"}}``; the
texts follow Neutron's so that clients and tests written against Neutron read them unchanged.
"""

from __future__ import annotations


class FabricError(Exception):
    status = 500
    type_name: str | None = None  # defaults to the class name
    template = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **params: object) -> None:
        self.params = params
        self.message = message if message is not None else self.template.format(**params)
        super().__init__(self.message)

    @property
    def type(self) -> str:
        return self.type_name or type(self).__name__


# --- 400 ------------------------------------------------------------------------------------


class BadRequest(FabricError):
    status = 400
    template = "Bad {resource} request: {msg}."


class InvalidInput(BadRequest):
    template = "Invalid input for operation: {error_message}."

    def __init__(self, error_message: str) -> None:
        super().__init__(error_message=error_message)


class HTTPBadRequest(BadRequest):
    template = "{msg}"


def invalid_attribute(attribute: str, reason: str) -> HTTPBadRequest:
    """Neutron's wording for a value that fails an attribute's validator."""
    return HTTPBadRequest(msg=f"Invalid input for {attribute}. Reason: {reason}.")


class InvalidIpForSubnet(BadRequest):
    template = "IP address {ip_address} is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    template = (
        "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."
    )


class InvalidAllocationPool(BadRequest):
    template = "The allocation pool {pool} is not valid."


class OutOfBoundsAllocationPool(BadRequest):
    template = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."


class DNSNameServersExhausted(BadRequest):
    template = "Unable to complete operation for {subnet_id}. The number of DNS nameservers exceeds the limit {quota}."


class HostRoutesExhausted(BadRequest):
    template = "Unable to complete operation for {subnet_id}. The number of host routes exceeds the limit {quota}."


class AllowedAddressPairExhausted(BadRequest):
    template = "The number of allowed address pair exceeds the maximum {quota}."


class DuplicateAddressPairInRequest(BadRequest):
    template = "Request contains duplicate address pair: mac_address {mac_address} ip_address {ip_address}."


class IllegalSubnetPoolPrefixUpdate(BadRequest):
    template = "Illegal update to prefixes: {msg}."


class NetworkMTUSubnetConflict(BadRequest):
    template = "MTU of {net_id} is not compatible with subnet {subnet_id}."


# --- 401 / 403 ------------------------------------------------------------------------------


class NotAuthenticated(FabricError):
    status = 401
    type_name = "HTTPUnauthorized"
    template = "The request you have made requires authentication."


class PolicyNotAuthorized(FabricError):
    status = 403
    template = "rule:{action} is disallowed by policy"


# --- 404 ------------------------------------------------------------------------------------


class NotFound(FabricError):
    status = 404
    template = "{resource} {id} could not be found."


class NetworkNotFound(NotFound):
    template = "Network {net_id} could not be found."


class SubnetNotFound(NotFound):
    template = "Subnet {subnet_id} could not be found."


class PortNotFound(NotFound):
    template = "Port {port_id} could not be found."


class SubnetPoolNotFound(NotFound):
    template = "Subnet pool {subnetpool_id} could not be found."


class ResourceNotFound(NotFound):
    type_name = "HTTPNotFound"
    template = "The resource could not be found."


# --- 409 ------------------------------------------------------------------------------------


class Conflict(FabricError):
    status = 409
    template = "{msg}"


class InUse(Conflict):
    template = "The resource is in use."


class NetworkInUse(InUse):
    template = (
        "Unable to complete operation on network {net_id}. "
        "There are one or more ports still in use on the network."
    )


class SubnetInUse(InUse):
    template = (
        "Unable to complete operation on subnet {subnet_id}: "
        "One or more ports have an IP allocation from this subnet."
    )


class SubnetPoolInUse(InUse):
    template = "Subnet pool {subnet_pool_id} cannot be deleted because it is in use by one or more subnets."


class MacAddressInUse(InUse):
    template = "Unable to complete operation for network {net_id}. The mac address {mac} is in use."


class MacAddressGenerationFailure(FabricError):
    status = 503  # Neutron's ServiceUnavailable
    template = "Unable to generate unique mac on network {net_id}."


class IpAddressInUse(InUse):
    template = (
        "Unable to complete operation for network {net_id}. The IP address {ip_address} is in use."
    )


class ExternalNetworkInUse(InUse):
    template = (
        "External network {net_id} cannot be updated to be made non-external, since it has "
        "existing gateway ports"
    )


class NoL3HostForExternalNetwork(Conflict):
    """Beyond Neutron (which leaves such a router unscheduled): the gateway is refused."""

    template = (
        "Router {router_id} cannot have a gateway on external network {net_id}: no live L3 host "
        "can carry it ({reasons})"
    )


class PortBindingFailed(Conflict):
    template = (
        "Binding failed for port {port_id}: host {host} cannot realize network {network_id}"
        " ({network_type}): {reason}."
    )


class IpAddressAlreadyAllocated(Conflict):
    template = "IP address {ip} already allocated in subnet {subnet_id}"


class IpAddressGenerationFailure(Conflict):
    template = "No more IP addresses available on network {net_id}."


class GatewayConflictWithAllocationPools(InUse):
    template = "Gateway ip {ip_address} conflicts with allocation pool {pool}."


class OverlappingAllocationPools(Conflict):
    template = "Found overlapping allocation pools: {pool_1} {pool_2} for subnet {subnet_cidr}."


class OverQuota(Conflict):
    template = "Quota exceeded for resources: {overs}."


class SegmentInUse(InUse):
    type_name = "VlanIdInUse"
    template = "{msg}"


class SubnetAllocationError(Conflict):
    template = "Failed to allocate subnet: {reason}."


class DefaultSubnetPoolExists(Conflict):
    type_name = "InvalidInput"
    template = (
        "Invalid input for operation: A default subnetpool for this IP family has already been "
        "set. Only one default may exist per IP family."
    )


class AddressPairAndPortSecurityRequired(Conflict):
    template = "Port Security must be enabled in order to have allowed address pairs on a port."


class InvalidSharedSetting(Conflict):
    template = (
        "Unable to reconfigure sharing settings for network {network}. "
        "Multiple tenants are using it."
    )


# --- 503 ------------------------------------------------------------------------------------


class NoNetworkAvailable(FabricError):
    status = 503
    template = "Unable to create the network. No tenant network is available for allocation."


class PortBound(InUse):
    template = (
        "Unable to complete operation on port {port_id}, port is already bound, port type: "
        "{vif_type}, old_mac {old_mac}, new_mac {new_mac}."
    )


class HostNotFound(NotFound):
    template = "Host {host} is not registered."


class WorkloadNotFound(NotFound):
    template = "Workload {workload_id} could not be found."


# --- routers: Neutron's l3 and extraroute exceptions ------------------------------------


class RouterNotFound(NotFound):
    template = "Router {router_id} could not be found"


class RouterInUse(InUse):
    template = "Router {router_id} {reason}"


class RouterInterfaceNotFound(NotFound):
    template = "Router {router_id} does not have an interface with id {port_id}"


class RouterInterfaceNotFoundForSubnet(NotFound):
    template = "Router {router_id} has no interface on subnet {subnet_id}"


class RouterInterfaceInUseByRoute(InUse):
    template = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, "
        "as it is required by one or more routes."
    )


class InvalidRoutes(BadRequest):
    template = "Invalid format for routes: {routes}, {reason}"


class RoutesExhausted(BadRequest):
    template = (
        "Unable to complete operation for {router_id}. The number of routes exceeds the "
        "maximum {quota}."
    )


class PortInUse(InUse):
    template = (
        "Unable to complete operation on port {port_id} for network {net_id}. "
        "Port already has an attached device {device_id}."
    )


class ServicePortInUse(InUse):
    template = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class SubnetMismatchForPort(BadRequest):
    template = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."


def router_error(msg: str) -> BadRequest:
    """Neutron's ``BadRequest(resource='router', msg=...)``: "Bad router request: ...."."""
    return BadRequest(resource="router", msg=msg)
