"""security groups, port bindings, allowed address pairs in their own table

Revision ID: 0003
Revises: 0002

Existing data is carried over: address pairs move from the ports' JSON column into rows,
network-owned ports (``network:*``) lose port security as Neutron gives them none, and every
project with user ports that have port security gets its ``default`` group with Neutron's
default rules, bound to those ports (as if they had been created now).
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_RULES = [  # (direction, ethertype, remote is the group itself)
    ("egress", "IPv4", False),
    ("egress", "IPv6", False),
    ("ingress", "IPv4", True),
    ("ingress", "IPv6", True),
]


def _standard(named: bool = True) -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        *([sa.Column("name", sa.String(length=255), nullable=False)] if named else []),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def _create_tables() -> None:
    op.create_table(
        "security_groups",
        *_standard(),
        sa.Column("stateful", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_security_groups_project_id", "security_groups", ["project_id"])
    op.create_table(
        "security_group_rules",
        *_standard(named=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("ethertype", sa.String(length=4), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=True),
        sa.Column("port_range_min", sa.Integer(), nullable=True),
        sa.Column("port_range_max", sa.Integer(), nullable=True),
        sa.Column("remote_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("normalized_cidr", sa.String(length=64), nullable=True),
        sa.Column("remote_group_id", sa.String(length=36), nullable=True),
        sa.Column("remote_address_group_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["security_group_id"], ["security_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["remote_group_id"], ["security_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("project_id", "security_group_id", "remote_group_id"):
        op.create_index(f"ix_security_group_rules_{column}", "security_group_rules", [column])
    op.create_table(
        "port_security_groups",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["ports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["security_group_id"], ["security_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("port_id", "security_group_id"),
    )
    op.create_index(
        "ix_port_security_groups_security_group_id", "port_security_groups", ["security_group_id"]
    )
    op.create_table(
        "allowed_address_pairs",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("mac_address", sa.String(length=17), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["ports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("port_id", "mac_address", "ip_address"),
    )


def _table(name: str, *columns: str) -> sa.TableClause:
    """A lightweight table for data moves: this migration must not follow later schemas."""
    return sa.table(name, *[sa.column(column) for column in columns])


PORTS = _table(
    "ports", "id", "project_id", "device_owner", "port_security_enabled", "allowed_address_pairs"
)
STANDARD = ("id", "project_id", "description", "revision_number", "created_at", "updated_at")


def _move_address_pairs(conn: sa.Connection) -> None:
    pairs = _table("allowed_address_pairs", "port_id", "mac_address", "ip_address", "position")
    json_pairs = sa.select(PORTS.c.id, sa.type_coerce(PORTS.c.allowed_address_pairs, sa.JSON))
    rows = [
        {"port_id": port_id, "position": i, **pair}
        for port_id, value in conn.execute(json_pairs)
        for i, pair in enumerate(value or [])
    ]
    if rows:
        conn.execute(pairs.insert(), rows)
    op.drop_column("ports", "allowed_address_pairs")


def _default_groups_for_existing_ports(conn: sa.Connection) -> None:
    groups = _table("security_groups", *STANDARD, "name", "stateful", "is_default")
    rules = _table(
        "security_group_rules",
        *STANDARD,
        "security_group_id",
        "direction",
        "ethertype",
        "remote_group_id",
    )
    bindings = _table("port_security_groups", "port_id", "security_group_id", "position")
    user_ports = conn.execute(
        sa.select(PORTS.c.id, PORTS.c.project_id).where(
            PORTS.c.port_security_enabled.is_(True), ~PORTS.c.device_owner.like("network:%")
        )
    ).all()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    group_of: dict[str, str] = {}
    for project in sorted({project for _, project in user_ports}):
        group_id = group_of[project] = str(uuid.uuid4())
        standard = {"project_id": project, "revision_number": 1, "created_at": now}
        standard["updated_at"] = now
        conn.execute(
            groups.insert().values(
                id=group_id,
                name="default",
                description="Default security group",
                stateful=True,
                is_default=True,
                **standard,
            )
        )
        conn.execute(
            rules.insert(),
            [
                {
                    "id": str(uuid.uuid4()),
                    "description": "",
                    "security_group_id": group_id,
                    "direction": direction,
                    "ethertype": ethertype,
                    "remote_group_id": group_id if from_group else None,
                    **standard,
                }
                for direction, ethertype, from_group in DEFAULT_RULES
            ],
        )
    if user_ports:
        conn.execute(
            bindings.insert(),
            [
                {"port_id": port_id, "security_group_id": group_of[project], "position": 0}
                for port_id, project in user_ports
            ],
        )


def upgrade() -> None:
    _create_tables()
    conn = op.get_bind()
    conn.execute(
        sa.update(PORTS)
        .where(PORTS.c.device_owner.like("network:%"))
        .values(port_security_enabled=False)
    )
    _default_groups_for_existing_ports(conn)
    _move_address_pairs(conn)


def downgrade() -> None:
    op.add_column(
        "ports",
        sa.Column("allowed_address_pairs", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.drop_table("allowed_address_pairs")
    op.drop_table("port_security_groups")
    op.drop_table("security_group_rules")
    op.drop_table("security_groups")
