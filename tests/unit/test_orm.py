"""ORM sessions: commit/rollback, routing models to datasources, read replicas, asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import unifydb
from tests.helpers import MARIADB_ADMIN, MARIADB_HOST, MARIADB_PORT, registry_for
from unifydb.errors import ConfigurationError, UnknownDatasourceError
from unifydb.orm import ReadOnlySessionError


class LocalBase(DeclarativeBase):
    __datasource__ = "local"


class Remote(DeclarativeBase):
    __datasource__ = "remote"


class Plain(DeclarativeBase):
    """Declares nothing: goes to the session's own datasource."""


class Note(LocalBase):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


class Event(Remote):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))


class Item(Plain):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


def sqlite_file(tmp_path: Path, name: str = "app.db") -> dict[str, Any]:
    return {"type": "sqlite", "database": str(tmp_path / name)}


def count_rows(url: str, table: str) -> int:
    """From a second, independent engine: what another client would see."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"select count(*) from {table}")).scalar_one())
    finally:
        engine.dispose()


def test_session_commits_on_success(tmp_path: Path) -> None:
    registry = registry_for(main=sqlite_file(tmp_path))
    Plain.metadata.create_all(registry.get_engine("main"))
    with registry.session("main") as session:
        session.add(Item(name="kept"))
    assert count_rows(f"sqlite:///{tmp_path / 'app.db'}", "items") == 1
    registry.close_all()


@pytest.mark.live
def test_rollback_on_exception_leaves_no_row(tmp_path: Path, pg_settings: dict[str, Any]) -> None:
    registry = registry_for(main=sqlite_file(tmp_path), pg=pg_settings)
    for name in ("main", "pg"):
        Plain.metadata.create_all(registry.get_engine(name))
        with pytest.raises(RuntimeError), registry.session(name) as session:
            session.add(Item(name="doomed"))
            session.flush()  # the row reached the server inside the transaction
            raise RuntimeError("boom")
    assert count_rows(f"sqlite:///{tmp_path / 'app.db'}", "items") == 0
    pg_url = registry.get_engine("pg").url.render_as_string(hide_password=False)
    assert count_rows(pg_url, "items") == 0
    registry.close_all()


@pytest.mark.live
def test_one_session_routes_models_to_two_datasources(
    tmp_path: Path, pg_settings: dict[str, Any]
) -> None:
    registry = registry_for(local=sqlite_file(tmp_path), remote=pg_settings)
    LocalBase.metadata.create_all(registry.get_engine("local"))
    Remote.metadata.create_all(registry.get_engine("remote"))
    with registry.session() as session:
        session.add_all([Note(text="in sqlite"), Event(kind="in postgres")])
    with registry.session() as session:
        assert session.scalars(select(Note.text)).all() == ["in sqlite"]
        assert session.scalars(select(Event.kind)).all() == ["in postgres"]
    pg_url = registry.get_engine("remote").url.render_as_string(hide_password=False)
    assert count_rows(pg_url, "events") == 1
    assert count_rows(f"sqlite:///{tmp_path / 'app.db'}", "notes") == 1
    registry.close_all()


def test_table_info_routes_too(tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    table = Table(
        "audit", MetaData(), Column("id", Integer, primary_key=True), info={"datasource": "aux"}
    )
    registry = registry_for(aux=sqlite_file(tmp_path, "aux.db"), main=sqlite_file(tmp_path))
    table.metadata.create_all(registry.get_engine("aux"))
    with registry.session("main") as session:
        session.execute(insert(table).values(id=7))
    assert count_rows(f"sqlite:///{tmp_path / 'aux.db'}", "audit") == 1
    registry.close_all()


def test_routing_errors_are_clear(tmp_path: Path) -> None:
    registry = registry_for(local=sqlite_file(tmp_path))
    with pytest.raises(UnknownDatasourceError):
        registry.session("nope").__enter__()
    with pytest.raises(ConfigurationError) as no_datasource, registry.session() as session:
        session.execute(select(Item))
    assert "declares no datasource" in str(no_datasource.value)
    with pytest.raises(UnknownDatasourceError) as unknown, registry.session() as session:
        session.execute(select(Event))  # Remote models want "remote", not configured here
    assert unknown.value.datasource == "remote"
    registry.close_all()


def test_sessionmaker_for_frameworks(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        f'[datasources.main]\ntype = "sqlite"\ndatabase = "{tmp_path / "f.db"}"\n'
    )
    factory = unifydb.sessionmaker("main")
    Plain.metadata.create_all(unifydb.get_engine("main"))
    with factory() as session:
        session.add(Item(name="x"))
        session.commit()
    with unifydb.session("main") as session:
        assert session.scalar(select(Item.name)) == "x"


@pytest.mark.live
def test_readonly_sessions_read_from_a_replica(
    pg_settings: dict[str, Any], pg_database: str
) -> None:
    """The 'replica' is a second database, so where a read went is visible."""
    from psycopg import sql

    from tests.helpers import pg_admin

    replica_db = pg_database + "_r"
    with pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(replica_db)))
    try:
        registry = registry_for(pg={**pg_settings, "replicas": [{"database": replica_db}]})
        Plain.metadata.create_all(registry.get_engine("pg"))
        Plain.metadata.create_all(registry.get_replica_engine("pg"))
        with registry.session("pg") as session:
            session.add(Item(name="primary only"))
        with registry.session("pg", readonly=True) as session:
            database = session.execute(text("select current_database()")).scalar()
            assert database == replica_db
            assert session.scalars(select(Item)).all() == []  # not replicated: it's another db
            session.add(Item(name="nope"))
            with pytest.raises(ReadOnlySessionError):
                session.flush()
        with registry.session("pg") as session:
            assert session.scalars(select(Item.name)).all() == ["primary only"]
        registry.close_all()
    finally:
        with pg_admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(replica_db)
                )
            )


def test_replica_given_as_url_and_none_falls_back_to_primary(tmp_path: Path) -> None:
    registry = registry_for(
        lite={**sqlite_file(tmp_path), "replicas": [f"sqlite:///{tmp_path / 'r.db'}"]},
        solo=sqlite_file(tmp_path, "solo.db"),
    )
    assert registry.get_replica_engine("lite").url.database == str(tmp_path / "r.db")
    assert registry.get_replica_engine("solo") is registry.get_engine("solo")
    registry.close_all()


async def _async_round_trip(registry: unifydb.Registry, name: str) -> list[str]:
    engine = registry.get_async_engine(name)
    async with engine.begin() as connection:
        await connection.run_sync(Plain.metadata.create_all)
    async with registry.async_session(name) as session:
        session.add_all([Item(name="a1"), Item(name="a2")])
    with pytest.raises(RuntimeError):
        async with registry.async_session(name) as session:
            session.add(Item(name="rolled back"))
            await session.flush()
            raise RuntimeError("boom")
    async with registry.async_session(name) as session:
        names = list((await session.scalars(select(Item.name).order_by(Item.name))).all())
    async with engine.begin() as connection:
        await connection.run_sync(Plain.metadata.drop_all)
    await engine.dispose()
    return names


@pytest.mark.live
@pytest.mark.parametrize("backend", ["postgres", "mariadb", "mysql", "sqlite"])
def test_async_session_round_trip(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        settings = request.getfixturevalue("pg_settings")
    elif backend == "sqlite":
        settings = sqlite_file(tmp_path)
    else:
        settings = {
            "type": backend,
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "database": request.getfixturevalue("mariadb_database"),
            "username": MARIADB_ADMIN,
        }
    registry = registry_for(db=settings)
    assert asyncio.run(_async_round_trip(registry, "db")) == ["a1", "a2"]
    registry.close_all()


def test_async_session_routes_models(tmp_path: Path) -> None:
    registry = registry_for(local=sqlite_file(tmp_path))

    async def scenario() -> list[str]:
        async with registry.get_async_engine("local").begin() as connection:
            await connection.run_sync(LocalBase.metadata.create_all)
        async with registry.async_session() as session:
            session.add(Note(text="async routed"))
        async with registry.async_session() as session:
            return list((await session.scalars(select(Note.text))).all())

    assert asyncio.run(scenario()) == ["async routed"]
    registry.close_all()
