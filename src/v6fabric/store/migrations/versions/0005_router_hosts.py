"""router hosts: where the L3 scheduler placed each router

Revision ID: 0005
Revises: 0004

Routers spread over the hosts with the network role (issue 6). Existing routers get no row:
the scheduler places them (least-loaded live L3 host) as soon as one is live, as it does a
router made while none was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "router_hosts",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["router_id"], ["routers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("router_id"),
    )
    with op.batch_alter_table("router_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_router_hosts_host"), ["host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("router_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_router_hosts_host"))
    op.drop_table("router_hosts")
