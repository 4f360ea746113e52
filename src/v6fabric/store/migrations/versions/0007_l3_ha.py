"""L3 HA: one router_hosts row per router instance, its HA state, VRIDs, HA networks

Revision ID: 0007
Revises: 0005

An HA router (issue 7) runs on several L3 hosts at once: ``router_hosts`` is keyed by
(router, host) instead of router and gets ``ha_state`` (what the host's agent reports); a
router gets its VRRP ``ha_vr_id`` (unique per project: its HA routers share one HA network),
and ``ha_networks`` says which network is each project's HA network. Existing rows stay as
they are: every router so far is not HA and has at most one host.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW = "router_hosts_0007"


def upgrade() -> None:
    _rebuild_router_hosts(ha=True)
    op.add_column("routers", sa.Column("ha_vr_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_routers_project_ha_vr_id", "routers", ["project_id", "ha_vr_id"], unique=True
    )
    op.create_table(
        "ha_networks",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
        sa.UniqueConstraint("network_id"),
    )


def downgrade() -> None:
    op.drop_table("ha_networks")
    op.drop_index("ix_routers_project_ha_vr_id", table_name="routers")
    # Not batch mode: SQLite's copy-and-move would drop ``routers``, and with it (the foreign
    # key's cascade) every ``router_hosts`` row; SQLite >= 3.35 drops a column in place.
    op.drop_column("routers", "ha_vr_id")
    _rebuild_router_hosts(ha=False)


def _rebuild_router_hosts(ha: bool) -> None:
    """The table again under its name with the new key: copy, drop, rename (SQLite cannot
    change a primary key in place). Going back keeps one host per router, the first by name."""
    columns = [
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
    ]
    if ha:
        columns.append(sa.Column("ha_state", sa.String(length=16), nullable=True))
    op.create_table(
        NEW,
        *columns,
        sa.ForeignKeyConstraint(["router_id"], ["routers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*(("router_id", "host") if ha else ("router_id",))),
    )
    if ha:
        op.execute(
            f"INSERT INTO {NEW} (router_id, host, scheduled_at) "
            "SELECT router_id, host, scheduled_at FROM router_hosts"
        )
    else:
        op.execute(
            f"INSERT INTO {NEW} (router_id, host, scheduled_at) "
            "SELECT router_id, min(host), min(scheduled_at) FROM router_hosts GROUP BY router_id"
        )
    op.drop_index("ix_router_hosts_host", table_name="router_hosts")
    op.drop_table("router_hosts")
    op.rename_table(NEW, "router_hosts")
    if op.get_bind().dialect.name == "postgresql":  # the key's name as a fresh create has it
        op.execute(f"ALTER INDEX {NEW}_pkey RENAME TO router_hosts_pkey")
        op.execute(
            f"ALTER TABLE router_hosts RENAME CONSTRAINT {NEW}_router_id_fkey TO router_hosts_router_id_fkey"
        )
    op.create_index("ix_router_hosts_host", "router_hosts", ["host"], unique=False)
