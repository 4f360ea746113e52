"""workload instance metadata: user data, public keys, properties

Revision ID: 0004
Revises: 0003

What the metadata service serves for a workload (issue 5, R12). Existing workloads get none:
no user data, no keys, no properties.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_data", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("public_keys", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("properties", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_column("properties")
        batch_op.drop_column("public_keys")
        batch_op.drop_column("user_data")
