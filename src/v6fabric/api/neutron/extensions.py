"""The Neutron extensions v6fabric implements, listed under their Neutron aliases."""

from __future__ import annotations

UPDATED = "2026-11-28T00:00:00-00:00"

EXTENSIONS: list[tuple[str, str, str]] = [
    ("agent", "agent", "The agent management extension."),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "Schedule routers among l3 agents"),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler", "Schedule networks among dhcp agents"),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("port-security", "Port Security", "Provides port security"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("security-group", "security-group", "The security groups extension."),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
    (
        "security-groups-normalized-cidr",
        "Normalized CIDR field for security group rules",
        "Add new field with normalized remote_ip_prefix cidr in SG rule",
    ),
    (
        "security-groups-rules-belongs-to-default-sg",
        "Security group rule belongs to the project's default security group",
        "Flag to determine if the security group rule belongs to the project's default "
        "security group",
    ),
    (
        "port-security-groups-filtering",
        "Port filtering on security groups",
        "Provides security groups filtering when listing ports",
    ),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool"),
    (
        "default-subnetpools",
        "Default Subnetpools",
        "Provides ability to mark and use a subnetpool as the default.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Routers between networks: interfaces by subnet or port; several IPv6 subnets of one "
        "network share one interface port. External gateways are not supported yet.",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "Static routes on a router (routes attribute); each nexthop on one of its subnets.",
    ),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "add_extraroutes / remove_extraroutes change a router's routes in one transaction.",
    ),
    (
        "v6fabric-slaac-fixed-ip",
        "Chosen addresses on SLAAC subnets (R8)",
        "A chosen ip_address on a SLAAC or DHCPv6-stateless subnet is accepted (Neutron refuses it).",
    ),
]


def extension_documents() -> list[dict]:
    return [
        {"alias": alias, "name": name, "description": description, "updated": UPDATED, "links": []}
        for alias, name, description in EXTENSIONS
    ]
