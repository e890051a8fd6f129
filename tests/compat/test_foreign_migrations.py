"""Another project's Alembic environment, run unchanged through ``unifydb migrate``.

``tests/compat/cookbook`` is an Alembic environment written the cookbook way,
as MLflow writes its own: ``fileConfig(config.config_file_name)``, a live
connection from ``config.attributes["connection"]``, else an engine from
``sqlalchemy.url``; it imports nothing of unifydb. It is run on SQLite, the
machine's PostgreSQL and MariaDB, and the tables are checked with the servers'
own clients (``psql``, ``mariadb``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    MARIADB_HOST,
    MARIADB_PORT,
    PG_ADMIN,
    PG_HOST,
    PG_PORT,
    pg_fields,
    run_cli,
)
from tests.servers.faults import closed_port

COOKBOOK = Path(__file__).parent / "cookbook"
TABLES = {"cb_projects", "cb_runs"}


def unifydb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, timeout=300)


def settings(cwd: Path, **entries: dict[str, Any]) -> None:
    lines = []
    for name, entry in entries.items():
        lines.append(f"[datasources.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    (cwd / "settings.toml").write_text("\n".join(lines) + "\n")


def pg_tables(database: str) -> set[str]:
    result = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_ADMIN, "-d", database, "-At", "-c",
         "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return set(result.stdout.split())


def mariadb_query(database: str, sql: str) -> list[str]:
    result = subprocess.run(
        ["mariadb", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-uroot", "-N", "-B",
         "--protocol=tcp", database, "-e", sql],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout.split()


def cycle(cwd: Path, name: str, directory: Path) -> None:
    """upgrade head, downgrade base, upgrade head: each must succeed, and say so."""
    for command in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        result = unifydb(cwd, "migrate", "--directory", str(directory), "-d", name, *command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "Running" in result.stderr  # Alembic's logging is on, without an alembic.ini


# ----------------------------------------------------------------------------- the cycle, live


def test_cookbook_env_on_sqlite(tmp_path: Path) -> None:
    import sqlite3

    settings(tmp_path, lite={"type": "sqlite", "database": "app.db"})
    cycle(tmp_path, "lite", COOKBOOK)
    names = {row[0] for row in sqlite3.connect(tmp_path / "app.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
    assert names >= TABLES


@pytest.mark.live
def test_cookbook_env_on_postgres(tmp_path: Path, pg_settings: dict[str, Any]) -> None:
    settings(tmp_path, pg=pg_settings)
    cycle(tmp_path, "pg", COOKBOOK)
    assert TABLES | {"alembic_version"} <= pg_tables(pg_settings["database"])


@pytest.mark.live
def test_cookbook_env_on_mariadb(tmp_path: Path, mariadb_database: str) -> None:
    entry = {
        "type": "mariadb",
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "username": "root",
        "database": mariadb_database,
    }
    settings(tmp_path, maria=entry)
    cycle(tmp_path, "maria", COOKBOOK)
    assert set(mariadb_query(mariadb_database, "SHOW TABLES")) >= TABLES
    assert mariadb_query(mariadb_database, "SELECT version_num FROM alembic_version") == ["c003"]


# ----------------------------------------------------------------------------- half-applied runs


def with_revision(tmp_path: Path, name: str, body: str, down: str = "c003") -> Path:
    """A copy of the cookbook environment with one more revision, running ``body``."""
    directory = tmp_path / "env"
    shutil.copytree(COOKBOOK, directory)
    lines = [
        f'"""{name}"""',
        "import time",
        "import sqlalchemy as sa",
        "from alembic import op",
        f"revision = {name!r}",
        f"down_revision = {down!r}",
        "branch_labels = None",
        "depends_on = None",
        "def upgrade() -> None:",
        textwrap.indent(textwrap.dedent(body).strip(), "    "),
        "def downgrade() -> None:",
        "    pass",
    ]
    (directory / "versions" / f"{name}.py").write_text("\n".join(lines) + "\n")
    return directory


@pytest.mark.live
def test_mariadb_failure_halfway_leaves_the_version_of_the_last_completed_revision(
    tmp_path: Path, mariadb_database: str
) -> None:
    """MariaDB commits each DDL statement: with one transaction per revision, the
    version table still names every revision that completed."""
    directory = with_revision(
        tmp_path,
        "c004",
        """
        op.create_table("cb_half", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("ALTER TABLE cb_no_such_table ADD COLUMN x INT")
        """,
    )
    entry = {"type": "mariadb", "host": MARIADB_HOST, "port": MARIADB_PORT, "username": "root",
             "database": mariadb_database}  # fmt: skip
    settings(tmp_path, maria=entry)
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "maria",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 1
    assert mariadb_query(mariadb_database, "SELECT version_num FROM alembic_version") == ["c003"]
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, result.stderr
    assert "revision c004 failed" in error[0]
    assert "the version table now says c003" in error[0]
    assert "statements c004 ran before failing stay" in error[0]
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- one at a time


@pytest.mark.live
@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_two_deploys_at_once_apply_each_revision_exactly_once(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    directory = with_revision(
        tmp_path,
        "c004",
        """
        op.execute("CREATE TABLE IF NOT EXISTS cb_applied (revision VARCHAR(20))")
        op.execute("INSERT INTO cb_applied VALUES ('c004')")
        time.sleep(1.5)  # long enough that the other deploy arrives meanwhile
        """,
    )
    if kind == "postgres":
        entry = request.getfixturevalue("pg_settings")
    else:
        entry = {
            "type": "mariadb",
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "username": "root",
            "database": request.getfixturevalue("mariadb_database"),
        }
    settings(tmp_path, db=entry)
    args = ("migrate", "--directory", str(directory), "-d", "db", "upgrade", "head")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: unifydb(tmp_path, *args), range(2)))
    for result in results:
        assert result.returncode == 0, (result.stdout, result.stderr)
    database = entry["database"]
    if kind == "postgres":
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_ADMIN, dbname=database) as c:
            applied = c.execute("SELECT count(*) FROM cb_applied").fetchone()
            assert applied is not None and applied[0] == 1
            assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [("c004",)]
    else:
        assert mariadb_query(database, "SELECT count(*) FROM cb_applied") == ["1"]


# ----------------------------------------------------------------------------- many targets


def test_all_goes_past_an_unreachable_target_and_reports(tmp_path: Path) -> None:
    settings(
        tmp_path,
        lite={"type": "sqlite", "database": "app.db"},
        down={"type": "postgres", "host": "127.0.0.1", "port": closed_port(), "timeout": 3},
        later={"type": "sqlite", "database": "later.db"},
    )
    result = unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "--all", "--json",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 1
    report = {item["datasource"]: item for item in json.loads(result.stdout)}
    assert report["lite"]["status"] == "ok" and report["lite"]["after"] == "c003"
    assert report["down"]["status"] == "failed" and "down" in report["down"]["error"]
    assert report["later"]["status"] == "ok"
    fast = unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "-d", "down", "-d",
                   "later", "--fail-fast", "--json", "upgrade", "head")  # fmt: skip
    statuses = [item["status"] for item in json.loads(fast.stdout)]
    assert statuses == ["failed", "skipped"]
    table = unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "--all",
                    "upgrade", "head")  # fmt: skip
    assert table.returncode == 1
    assert "DATASOURCE" in table.stdout and "failed" in table.stdout


def test_status_reports_pending_and_unknown_revisions(tmp_path: Path) -> None:
    import sqlite3

    settings(
        tmp_path,
        fresh={"type": "sqlite", "database": "fresh.db"},
        done={"type": "sqlite", "database": "done.db"},
        odd={"type": "sqlite", "database": "odd.db"},
    )
    for name in ("done", "odd"):
        assert unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "-d", name,
                       "upgrade", "head").returncode == 0  # fmt: skip
    with sqlite3.connect(tmp_path / "odd.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'zzz999'")
    result = unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "--all", "status",
                     "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = {item["datasource"]: item for item in json.loads(result.stdout)}
    assert (found["fresh"]["state"], found["fresh"]["pending"]) == ("behind", 3)
    assert (found["done"]["state"], found["done"]["pending"]) == ("up to date", 0)
    assert found["odd"]["state"] == "unknown" and found["odd"]["current"] == "zzz999"


def test_check_finds_a_column_the_models_have_and_the_database_lacks(tmp_path: Path) -> None:
    settings(tmp_path, lite={"type": "sqlite", "database": "app.db"})
    assert unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "-d", "lite",
                   "upgrade", "head").returncode == 0  # fmt: skip
    models = textwrap.dedent(
        """
        import sqlalchemy as sa

        metadata = sa.MetaData()
        sa.Table(
            "cb_projects",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            EXTRA
        )
        runs = sa.Table(
            "cb_runs",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("project_id", sa.Integer, sa.ForeignKey("cb_projects.id"), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("notes", sa.Text, nullable=True),
        )
        sa.Index("ix_cb_runs_status", runs.c.status)
        """
    )
    extra = 'sa.Column("archived", sa.Boolean, nullable=True),'
    (tmp_path / "models.py").write_text(models.replace("EXTRA", extra))
    drifted = unifydb(tmp_path, "migrate", "-d", "lite", "check", "--metadata",
                      "models:metadata")  # fmt: skip
    assert drifted.returncode == 1, (drifted.stdout, drifted.stderr)
    assert "add_column cb_projects.archived" in drifted.stdout
    (tmp_path / "models.py").write_text(models.replace("EXTRA", ""))
    matching = unifydb(tmp_path, "migrate", "-d", "lite", "check", "--metadata",
                       "models:metadata")  # fmt: skip
    assert matching.returncode == 0, (matching.stdout, matching.stderr)
    assert "matches" in matching.stdout

    # the models named in the datasource's settings, without --metadata
    (tmp_path / "models.py").write_text(models.replace("EXTRA", extra))
    settings(tmp_path, lite={"type": "sqlite", "database": "app.db", "models": "models:metadata"})
    configured = unifydb(tmp_path, "migrate", "-d", "lite", "check")
    assert configured.returncode == 1, (configured.stdout, configured.stderr)
    assert "add_column cb_projects.archived" in configured.stdout


# ----------------------------------------------------------------------------- errors


@pytest.mark.live
def test_errors_are_one_line_and_name_the_fix(tmp_path: Path, scram_postgres: Any) -> None:
    settings(
        tmp_path,
        wrong={**pg_fields(scram_postgres, type="postgres"), "password": "not-it", "timeout": 5},
        down={"type": "postgres", "host": "127.0.0.1", "port": closed_port(), "timeout": 3},
        lite={"type": "sqlite", "database": "app.db"},
    )
    cases = [
        (["-d", "wrong", "--directory", str(COOKBOOK), "upgrade", "head"], "wrong"),
        (["-d", "down", "--directory", str(COOKBOOK), "upgrade", "head"], "down"),
        (["-d", "lite", "--directory", str(tmp_path / "nowhere"), "upgrade", "head"], "env.py"),
        (["-d", "lite", "--directory", str(COOKBOOK), "upgrade", "zzz999"], "zzz999"),
    ]
    for args, expected in cases:
        result = unifydb(tmp_path, "migrate", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "not-it" not in result.stderr + result.stdout
    debug = unifydb(tmp_path, "--debug", "migrate", *cases[3][0])
    assert "Traceback" in debug.stderr


def test_an_env_py_that_looks_for_what_unifydb_does_not_give_gets_a_hint(tmp_path: Path) -> None:
    directory = tmp_path / "env"
    shutil.copytree(COOKBOOK, directory)
    env = directory / "env.py"
    env.write_text(
        env.read_text().replace(
            '    connectable = config.attributes.get("connection", None)',
            '    connectable = config.attributes["db"]',
        )
    )
    settings(tmp_path, lite={"type": "sqlite", "database": "app.db"})
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "lite",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 1
    line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert "env.py line" in line and "KeyError" in line
    assert "config.attributes['connection']" in line  # the hint


@pytest.mark.live
def test_offline_sql_gets_a_url_of_the_right_dialect_without_password(
    tmp_path: Path, scram_postgres: Any
) -> None:
    settings(tmp_path, pg={**pg_fields(scram_postgres, type="postgres")})
    result = unifydb(tmp_path, "migrate", "--directory", str(COOKBOOK), "-d", "pg",
                     "upgrade", "head", "--sql")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE cb_projects" in result.stdout
    assert scram_postgres.password not in result.stdout + result.stderr


# ----------------------------------------------------------------------------- what migrations need


def test_sqlite_batch_alter_of_a_parent_keeps_the_rows_that_reference_it(tmp_path: Path) -> None:
    """Alembic alters a SQLite table by copying, dropping and renaming it; with the
    datasource's foreign keys enforced (its default), dropping the parent would fail
    or cascade. Migrations run without enforcement; orphans are reported after."""
    import sqlite3

    directory = with_revision(
        tmp_path,
        "c004",
        """
        with op.batch_alter_table("cb_projects", recreate="always") as batch:
            batch.add_column(sa.Column("archived", sa.Boolean, nullable=True))
        """,
    )
    settings(tmp_path, lite={"type": "sqlite", "database": "app.db"})
    first = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "lite",
                    "upgrade", "c003")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "lite: base -> c003" in first.stdout
    with sqlite3.connect(tmp_path / "app.db") as database:
        database.execute("INSERT INTO cb_projects (id, name) VALUES (1, 'p')")
        database.execute("INSERT INTO cb_runs (id, project_id, status) VALUES (1, 1, 'done')")
        database.execute("INSERT INTO cb_runs (id, project_id, status) VALUES (2, 99, 'orphan')")
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "lite",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "app.db") as database:
        assert database.execute("SELECT count(*) FROM cb_runs").fetchone() == (2,)
        columns = {row[1] for row in database.execute("PRAGMA table_info(cb_projects)")}
    assert "archived" in columns
    assert (
        "warning: lite: 1 row(s) of cb_runs reference a missing row of cb_projects" in result.stderr
    )
    assert not list(tmp_path.glob("*lock*"))  # nothing left beside the database


@pytest.mark.live
def test_mariadb_migrations_see_the_mysql_dialect_they_were_written_for(
    tmp_path: Path, mariadb_database: str
) -> None:
    """Migrations written for MySQL check dialect.name == "mysql" and use mysql_*
    options, which SQLAlchemy's MariaDB-only mode ignores (here: the index prefix
    length without which the key is too long)."""
    directory = with_revision(
        tmp_path,
        "c004",
        """
        assert op.get_bind().dialect.name == "mysql", op.get_bind().dialect.name
        op.create_table(
            "cb_long",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(3000)),
            mysql_charset="utf8mb4",
        )
        op.create_index("ix_cb_long_name", "cb_long", ["name"], mysql_length={"name": 100})
        """,
    )
    entry = {"type": "mariadb", "host": MARIADB_HOST, "port": MARIADB_PORT, "username": "root",
             "database": mariadb_database}  # fmt: skip
    settings(tmp_path, maria=entry)
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "maria",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert mariadb_query(mariadb_database, "SELECT version_num FROM alembic_version") == ["c004"]
    # the application's engine keeps MariaDB's own dialect
    settings(tmp_path, maria={**entry, "sqlalchemy_dialect": "mariadb"})
    pinned = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "maria",
                     "downgrade", "c003")  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr


@pytest.mark.live
def test_a_failed_revision_on_postgres_is_named_and_rolled_back(
    tmp_path: Path, pg_settings: dict[str, Any]
) -> None:
    directory = with_revision(
        tmp_path,
        "c004",
        """
        op.create_table("cb_half", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("ALTER TABLE cb_no_such_table ADD COLUMN x INT")
        """,
    )
    settings(tmp_path, pg=pg_settings)
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "pg",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "revision c004 failed" in error
    assert "its changes were rolled back; the version table says base (no revision)" in error
    assert pg_tables(pg_settings["database"]) == set()  # one transaction: all of it undone


def test_a_failed_revision_on_sqlite_leaves_nothing_behind(tmp_path: Path) -> None:
    """Python's sqlite3 commits DDL that comes before the first data change; the
    migration twin runs every statement of a revision inside a real transaction."""
    import sqlite3

    directory = with_revision(
        tmp_path,
        "c004",
        """
        op.create_table("cb_half", sa.Column("id", sa.Integer, primary_key=True))
        op.add_column("cb_half", sa.Column("x", sa.Integer))
        op.execute("INSERT INTO cb_no_such_table VALUES (1)")
        """,
    )
    settings(tmp_path, lite={"type": "sqlite", "database": "app.db"})
    assert unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "lite",
                   "upgrade", "c003").returncode == 0  # fmt: skip
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "lite",
                     "upgrade", "head")  # fmt: skip
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "revision c004 failed" in error
    assert "its changes were rolled back; the version table says c003" in error
    with sqlite3.connect(tmp_path / "app.db") as database:
        tables = {row[0] for row in database.execute("SELECT name FROM sqlite_master")}
    assert "cb_half" not in tables and tables >= TABLES


def test_offline_failures_speak_of_no_version_table(tmp_path: Path) -> None:
    directory = with_revision(
        tmp_path,
        "c004",
        """
        op.get_bind().execute(sa.text("SELECT 1")).close()
        """,
    )
    settings(tmp_path, pg={"type": "postgres", "host": "db.invalid", "database": "x",
                           "username": "u"})  # fmt: skip
    result = unifydb(tmp_path, "migrate", "--directory", str(directory), "-d", "pg",
                     "upgrade", "head", "--sql")  # fmt: skip
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "revision c004 failed" in error
    assert "version table" not in error
