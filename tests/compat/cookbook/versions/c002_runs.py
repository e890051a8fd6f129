"""runs, with an index"""

import sqlalchemy as sa
from alembic import op

revision = "c002"
down_revision = "c001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cb_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("cb_projects.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_cb_runs_status", "cb_runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_cb_runs_status", table_name="cb_runs")
    op.drop_table("cb_runs")
