"""Helpers of the pytest plugin's tests: the servers listed directly (so
leftovers are seen where they would be), and small builders."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import PG_ADMIN, PG_HOST, PG_PORT, mariadb_admin, pg_admin
from unifydb.testing.workspace import TwinRegistry

PG = {"type": "postgres", "host": PG_HOST, "port": PG_PORT, "username": PG_ADMIN}
MARIADB = {"type": "mariadb", "host": "127.0.0.1", "port": 3306, "username": "root"}


def pg_databases() -> set[str]:
    with pg_admin() as admin:
        rows = admin.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows}


def mariadb_databases() -> set[str]:
    admin = mariadb_admin()
    try:
        cursor = admin.cursor()
        cursor.execute("SHOW DATABASES")
        return {row[0] for row in cursor.fetchall()}
    finally:
        admin.close()


def finished(registry: TwinRegistry) -> list[str]:
    """Finish ``registry``; the warnings it gave."""
    warnings: list[str] = []
    registry.finish(warnings.append)
    return warnings


def write_migrations(folder: Path, table: str) -> Path:
    """An Alembic folder whose one revision creates ``table``."""
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(
        "from unifydb.migrations import run_migrations\nrun_migrations()\n"
    )
    (folder / "versions" / "0001.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        "revision = '0001'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n"
        f"    op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True))\n"
        "def downgrade():\n"
        f"    op.drop_table({table!r})\n"
    )
    return folder
