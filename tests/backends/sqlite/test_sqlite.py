"""The sqlite type: ``:memory:`` on one shared connection, and the pragmas.

Tests shared with the other SQL types are in tests/backends/test_relational.py.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.helpers import (
    build,
)


def test_sqlite_memory_uses_one_shared_connection() -> None:
    from sqlalchemy.pool import StaticPool

    datasource = build("sqlite", database=":memory:")
    datasource.initialize()
    engine = datasource.get_engine()
    assert isinstance(engine.pool, StaticPool)
    with engine.begin() as connection:
        connection.execute(text("create table t (x int)"))
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from t")).scalar() == 0


def test_sqlite_pragmas(tmp_path: Path) -> None:

    datasource = build("sqlite", database=str(tmp_path / "sub" / "wal.db"), journal_mode="wal")
    datasource.initialize()
    with datasource.get_engine().connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar() == "wal"
        assert connection.execute(text("pragma foreign_keys")).scalar() == 1
    off = build("sqlite", foreign_keys=False)
    off.initialize()
    with off.get_engine().connect() as connection:
        assert connection.execute(text("pragma foreign_keys")).scalar() == 0
