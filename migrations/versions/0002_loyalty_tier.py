"""customers.loyalty_tier: an ALTER that SQLite can only do in batch mode

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("loyalty_tier", sa.String(20), nullable=True))
        batch.create_index("ix_customers_loyalty_tier", ["loyalty_tier"])


def downgrade() -> None:
    # dropping a column is what SQLite cannot ALTER: batch mode copies the table
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_loyalty_tier")
        batch.drop_column("loyalty_tier")
