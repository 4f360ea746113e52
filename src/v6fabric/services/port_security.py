"""A port's security: ``port_security_enabled``, its security groups and its allowed address
pairs, and Neutron's rules for how they depend on each other (ml2's port-security handling).

- Network-owned ports (``network:*``: router interfaces, DHCP) have no port security and no
  groups; other ports take the request's value, else their network's.
- A port with port security gets its project's default group unless it names its groups;
  without port security it may have neither groups nor address pairs.
- Named groups must be the port's project's (any group for an admin), all stateful or all
  stateless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select

from v6fabric.domain.addresses import parse_ip_or_cidr, parse_mac
from v6fabric.domain.constants import MAX_ALLOWED_ADDRESS_PAIRS
from v6fabric.domain.errors import (
    AddressPairAndPortSecurityRequired,
    AllowedAddressPairExhausted,
    DuplicateAddressPairInRequest,
    HTTPBadRequest,
    invalid_attribute,
)
from v6fabric.domain.security_errors import (
    AllowedAddressPairsMissingIP,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
    SecurityGroupConflict,
    SecurityGroupNotFound,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common
from v6fabric.store.tables import allowed_address_pairs, port_security_groups, security_groups

NETWORK_OWNER_PREFIX = "network:"
MIXED_STATEFULNESS = (
    "Cannot apply both stateful and stateless security groups on the same port at the same time"
)
b = port_security_groups.c
p = allowed_address_pairs.c


@dataclass(frozen=True)
class PortSecurity:
    """What a create or update sets; None leaves the stored groups or pairs as they are."""

    enabled: bool
    groups: list[str] | None
    pairs: list[dict[str, str]] | None


def is_network_owned(device_owner: str) -> bool:
    """Neutron's is_port_trusted: the fabric's own ports are not filtered."""
    return device_owner.startswith(NETWORK_OWNER_PREFIX)


# --- request values ------------------------------------------------------------------------------


def parse_pairs(raw: object, port_mac: str) -> list[dict[str, str]]:
    """allowed_address_pairs as Neutron validates them; a pair without a MAC takes the port's."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise HTTPBadRequest(msg="Allowed address pairs must be a list.")
    if len(raw) > MAX_ALLOWED_ADDRESS_PAIRS:
        raise AllowedAddressPairExhausted(quota=MAX_ALLOWED_ADDRESS_PAIRS)
    pairs: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise invalid_attribute("allowed_address_pairs", f"'{item}' is not a dictionary")
        mac = parse_mac(item.get("mac_address") or port_mac)
        if mac is None:
            raise HTTPBadRequest(msg=f"'{item.get('mac_address')}' is not a valid MAC address")
        if "ip_address" not in item:
            raise AllowedAddressPairsMissingIP()
        if unknown := set(item) - {"ip_address", "mac_address"}:
            raise HTTPBadRequest(msg=f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
        net = parse_ip_or_cidr(item["ip_address"])
        if net is None:
            raise HTTPBadRequest(msg=f"'{item['ip_address']}' is not a valid IP address")
        ip_text = str(net) if "/" in item["ip_address"] else str(net.network_address)
        pair = {"ip_address": ip_text, "mac_address": mac}
        if pair in pairs:
            raise DuplicateAddressPairInRequest(mac_address=mac, ip_address=ip_text)
        pairs.append(pair)
    return pairs


def parse_group_ids(raw: object) -> list[str]:
    """security_groups: a list of distinct UUIDs (null is the empty list)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("security_groups", f"'{raw}' is not a list")
    if dups := sorted({str(x) for x in raw if raw.count(x) > 1}):
        raise invalid_attribute(
            "security_groups", f"Duplicate items in the list: '{', '.join(dups)}'"
        )
    for item in raw:
        if not common.is_uuid(item):
            raise invalid_attribute("security_groups", f"'{item}' is not a valid UUID")
    return [str(item) for item in raw]


def _check_groups(
    conn: Connection, ctx: RequestContext, project_id: str, group_ids: Sequence[str]
) -> None:
    if not group_ids:
        return
    g = security_groups.c
    rows = conn.execute(select(g.id, g.project_id, g.stateful).where(g.id.in_(group_ids))).all()
    usable = [row for row in rows if ctx.is_admin or row.project_id == project_id]
    missing = [group_id for group_id in group_ids if group_id not in {r.id for r in usable}]
    if missing:
        raise SecurityGroupNotFound(id=", ".join(missing))
    if len({row.stateful for row in usable}) > 1:
        raise SecurityGroupConflict(reason=MIXED_STATEFULNESS)


# --- create and update ---------------------------------------------------------------------------


def for_new_port(
    conn: Connection,
    ctx: RequestContext,
    body: Mapping[str, Any],
    *,
    project_id: str,
    network_security: bool,
    mac: str,
    default_group: str,
) -> PortSecurity:
    """The security of a port being created; ``default_group`` is its project's (the caller
    makes it if missing, once per request)."""
    if is_network_owned(body.get("device_owner") or ""):
        enabled = False
    elif body.get("port_security_enabled") is not None:
        enabled = bool(body["port_security_enabled"])
    else:
        enabled = network_security
    pairs = parse_pairs(body.get("allowed_address_pairs"), mac)
    if pairs and not enabled:
        raise AddressPairAndPortSecurityRequired()
    named = "security_groups" in body
    groups = parse_group_ids(body["security_groups"]) if named else []
    if groups and not enabled:
        raise PortSecurityAndIPRequiredForSecurityGroups()
    if enabled and not named:
        return PortSecurity(enabled, [default_group], pairs)  # the project's own: no check
    _check_groups(conn, ctx, project_id, groups)
    return PortSecurity(enabled, groups, pairs)


def for_updated_port(
    conn: Connection, ctx: RequestContext, row: Any, body: Mapping[str, Any], mac: str
) -> PortSecurity:
    """The security after an update of the port ``row``; Neutron refuses to disable port
    security while groups or pairs remain (those the request keeps or adds)."""
    enabled = body.get("port_security_enabled")
    if enabled is None:
        enabled = row.port_security_enabled
    pairs = (
        parse_pairs(body["allowed_address_pairs"], mac) if "allowed_address_pairs" in body else None
    )
    groups = parse_group_ids(body["security_groups"]) if "security_groups" in body else None
    if not enabled:
        if pairs or (pairs is None and stored_pairs(conn, row.id)):
            raise AddressPairAndPortSecurityRequired()
        if groups:
            raise PortSecurityAndIPRequiredForSecurityGroups()
        if groups is None and stored_groups(conn, row.id):
            raise PortSecurityPortHasSecurityGroup()
    if groups is not None:
        _check_groups(conn, ctx, row.project_id, groups)
    return PortSecurity(bool(enabled), groups, pairs)


def write(conn: Connection, port_id: str, security: PortSecurity, replacing: bool = True) -> None:
    """Store the groups and pairs ``security`` sets, in order (replacing the port's own unless
    the port is new)."""
    groups = None
    if security.groups is not None:
        groups = [{"security_group_id": group_id} for group_id in security.groups]
    for table, items in ((port_security_groups, groups), (allowed_address_pairs, security.pairs)):
        if items is None:
            continue
        if replacing:
            conn.execute(delete(table).where(table.c.port_id == port_id))
        if items:
            rows = [{"port_id": port_id, "position": i, **item} for i, item in enumerate(items)]
            conn.execute(table.insert(), rows)


# --- reads ---------------------------------------------------------------------------------------

# (statement, port id column) of the per-port tables, for the port service's lists: in each
# port's order (sorting by port as well would cost a third of the query).
GROUPS = (select(b.port_id, b.security_group_id).order_by(b.position), b.port_id)
PAIRS = (select(p.port_id, p.ip_address, p.mac_address).order_by(p.position), p.port_id)


def stored_groups(conn: Connection, port_id: str) -> list[Any]:
    return conn.execute(GROUPS[0].where(b.port_id == port_id)).all()


def stored_pairs(conn: Connection, port_id: str) -> list[Any]:
    return conn.execute(PAIRS[0].where(p.port_id == port_id)).all()
