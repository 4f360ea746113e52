"""A router's external gateway (R4): ``external_gateway_info`` and the port behind it.

As in Neutron, the gateway is a port on a ``router:external`` network with device_owner
``network:router_gateway``, the router's id as device_id and no project (tenants never see
it). Without ``external_fixed_ips`` it gets what any port gets there (one IPv4 and one stateful
IPv6 address from the pools, its EUI-64 address on SLAAC subnets), and nothing at all on an
external network without subnets: an IPv6 gateway needs no address of its own, its link-local
is enough for the upstream to route to (R4). ``enable_snat`` is kept and shown as Neutron does;
IPv6 is never translated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from v6fabric.domain.addresses import parse_ip
from v6fabric.domain.constants import DEVICE_OWNER_ROUTER_GATEWAY
from v6fabric.domain.errors import (
    ExternalNetworkInUse,
    NetworkNotFound,
    PolicyNotAuthorized,
    invalid_attribute,
    router_error,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, fixed_ips
from v6fabric.services.network_ports import insert_network_port
from v6fabric.services.router_interfaces import delete_port, fixed_of, readdress
from v6fabric.store.tables import networks, ports, routers, subnets

ATTRIBUTE = "external_gateway_info"
KEYS = frozenset({"network_id", "enable_snat", "external_fixed_ips"})
ADMIN_KEYS = ("enable_snat", "external_fixed_ips")  # Neutron's policy: admin only
ENABLE_SNAT_BY_DEFAULT = True  # Neutron's ``enable_snat_by_default``


@dataclass(frozen=True)
class GatewayRequest:
    """A parsed ``external_gateway_info``; None fields were not given."""

    network_id: str
    enable_snat: bool | None = None
    external_fixed_ips: list[dict[str, Any]] | None = None


def parse(raw: object) -> GatewayRequest | None:
    """None (or ``{}``): no gateway. Neutron's validators' wording for anything malformed."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, Mapping):
        raise invalid_attribute(ATTRIBUTE, f"'{raw}' is not a dictionary")
    if "network_id" not in raw or set(raw) - KEYS:
        raise invalid_attribute(
            ATTRIBUTE,
            "Validation of dictionary's keys failed. Expected keys: {'network_id'} "
            f"Provided keys: {set(raw)}",
        )
    network_id = raw["network_id"]
    if not common.is_uuid(network_id):
        raise invalid_attribute(ATTRIBUTE, f"'{network_id}' is not a valid UUID")
    return GatewayRequest(
        network_id=network_id,
        enable_snat=_boolean(raw["enable_snat"]) if "enable_snat" in raw else None,
        external_fixed_ips=_fixed_ips(raw["external_fixed_ips"])
        if raw.get("external_fixed_ips")
        else None,
    )


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid_attribute(ATTRIBUTE, f"'{value}' cannot be converted to boolean")


def _fixed_ips(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid_attribute(ATTRIBUTE, f"Invalid data format for fixed IP: '{value}'")
    return [dict(item) for item in value]


def check_policy(ctx: RequestContext, action: str, body: Mapping[str, Any]) -> None:
    """``enable_snat`` and ``external_fixed_ips`` are admin-only (Neutron's default policy)."""
    info = body.get(ATTRIBUTE)
    if ctx.is_admin or not isinstance(info, Mapping):
        return
    for key in ADMIN_KEYS:
        if key in info:
            raise PolicyNotAuthorized(action=f"{action}:{ATTRIBUTE}:{key}")


def gateway_port(conn: Connection, router_id: str) -> Any | None:
    return conn.execute(
        select(ports).where(
            ports.c.device_id == router_id, ports.c.device_owner == DEVICE_OWNER_ROUTER_GATEWAY
        )
    ).first()


def infos(conn: Connection, rows: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``external_gateway_info`` of each router of ``rows`` that has a gateway, by router id."""
    with_gateway = {row.id: row for row in rows if row.external_network_id}
    if not with_gateway:
        return {}
    found = conn.execute(
        select(ports).where(
            ports.c.device_owner == DEVICE_OWNER_ROUTER_GATEWAY,
            ports.c.device_id.in_(list(with_gateway)),
        )
    ).all()
    addresses = fixed_of(conn, [port.id for port in found])
    out = {}
    for port in found:
        row = with_gateway[port.device_id]
        out[row.id] = {
            "network_id": port.network_id,
            "enable_snat": row.enable_snat,
            "external_fixed_ips": [
                {"subnet_id": subnet.id, "ip_address": ip} for subnet, ip in addresses[port.id]
            ],
        }
    return out


def set_gateway(conn: Connection, router: Any, request: GatewayRequest | None) -> None:
    """Make the router's gateway what ``request`` says (None: none), inside the caller's
    write: the old port goes when the network changes, the addresses change in place when
    only they do. Every refusal comes before the first write."""
    current = gateway_port(conn, router.id)
    if request is None:
        if current is not None:
            delete_port(conn, current.id)
        _record(conn, router.id, None, ENABLE_SNAT_BY_DEFAULT)
        return
    _check_network(conn, request)
    snat = ENABLE_SNAT_BY_DEFAULT if request.enable_snat is None else request.enable_snat
    if current is not None and current.network_id == request.network_id:
        if request.external_fixed_ips is not None:
            readdress(conn, current, request.external_fixed_ips)
        _record(conn, router.id, request.network_id, snat)
        return
    if current is not None:
        delete_port(conn, current.id)
    identity = insert_network_port(
        conn,
        network_id=request.network_id,
        project_id="",  # as Neutron: the gateway port belongs to no project
        device_owner=DEVICE_OWNER_ROUTER_GATEWAY,
        device_id=router.id,
    )
    fixed_ips.assign(conn, identity, request.external_fixed_ips)
    _record(conn, router.id, request.network_id, snat)


def _check_network(conn: Connection, request: GatewayRequest) -> None:
    network = conn.execute(
        select(networks.c.id, networks.c.external).where(networks.c.id == request.network_id)
    ).first()
    if network is None:
        raise NetworkNotFound(net_id=request.network_id)
    if not network.external:
        raise router_error(f"Network {request.network_id} is not an external network")
    gateways = {
        parse_ip(row.gateway_ip)
        for row in conn.execute(
            select(subnets.c.gateway_ip).where(subnets.c.network_id == request.network_id)
        )
        if row.gateway_ip
    }
    for entry in request.external_fixed_ips or ():
        wanted = parse_ip(entry.get("ip_address"))
        if wanted is not None and wanted in gateways:  # any spelling of the same address
            raise router_error(f"External IP {entry['ip_address']} is the same as the gateway IP")


def _record(conn: Connection, router_id: str, network_id: str | None, snat: bool) -> None:
    conn.execute(
        update(routers)
        .where(routers.c.id == router_id)
        .values(external_network_id=network_id, enable_snat=snat)
    )


def check_still_external(conn: Connection, network_id: str) -> None:
    """A network routers use as their gateway stays external (Neutron's ExternalNetworkInUse)."""
    used = conn.execute(
        select(ports.c.id)
        .where(
            ports.c.network_id == network_id, ports.c.device_owner == DEVICE_OWNER_ROUTER_GATEWAY
        )
        .limit(1)
    ).first()
    if used is not None:
        raise ExternalNetworkInUse(net_id=network_id)
