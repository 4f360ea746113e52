"""Workload records: which ports a namespace workload (a VM stand-in) is plugged into, on which
host, and its instance metadata (user data, SSH keys, properties) for the metadata service.
Creating one binds its ports to the host, as Nova binds a VM's ports.

The metadata is part of the record's wire form: only the owner and admins see a workload at all,
and the fabric's compiler reads the same form (an admin's) to fill the hosts' metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.errors import (
    HostNotFound,
    HTTPBadRequest,
    InUse,
    WorkloadNotFound,
    invalid_attribute,
)
from v6fabric.domain.instance_metadata import check_instance_metadata
from v6fabric.identity.context import RequestContext
from v6fabric.services import common
from v6fabric.services.access import ResourceAccess
from v6fabric.services.bindings import check_binding
from v6fabric.services.ports import ACCESS as PORT_ACCESS
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import hosts, ports, workloads

DEVICE_OWNER = "compute:v6fabric"
ACCESS = ResourceAccess(workloads, lambda wid: WorkloadNotFound(workload_id=wid))


def to_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **common.standard_attributes(row),
        "host": row["host"],
        "port_ids": list(row["port_ids"]),
        "status": row["status"],
        "user_data": row["user_data"],
        "public_keys": [dict(key) for key in row["public_keys"] or ()],
        "properties": dict(row["properties"] or {}),
    }


class WorkloadService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return self.list_in(conn, ctx)

    def list_in(
        self, conn: Connection, ctx: RequestContext, ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """``ids``: only those (the fabric's per-write reads), else all."""
        stmt = ACCESS.select_visible(ctx).order_by(workloads.c.created_at, workloads.c.id)
        if ids is not None:
            stmt = stmt.where(workloads.c.id.in_(list(ids)))
        return [to_wire(r._mapping) for r in conn.execute(stmt)]

    def get(self, ctx: RequestContext, workload_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return to_wire(ACCESS.fetch_visible(conn, ctx, workload_id)._mapping)

    def create(self, ctx: RequestContext, body: Mapping[str, Any]) -> dict[str, Any]:
        common.require_write(ctx, "create_workload")
        host = body.get("host")
        port_ids = body.get("port_ids") or []
        if not isinstance(host, str) or not host:
            raise HTTPBadRequest(
                msg="Failed to parse request. Required attribute 'host' not specified"
            )
        if not isinstance(port_ids, list) or not port_ids or len(set(port_ids)) != len(port_ids):
            raise invalid_attribute("port_ids", "a workload needs one or more distinct ports")
        metadata = check_instance_metadata(body)

        def operation(txn: WriteTxn) -> dict[str, Any]:
            conn = txn.conn
            if conn.execute(select(hosts.c.name).where(hosts.c.name == host)).first() is None:
                raise HostNotFound(host=host)
            workload_id = common.new_id()
            for port_id in port_ids:
                port = PORT_ACCESS.fetch_owned(conn, ctx, port_id, "create_workload")
                if port.device_id or port.device_owner.startswith("network:"):
                    raise InUse(
                        msg=f"Port {port_id} is in use by device {port.device_id or port.device_owner}."
                    )
                check_binding(conn, self.settings, port_id, port.network_id, host)
                conn.execute(
                    update(ports)
                    .where(ports.c.id == port_id)
                    .values(
                        device_id=workload_id,
                        device_owner=port.device_owner or DEVICE_OWNER,
                        binding_host_id=host,
                        **common.touched(port),
                    )
                )
            values = {
                **common.new_standard_values(
                    workload_id, common.owner_project(ctx, body, "workload"), body
                ),
                "host": host,
                "port_ids": list(port_ids),
                "status": "BUILD",
                **metadata,
            }
            conn.execute(workloads.insert().values(**values))
            return to_wire(values)

        return self.db.write(operation)

    def delete(self, ctx: RequestContext, workload_id: str) -> None:
        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            row = ACCESS.fetch_owned(conn, ctx, workload_id, "delete_workload")
            _unbind(conn, row.id, row.port_ids)
            conn.execute(delete(workloads).where(workloads.c.id == row.id))

        self.db.write(operation)


def _unbind(conn: Connection, workload_id: str, port_ids: Sequence[str]) -> None:
    """The ports stay (as a VM's ports do after the VM is gone) but belong to nobody."""
    now = common.utcnow()
    for row in conn.execute(
        select(ports).where(ports.c.id.in_(list(port_ids)), ports.c.device_id == workload_id)
    ):
        conn.execute(
            update(ports)
            .where(ports.c.id == row.id)
            .values(
                device_id="",
                device_owner="" if row.device_owner == DEVICE_OWNER else row.device_owner,
                binding_host_id="",
                status="DOWN",
                **common.touched(row, now),
            )
        )
