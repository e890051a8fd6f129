"""The pytest plugin as a user's project sees it, run by pytester in a subprocess.

The projects here use SQLite (a temp file per run, so no server) unless the
test is about servers: the machine's PostgreSQL, or a closed port.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import PG_ADMIN, PG_HOST, PG_PORT, pg_admin
from tests.testing.support import pg_databases

pytest_plugins = ["pytester"]

SQLITE_SETTINGS = """
[datasources.db]
type = "sqlite"
database = "app.sqlite3"
"""

MODELS = """
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    __datasource__ = "db"

class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(50))
"""

MIGRATION = """
import sqlalchemy as sa
from alembic import op
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
def upgrade():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("text", sa.String(50)))
def downgrade():
    op.drop_table("notes")
"""


def project(pytester: pytest.Pytester, settings: str = SQLITE_SETTINGS, ini: str = "") -> None:
    pytester.makefile(".toml", settings=settings)
    pytester.makeini(
        "[pytest]\npythonpath = .\nasyncio_default_fixture_loop_scope = function\n"
        f"unifydb_settings = settings.toml\n{ini}"
    )
    pytester.makepyfile(models=MODELS)
    migrations = pytester.mkdir("migrations")
    (migrations / "env.py").write_text(
        "from models import Base\nfrom unifydb.migrations import run_migrations\n"
        "run_migrations(target_metadata=Base.metadata)\n"
    )
    (migrations / "versions").mkdir()
    (migrations / "versions" / "0001_notes.py").write_text(MIGRATION)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, unifydb.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'dynaconf', 'alembic', 'psycopg', 'pymongo', 'chromadb'}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_inert_without_fixtures_or_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")  # no settings anywhere: nothing may read them
    pytester.makepyfile(
        """
        import sys

        def test_plain():
            assert "sqlalchemy" not in sys.modules
            assert "unifydb.testing.workspace" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "unifydb throwaway" not in result.stdout.str()
    assert (
        pytester.runpytest_subprocess("--help").stdout.fnmatch_lines(
            ["*--unifydb-keep*", "*--unifydb-migrate*", "*unifydb_admin_urls*"]
        )
        is None
    )


def test_sessions_and_the_code_under_test_are_rolled_back(pytester: pytest.Pytester) -> None:
    project(pytester, ini="unifydb_datasource = db")
    pytester.makepyfile(
        service="""
        import unifydb
        from models import Note

        def add(text):
            with unifydb.session("db") as session:
                session.add(Note(text=text))
        """,
        test_notes="""
        import pytest
        from sqlalchemy import func, select
        import unifydb
        from models import Note
        from service import add

        @pytest.mark.parametrize("run", range(3))
        def test_each_test_starts_empty(db_session, run):
            assert db_session.scalar(select(func.count()).select_from(Note)) == 0
            db_session.add(Note(text="fixture"))
            db_session.flush()
            add("service")          # commits in a session of its own
            with unifydb.session("db") as other:
                assert other.scalar(select(func.count()).select_from(Note)) == 2
            db_session.commit()     # the fixture's own commit is rolled back too

        @pytest.mark.unifydb(datasources=["db"])
        def test_marker_alone(unifydb_session):
            add("marked")
            assert unifydb_session().scalar(select(func.count()).select_from(Note)) == 1

        @pytest.mark.unifydb(datasources=["db"], rollback=False)
        def test_without_rollback_commits_stay():
            add("kept")

        def test_after_it(db_session):
            texts = db_session.scalars(select(Note.text)).all()
            assert texts in ([], ["kept"])   # only what the rollback=False test committed
        """,
    )
    result = pytester.runpytest_subprocess("--unifydb-migrate", "-p", "no:randomly")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*unifydb throwaway databases*", "db (sqlite, main):*migrate*"])


def test_async_sessions_are_rolled_back(pytester: pytest.Pytester) -> None:
    project(pytester, ini="unifydb_migrate = true\nunifydb_datasource = db")
    pytester.makepyfile(
        test_async="""
        import pytest
        from sqlalchemy import func, select
        import unifydb
        from models import Note

        async def add(text):
            async with unifydb.async_session("db") as session:
                session.add(Note(text=text))

        @pytest.mark.asyncio
        @pytest.mark.parametrize("run", range(2))
        @pytest.mark.unifydb(datasources=["db"])
        async def test_async(unifydb_session, run):
            await add("one")
            await add("two")
            session = unifydb_session(asynchronous=True)
            assert await session.scalar(select(func.count()).select_from(Note)) == 2
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_declared_datasources_only(pytester: pytest.Pytester) -> None:
    project(pytester, settings=SQLITE_SETTINGS + '\n[datasources.other]\ntype = "sqlite"\n')
    pytester.makepyfile(
        """
        import pytest
        import unifydb

        @pytest.mark.unifydb(datasources=["db"])
        def test_other():
            unifydb.get_engine("other")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*datasource 'other': is not among the datasources this test*"])


@pytest.mark.parametrize(
    "case",
    [
        ("--unifydb-unreachable=skip", "", "skipped"),
        ("--unifydb-unreachable=fail", "", "errors"),
        ("-q", "true", "errors"),  # the default when CI is set
        ("-q", "", "skipped"),  # the default elsewhere
    ],
)
def test_unreachable_servers_skip_or_fail(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    case: tuple[str, str, str],
) -> None:
    option, ci, outcome = case
    monkeypatch.setenv("CI", ci)
    project(
        pytester,
        settings=SQLITE_SETTINGS
        + f'\n[datasources.gone]\ntype = "postgres"\nhost = "127.0.0.1"\nport = {closed_port}\n'
        "timeout = 2\n",
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.unifydb(datasources=["db", "gone"])
        def test_needs_it():
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest_subprocess(option, "-rsf")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines(["*unifydb: datasource 'gone' is unreachable*"])


def test_keep_leaves_the_twins_and_prints_where(pytester: pytest.Pytester) -> None:
    settings = (
        f'[datasources.db]\ntype = "postgres"\nhost = "{PG_HOST}"\nport = {PG_PORT}\n'
        f'username = "{PG_ADMIN}"\ndatabase = "kept_app"\n'
    )
    project(pytester, settings=settings)
    pytester.makepyfile(
        """
        import unifydb

        def test_it(unifydb_registry):
            with unifydb.get_engine("db").connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        """
    )
    before = pg_databases()
    result = pytester.runpytest_subprocess("--unifydb-keep")
    result.assert_outcomes(passed=1)
    kept = sorted(pg_databases() - before)
    try:
        assert len(kept) == 1 and kept[0].endswith("_main_kept_app")
        result.stdout.fnmatch_lines([f"db (postgres, main):*kept: database {kept[0]} on *"])
    finally:
        with pg_admin() as admin:
            for name in kept:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_a_failing_migration_names_the_datasource(pytester: pytest.Pytester) -> None:
    project(pytester, ini="unifydb_migrate = true")
    (pytester.path / "migrations" / "versions" / "0001_notes.py").write_text(
        MIGRATION.replace('op.create_table("notes"', 'op.execute("NOT SQL"); op.create_table("n"')
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.unifydb(datasources=["db"])
        def test_it():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*datasource 'db': migrating its test database failed: *revision 0001 failed*"]
    )
