"""customers and orders: the example schema every SQL backend runs unchanged

Covers an autoincrement key, a foreign key, a unique constraint, an index, a
JSON column, a boolean, a timestamp with time zone, a numeric and a text column.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

# Oracle's DATE has no time zone; its TIMESTAMP WITH TIME ZONE is the equivalent
TIMESTAMP_TZ = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        # Identity() is what makes the key autoincrement on Oracle and SQL Server;
        # MySQL/MariaDB use AUTO_INCREMENT and SQLite its rowid either way
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.Unicode(100), nullable=False),
        sa.Column(
            "is_active",
            sa.Boolean(create_constraint=True, name="ck_customers_is_active"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            TIMESTAMP_TZ,
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.UniqueConstraint("email", name="uq_customers_email"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column(
            "customer_id",
            sa.Integer,
            sa.ForeignKey("customers.id", name="fk_orders_customer", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("notes", sa.UnicodeText),
        sa.Column("attributes", sa.JSON),
        sa.Column("placed_at", TIMESTAMP_TZ, nullable=False),
    )
    op.create_index("ix_orders_status", "orders", ["status"])


def downgrade() -> None:
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_table("orders")
    op.drop_table("customers")
