"""audit entries

Revision ID: 0001_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_entries")
