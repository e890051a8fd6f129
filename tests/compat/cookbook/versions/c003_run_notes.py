"""a notes column on runs"""

import sqlalchemy as sa
from alembic import op

revision = "c003"
down_revision = "c002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cb_runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cb_runs") as batch:
        batch.drop_column("notes")
