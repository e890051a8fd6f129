"""The example Alembic migrations: live on every SQL backend that runs here, offline for others."""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    FetchedValue,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    inspect,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tests.helpers import (
    MARIADB_ADMIN,
    MARIADB_HOST,
    MARIADB_PORT,
    REPO,
    pg_fields,
    registry_for,
    run_cli,
    run_command,
)
from unifydb.migrations import migrate


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=FetchedValue()
    )
    loyalty_tier: Mapped[str | None] = mapped_column(String(20))
    orders: Mapped[list[Order]] = relationship(back_populates="customer", cascade="all")


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    customer: Mapped[Customer] = relationship(back_populates="orders")


def project(tmp_path: Path) -> Path:
    """A working copy of the example migrations, as an application would have them."""
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    shutil.copy(REPO / "alembic.ini", tmp_path / "alembic.ini")
    return tmp_path


def table_names(registry: Any, name: str) -> set[str]:
    return set(inspect(registry.get_engine(name)).get_table_names())


def orm_round_trip(registry: Any, name: str) -> None:
    placed = dt.datetime(2026, 11, 27, 15, 30, 0, tzinfo=dt.timezone.utc)
    with registry.session(name) as session:
        customer = Customer(email="ada@example.com", name="Ada Lovelace — Ω", is_active=True)
        customer.orders.append(
            Order(
                total=Decimal("1234.50"),
                status="paid",
                notes="n" * 3000,
                attributes={"gift": True, "tags": ["a", "b"], "count": 3},
                placed_at=placed,
            )
        )
        session.add(customer)
    with registry.session(name) as session:
        order = session.scalars(select(Order)).one()
        assert order.total == Decimal("1234.50")
        assert order.status == "paid"
        assert order.notes == "n" * 3000
        assert order.attributes == {"gift": True, "tags": ["a", "b"], "count": 3}
        stored = order.placed_at
        if stored.tzinfo is None:  # MySQL/MariaDB/SQLite DATETIME keep no zone
            stored = stored.replace(tzinfo=dt.timezone.utc)
        assert stored == placed
        assert order.customer.is_active is True
        assert order.customer.name == "Ada Lovelace — Ω"
        assert order.customer.created_at is not None  # the server default filled it
        assert order.customer.loyalty_tier is None
        session.delete(order.customer)  # ON DELETE CASCADE / ORM cascade


def up_down_up(registry: Any, name: str, directory: Path) -> None:
    def run(*args: str) -> None:
        migrate([name], args, directory=directory, registry=registry, echo=lambda *_: None)

    run("upgrade", "head")
    assert {"customers", "orders", "alembic_version"} <= table_names(registry, name)
    columns = {
        column["name"] for column in inspect(registry.get_engine(name)).get_columns("customers")
    }
    assert "loyalty_tier" in columns
    run("downgrade", "base")
    assert table_names(registry, name) <= {"alembic_version"}
    run("upgrade", "head")
    orm_round_trip(registry, name)
    run("downgrade", "base")


def test_sqlite_up_down_up(tmp_path: Path) -> None:
    directory = project(tmp_path) / "migrations"
    registry = registry_for(lite={"type": "sqlite", "database": str(tmp_path / "app.db")})
    up_down_up(registry, "lite", directory)
    registry.close_all()


@pytest.mark.live
def test_postgres_up_down_up(tmp_path: Path, pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg=pg_settings)
    up_down_up(registry, "pg", project(tmp_path) / "migrations")
    registry.close_all()


@pytest.mark.live
@pytest.mark.parametrize("type_name", ["mysql", "mariadb"])
def test_mariadb_up_down_up(type_name: str, tmp_path: Path, mariadb_database: str) -> None:
    registry = registry_for(
        db={
            "type": type_name,
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "database": mariadb_database,
            "username": MARIADB_ADMIN,
        }
    )
    up_down_up(registry, "db", project(tmp_path) / "migrations")
    registry.close_all()


@pytest.mark.live
def test_supabase_over_tls_up_down_up(tmp_path: Path, tls_server: Any) -> None:
    registry = registry_for(sb={"type": "supabase", **pg_fields(tls_server)})
    up_down_up(registry, "sb", project(tmp_path) / "migrations")
    registry.close_all()


# ----------------------------------------------------------------------------- the commands


# migrations may take a while on a loaded machine: five minutes, not two
command = functools.partial(run_command, timeout=300)
unifydb_cli = functools.partial(run_cli, timeout=300)


@pytest.mark.live
def test_unifydb_migrate_and_plain_alembic_with_a_percent_password(
    tmp_path: Path, scram_postgres: Any
) -> None:
    """A password with % goes nowhere near configparser: both commands work."""
    cwd = project(tmp_path)
    (cwd / "settings.toml").write_text(
        f'[datasources.pg]\ntype = "postgres"\nhost = "{scram_postgres.host}"\n'
        f"port = {scram_postgres.port}\n"
        f'database = "{scram_postgres.database}"\nusername = "{scram_postgres.user}"\n'
        'password = "${PG_PASSWORD}"\n'
        f'[datasources.lite]\ntype = "sqlite"\ndatabase = "{tmp_path / "lite.db"}"\n'
    )
    env = {"PG_PASSWORD": scram_postgres.password}
    assert "%" in scram_postgres.password
    upgrade = unifydb_cli("migrate", "--datasource", "pg", "upgrade", "head", cwd=cwd, env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    current = unifydb_cli("migrate", "--all", "current", cwd=cwd, env=env)
    assert current.returncode == 0, current.stderr
    assert "== pg" in current.stdout and "== lite" in current.stdout
    assert "0002 (head)" in current.stdout
    alembic = str(Path(sys.executable).parent / "alembic")
    down = command(alembic, "-x", "datasource=pg", "downgrade", "base", cwd=cwd, env=env)
    assert down.returncode == 0, down.stderr
    all_down = unifydb_cli("migrate", "--all", "downgrade", "base", cwd=cwd, env=env)
    assert all_down.returncode == 0, all_down.stderr
    for result in (upgrade, current, down, all_down):
        assert scram_postgres.password not in result.stdout + result.stderr


def test_migrate_errors(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[datasources.lite]\ntype = "sqlite"\n')
    no_env = unifydb_cli("migrate", "--datasource", "lite", "upgrade", "head", cwd=tmp_path)
    assert no_env.returncode == 1
    assert "env.py not found" in no_env.stderr
    unknown = unifydb_cli(
        "migrate", "--datasource", "nope", "upgrade", "head", cwd=project(tmp_path)
    )
    assert unknown.returncode == 1
    assert "no datasource named 'nope'" in unknown.stderr
    nothing = unifydb_cli("migrate", "upgrade", "head", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "--datasource" in nothing.stderr


# ----------------------------------------------------------------------------- offline SQL


def offline_sql(tmp_path: Path, name: str, *extra: str) -> str:
    """`unifydb migrate ... --sql` with the shipped settings and no variables set."""
    cwd = project(tmp_path)
    shutil.copy(REPO / "settings.toml", cwd / "settings.toml")
    result = unifydb_cli(
        "migrate", "--datasource", name, *extra, "upgrade", "head", "--sql", cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_runnable_script(sql: str) -> None:
    """No bind parameters and no RETURNING ... INTO: a DBA can run it as it is."""
    assert "RETURNING" not in sql.upper()
    assert re.search(r":[A-Za-z_]\w*", sql) is None, re.search(r".{40}:[A-Za-z_]\w*.{10}", sql)
    assert "%(" not in sql


def test_oracle_offline_ddl(tmp_path: Path) -> None:
    sql = offline_sql(tmp_path, "oracle")
    assert_runnable_script(sql)
    assert "id INTEGER GENERATED BY DEFAULT AS IDENTITY" in sql
    assert "email VARCHAR2(255 CHAR) NOT NULL" in sql
    assert "created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL" in sql
    assert "notes NCLOB" in sql or "notes CLOB" in sql
    assert "is_active BOOLEAN NOT NULL" in sql  # Oracle 23ai's native boolean by default
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert sql.count("\n/\n") >= 6  # statements separated for SQL*Plus
    older = offline_sql(tmp_path / "19", "oracle", "-x", "server_version=19")
    assert_runnable_script(older)
    assert "is_active SMALLINT NOT NULL" in older
    assert "CONSTRAINT ck_customers_is_active CHECK (is_active IN (0, 1))" in older
    assert "attributes BLOB" in older  # no JSON type before 21c


def test_sqlserver_offline_ddl(tmp_path: Path) -> None:
    sql = offline_sql(tmp_path, "sqlserver")
    assert_runnable_script(sql)
    assert "id INTEGER NOT NULL IDENTITY" in sql
    assert "name NVARCHAR(100) NOT NULL" in sql
    assert "is_active BIT NOT NULL" in sql
    assert "created_at DATETIMEOFFSET NOT NULL DEFAULT CURRENT_TIMESTAMP" in sql
    assert "attributes NVARCHAR(max) NULL" in sql
    assert "\nGO\n" in sql
    assert sql.strip().endswith("COMMIT;\n\nGO")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("postgres", "created_at TIMESTAMP WITH TIME ZONE"),
        ("mysql", "id INTEGER NOT NULL AUTO_INCREMENT"),
        ("mariadb", "attributes JSON"),
        ("supabase", "is_active BOOLEAN NOT NULL"),
    ],
)
def test_other_dialects_offline(tmp_path: Path, name: str, fragment: str) -> None:
    sql = offline_sql(tmp_path, name)
    assert_runnable_script(sql)
    assert fragment in sql
