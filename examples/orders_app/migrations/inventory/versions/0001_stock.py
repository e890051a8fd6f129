"""stock table

Revision ID: 0001_stock
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_stock"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("sku", sa.String(32), primary_key=True),
        sa.Column("available", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock")
