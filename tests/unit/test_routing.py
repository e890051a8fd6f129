"""Read routing decisions that need no server: which statements count as
writes, the per-thread and per-task record of recent writes, the replica keys'
validation, the degraded status. The routing itself is proven on real
clusters in tests/clusters/."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import registry_for
from unifydb.base.routing import is_write, note_write, wrote_within
from unifydb.errors import ConfigurationError
from unifydb.status import HealthStatus, NodeStatus


@pytest.mark.parametrize(
    ("statement", "writes"),
    [
        ("SELECT 1", False),
        ("  (select a from t) union (select b from u)", False),
        ("show server_version", False),
        ("EXPLAIN SELECT 1", False),
        ("SET search_path = app", False),
        ("INSERT INTO t VALUES (1)", True),
        ("update t set a = 1", True),
        ("DELETE FROM t", True),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", True),
        ("CREATE TABLE t (a int)", True),
        ("CALL refresh()", True),
        ("", True),
    ],
)
def test_statements_that_count_as_writes(statement: str, writes: bool) -> None:
    assert is_write(statement, None) is writes


def test_compiled_statements_are_judged_by_their_kind(tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, event, insert, select

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    table = Table("t", MetaData(), Column("a", Integer))
    table.metadata.create_all(engine)
    seen: list[bool] = []
    event.listen(
        engine,
        "after_cursor_execute",
        lambda conn, cursor, statement, params, context, many: seen.append(
            is_write(statement, context)
        ),
    )
    with engine.begin() as connection:
        connection.execute(insert(table), {"a": 1})
        connection.execute(select(table))
        connection.execute(text("select a from t"))
        connection.execute(text("delete from t"))
    assert seen == [True, False, False, True]


def test_recent_writes_are_per_thread_and_per_task() -> None:
    note_write(1)
    assert wrote_within(1, 5.0)
    assert not wrote_within(2, 5.0)
    assert not wrote_within(1, 0.0)
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(wrote_within(1, 5.0)))
    thread.start()
    thread.join()
    assert other == [False]

    async def main() -> tuple[bool, bool]:
        async def writer() -> None:
            note_write(3)

        await asyncio.create_task(writer())
        return wrote_within(3, 5.0), await asyncio.create_task(_wrote(3))

    assert asyncio.run(main()) == (False, False)


async def _wrote(token: int) -> bool:
    return wrote_within(token, 5.0)


def test_without_replicas_reads_stay_on_the_primary(tmp_path: Path) -> None:
    registry = registry_for(lite={"type": "sqlite", "database": str(tmp_path / "a.db")})
    datasource = registry.get_datasource("lite")
    assert datasource.replica() is datasource
    assert registry.get_replica_engine("lite") is registry.get_engine("lite")
    assert datasource.health_check().nodes == ()
    registry.close_all()


def test_max_replica_lag_needs_a_type_that_can_measure_it(tmp_path: Path) -> None:
    registry = registry_for(
        lite={
            "type": "sqlite",
            "database": str(tmp_path / "a.db"),
            "replicas": [f"sqlite:///{tmp_path / 'b.db'}"],
            "max_replica_lag": 2,
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("lite")
    assert caught.value.key == "max_replica_lag"
    assert caught.value.datasource == "lite"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("replica_selection", "fastest"),
        ("max_replica_lag", 0),
        ("primary_reads_after_write", -1),
        ("replica_check_interval", 0),
    ],
)
def test_bad_replica_settings_name_the_key(key: str, value: object) -> None:
    registry = registry_for(
        pg={"type": "postgres", "host": "h", "replicas": ["postgresql://r/db"], key: value}
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("pg")
    assert caught.value.key == key


def test_degraded_is_neither_ok_nor_failed_and_survives_json() -> None:
    status = HealthStatus(
        name="c",
        type="cassandra",
        status="degraded",
        detail="nodes down: 10.0.0.2",
        nodes=(
            NodeStatus("10.0.0.1", "up", "dc1/r1", "4.1.5"),
            NodeStatus("10.0.0.2", "down", "dc1/r1", "4.1.5"),
        ),
    )
    assert not status.ok
    assert not status.failed
    assert status.raise_for_status() is status
    assert HealthStatus.from_dict(status.as_dict()) == status
