"""Subnets: IPv4 and IPv6 with Neutron's address-mode matrix, pools and subnet-pool allocation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.addresses import parse_cidr, parse_ip
from v6fabric.domain.constants import MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES
from v6fabric.domain.errors import (
    BadRequest,
    HTTPBadRequest,
    InvalidInput,
    NetworkMTUSubnetConflict,
    SubnetInUse,
    SubnetNotFound,
    invalid_attribute,
)
from v6fabric.domain.subnet_rules import (
    default_gateway,
    parse_dns_nameservers,
    parse_host_routes,
    parse_mode,
    validate_cidr,
    validate_ipv6_modes,
)
from v6fabric.identity.context import RequestContext
from v6fabric.ipam.pools import (
    check_gateway_outside_pools,
    default_pools,
    parse_pools,
    pools_to_wire,
)
from v6fabric.services import allocations, common, dhcp_ports
from v6fabric.services.access import ResourceAccess
from v6fabric.services.networks import fetch_owned
from v6fabric.services.query import (
    ListQuery,
    ListSpec,
    apply_list,
    parse_bool,
    parse_int,
    standard_columns,
)
from v6fabric.services.subnetpools import choose_cidr_from_pool
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import ip_allocations, networks, subnets

c = subnets.c
SPEC = ListSpec(
    resource="subnets",
    columns={
        **standard_columns(subnets),
        "network_id": c.network_id,
        "ip_version": c.ip_version,
        "cidr": c.cidr,
        "gateway_ip": c.gateway_ip,
        "enable_dhcp": c.enable_dhcp,
        "ipv6_ra_mode": c.ipv6_ra_mode,
        "ipv6_address_mode": c.ipv6_address_mode,
        "subnetpool_id": c.subnetpool_id,
    },
    converters={"ip_version": parse_int, "enable_dhcp": parse_bool, "revision_number": parse_int},
    ignored_filters=frozenset(
        {
            "dns_nameservers",
            "host_routes",
            "allocation_pools",
            "tags",
            "segment_id",
            "service_types",
        }
    ),
)
ACCESS = ResourceAccess(
    subnets,
    lambda subnet_id: SubnetNotFound(subnet_id=subnet_id),
    # subnets of shared and external networks are readable by every project
    lambda _ctx: c.network_id.in_(
        select(networks.c.id).where(networks.c.shared.is_(True) | networks.c.external.is_(True))
    ),
)
READ_ONLY = (
    "ip_version",
    "cidr",
    "network_id",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "subnetpool_id",
    "prefixlen",
    "use_default_subnetpool",
    "project_id",
    "tenant_id",
)


def to_wire(row: Any) -> dict[str, Any]:
    out = common.standard_attributes(row._mapping)
    out.update(
        {
            "network_id": row.network_id,
            "ip_version": row.ip_version,
            "cidr": row.cidr,
            "gateway_ip": row.gateway_ip,
            "allocation_pools": row.allocation_pools,
            "dns_nameservers": row.dns_nameservers,
            "host_routes": row.host_routes,
            "enable_dhcp": row.enable_dhcp,
            "ipv6_ra_mode": row.ipv6_ra_mode,
            "ipv6_address_mode": row.ipv6_address_mode,
            "subnetpool_id": row.subnetpool_id,
            "service_types": [],
            "segment_id": None,
        }
    )
    return out


def _parse_gateway(raw: object, cidr: Any) -> Any:
    if raw is None:
        return None
    gateway = parse_ip(raw)
    if gateway is None:
        raise invalid_attribute("gateway_ip", f"'{raw}' is not a valid IP address")
    if gateway.version != cidr.version:
        raise InvalidInput("Gateway IP version inconsistent with allocation pool version")
    return gateway


class SubnetService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def list(self, ctx: RequestContext, query: ListQuery) -> list[dict]:
        with self.db.read() as conn:
            return self.list_in(conn, ctx, query)

    def list_in(self, conn: Connection, ctx: RequestContext, query: ListQuery) -> list[dict]:
        """The list inside the caller's transaction (the fabric's consistent snapshot)."""
        stmt = ACCESS.select_visible(ctx)
        return [to_wire(r) for r in apply_list(conn, SPEC, stmt, query)]

    def get(self, ctx: RequestContext, subnet_id: str) -> dict:
        with self.db.read() as conn:
            return to_wire(ACCESS.fetch_visible(conn, ctx, subnet_id))

    def create(self, ctx: RequestContext, bodies: Sequence[Mapping[str, Any]]) -> list[dict]:
        common.require_write(ctx, "create_subnet")

        def operation(txn: WriteTxn) -> list[dict]:
            return [to_wire(self._insert(txn.conn, ctx, body)) for body in bodies]

        return self.db.write(operation)

    def _insert(self, conn: Connection, ctx: RequestContext, body: Mapping[str, Any]) -> Any:
        if not body.get("network_id"):
            raise HTTPBadRequest(
                msg="Failed to parse request. Required attribute 'network_id' not specified"
            )
        network = fetch_owned(conn, ctx, body["network_id"], "create_subnet")
        project = common.owner_project(ctx, body, "subnet")
        common.check_quota(conn, project, "subnet", subnets)
        ip_version = body.get("ip_version")
        if ip_version not in (4, 6):
            raise invalid_attribute("ip_version", f"'{ip_version}' is not in [4, 6]")
        ra_mode = parse_mode("ipv6_ra_mode", body.get("ipv6_ra_mode"))
        address_mode = parse_mode("ipv6_address_mode", body.get("ipv6_address_mode"))
        enable_dhcp = body.get("enable_dhcp", True)
        if enable_dhcp is None:
            enable_dhcp = True

        cidr = None
        if body.get("cidr") is not None:
            cidr = parse_cidr(body["cidr"])
            if cidr is None:
                raise invalid_attribute("cidr", f"'{body['cidr']}' is not a valid IP subnet")
        pool_id, cidr = choose_cidr_from_pool(conn, ctx, body, ip_version, cidr)
        if cidr is None:
            raise BadRequest(
                resource="subnets", msg="a subnetpool must be specified in the absence of a cidr"
            )
        validate_cidr(ip_version, cidr, enable_dhcp)
        validate_ipv6_modes(ip_version, ra_mode, address_mode, enable_dhcp, cidr)
        if ip_version == 6 and network.mtu < 1280:
            raise NetworkMTUSubnetConflict(net_id=network.id, subnet_id="(new)")

        for other in conn.execute(select(c.cidr).where(c.network_id == network.id)).scalars():
            if parse_cidr(other).overlaps(cidr):  # type: ignore[union-attr,arg-type]
                raise InvalidInput(
                    f"Requested subnet with cidr: {cidr} for network: {network.id} "
                    "overlaps with another subnet"
                )

        gateway = (
            _parse_gateway(body["gateway_ip"], cidr)
            if "gateway_ip" in body
            else default_gateway(cidr)
        )
        if body.get("allocation_pools") is not None:
            pools = parse_pools(cidr, body["allocation_pools"])
            check_gateway_outside_pools(gateway, pools)
        else:
            pools = default_pools(cidr, gateway)

        subnet_id = common.new_id()
        conn.execute(
            subnets.insert().values(
                **common.new_standard_values(subnet_id, project, body),
                network_id=network.id,
                ip_version=ip_version,
                cidr=str(cidr),
                gateway_ip=str(gateway) if gateway is not None else None,
                enable_dhcp=enable_dhcp,
                ipv6_ra_mode=ra_mode.value if ra_mode else None,
                ipv6_address_mode=address_mode.value if address_mode else None,
                subnetpool_id=pool_id,
                allocation_pools=pools_to_wire(pools),
                dns_nameservers=parse_dns_nameservers(
                    body.get("dns_nameservers"), ip_version, MAX_DNS_NAMESERVERS, subnet_id
                ),
                host_routes=parse_host_routes(
                    body.get("host_routes"), ip_version, MAX_HOST_ROUTES, subnet_id
                ),
            )
        )
        row = conn.execute(select(subnets).where(c.id == subnet_id)).one()
        if allocations.is_auto(row):
            allocations.add_eui64_to_network_ports(conn, row)
        dhcp_ports.sync_dhcp_port(conn, self.settings, network.id)
        return row

    def update(self, ctx: RequestContext, subnet_id: str, body: Mapping[str, Any]) -> dict:
        for attr in READ_ONLY:
            if attr in body:
                raise HTTPBadRequest(msg=f"Cannot update read-only attribute {attr}")

        def operation(txn: WriteTxn) -> dict:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, subnet_id, "update_subnet")
            cidr = parse_cidr(row.cidr)
            values = common.touched(row)
            for attr in ("name", "description"):
                if body.get(attr) is not None:
                    values[attr] = body[attr]
            if "enable_dhcp" in body and body["enable_dhcp"] is not None:
                if not body["enable_dhcp"] and (row.ipv6_ra_mode or row.ipv6_address_mode):
                    raise InvalidInput("Cannot disable enable_dhcp with ipv6 attributes set")
                values["enable_dhcp"] = body["enable_dhcp"]
            gateway = parse_ip(row.gateway_ip) if row.gateway_ip else None
            if "gateway_ip" in body:
                gateway = _parse_gateway(body["gateway_ip"], cidr)
                values["gateway_ip"] = str(gateway) if gateway is not None else None
            if body.get("allocation_pools") is not None:
                pools = parse_pools(cidr, body["allocation_pools"])  # type: ignore[arg-type]
                values["allocation_pools"] = pools_to_wire(pools)
            else:
                pools = [(parse_ip(p["start"]), parse_ip(p["end"])) for p in row.allocation_pools]
            check_gateway_outside_pools(gateway, pools)  # type: ignore[arg-type]
            if "dns_nameservers" in body:
                values["dns_nameservers"] = parse_dns_nameservers(
                    body["dns_nameservers"], row.ip_version, MAX_DNS_NAMESERVERS, row.id
                )
            if "host_routes" in body:
                values["host_routes"] = parse_host_routes(
                    body["host_routes"], row.ip_version, MAX_HOST_ROUTES, row.id
                )
            conn.execute(update(subnets).where(c.id == row.id).values(**values))
            if "enable_dhcp" in values:
                dhcp_ports.sync_dhcp_port(conn, self.settings, row.network_id)
            return to_wire(conn.execute(select(subnets).where(c.id == row.id)).one())

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, subnet_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, subnet_id, "delete_subnet")
            if allocations.is_auto(row):
                allocations.release_user_allocations(conn, row.id)
            dhcp_ports.release_dhcp_addresses(conn, row.id)
            in_use = conn.execute(
                select(ip_allocations.c.port_id)
                .where(ip_allocations.c.subnet_id == row.id)
                .limit(1)
            ).first()
            if in_use is not None:
                raise SubnetInUse(subnet_id=row.id)
            conn.execute(delete(subnets).where(c.id == row.id))
            dhcp_ports.sync_dhcp_port(conn, self.settings, row.network_id)

        self.db.write(operation)
