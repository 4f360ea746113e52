"""Neutron's security group, port-security and allowed-address-pairs errors (see errors.py).

Neutron's InvalidInput subclasses override the whole message, so those are plain 400s here.
"""

from __future__ import annotations

from v6fabric.domain.errors import BadRequest, Conflict, InUse, NotFound

# --- 400 ------------------------------------------------------------------------------------


class InvalidCIDR(BadRequest):
    template = "Invalid CIDR {input} given as IP prefix."


class SecurityGroupInvalidPortRange(BadRequest):
    template = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidProtocolForPort(BadRequest):
    template = (
        "Ports cannot be specified for protocol {protocol}. "
        "Ports are only supported for {valid_port_protocols}."
    )


class SecurityGroupInvalidPortValue(BadRequest):
    template = "Invalid value for port {port}"


class SecurityGroupInvalidIcmpValue(BadRequest):
    template = "Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255."


class SecurityGroupEthertypeConflictWithProtocol(BadRequest):
    template = "Invalid ethertype {ethertype} for protocol {protocol}."


class SecurityGroupMissingIcmpType(BadRequest):
    template = (
        "ICMP code (port-range-max) {value} is provided but ICMP type (port-range-min) is missing."
    )


class SecurityGroupRuleInvalidProtocol(BadRequest):
    template = (
        "Security group rule protocol {protocol} not supported. Only protocol values {values} "
        "and integer representations [0 to 255] are supported."
    )


class SecurityGroupRulesNotSingleProject(BadRequest):
    template = "Multiple project_ids in bulk security group rule create not allowed"


class SecurityGroupMultipleRemoteEntites(BadRequest):
    template = (
        "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be "
        "provided."
    )


class SecurityGroupProtocolRequiredWithPorts(BadRequest):
    template = "Must also specify protocol if port range is given."


class SecurityGroupNotSingleGroupRules(BadRequest):
    template = "Only allowed to update rules for one security profile at a time"


class SecurityGroupRuleParameterConflict(BadRequest):
    template = "Conflicting value ethertype {ethertype} for CIDR {cidr}"


class SecurityGroupRuleInvalidEtherType(BadRequest):
    template = (
        "Security group rule for ethertype '{ethertype}' not supported. "
        "Allowed values are {values}."
    )


class PortSecurityAndIPRequiredForSecurityGroups(BadRequest):
    template = (
        "Port security must be enabled and port must have an IP address in order to use "
        "security groups."
    )


class AllowedAddressPairsMissingIP(BadRequest):
    template = "AllowedAddressPair must contain ip_address"


# --- 404 ------------------------------------------------------------------------------------


class SecurityGroupNotFound(NotFound):
    template = "Security group {id} does not exist"


class SecurityGroupRuleNotFound(NotFound):
    template = "Security group rule {id} does not exist"


class AddressGroupNotFound(NotFound):
    template = "Address group {address_group_id} could not be found."


# --- 409 ------------------------------------------------------------------------------------


class SecurityGroupInUse(InUse):
    template = "Security Group {id} in use."


class SecurityGroupCannotRemoveDefault(InUse):
    template = "Insufficient rights for removing default security group."


class SecurityGroupCannotUpdateDefault(InUse):
    template = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(InUse):
    template = "Default security group already exists."


class DuplicateSecurityGroupRuleInPost(InUse):
    template = "Duplicate Security Group Rule in POST."


class SecurityGroupRuleExists(InUse):
    template = "Security group rule already exists. Rule id is {rule_id}."


class SecurityGroupConflict(Conflict):
    template = "Error {reason} while attempting the operation."


class PortSecurityPortHasSecurityGroup(InUse):
    template = (
        "Port has security group associated. Cannot disable port security or IP address until "
        "security group is removed."
    )
