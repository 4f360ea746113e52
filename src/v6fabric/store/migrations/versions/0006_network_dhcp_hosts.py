"""network DHCP hosts: where the DHCP scheduler placed each network's DHCP

Revision ID: 0006
Revises: 0005

Each network's DHCP namespace runs on one of the hosts with the network role (issue 6), no
longer all of them on the first. Existing networks get no row: the scheduler places those with
a DHCP port (least-loaded live network host) as soon as one is live, as it does a network that
got its DHCP port while none was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_dhcp_hosts",
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("network_id"),
    )
    with op.batch_alter_table("network_dhcp_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_dhcp_hosts_host"), ["host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("network_dhcp_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_dhcp_hosts_host"))
    op.drop_table("network_dhcp_hosts")
