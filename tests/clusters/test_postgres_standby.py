"""Read replicas on a real PostgreSQL primary with a streaming hot standby.

Where a statement ran is asked of the server itself: ``pg_is_in_recovery()``
is true on the standby only. The cluster (``tests/servers/pg_replication.py``)
is started once per session; the tests that pause replay or kill the standby
leave it replaying and running again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.clusters.workload import Loop, all_failures
from tests.figures import measure, record
from tests.helpers import NASTY_PASSWORD, pg_fields, registry_for, run_cli, wait_until
from tests.servers import free_port

pytestmark = pytest.mark.live

IN_RECOVERY = select(func.pg_is_in_recovery())


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "cluster_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


def settings(cluster: Any, **extra: Any) -> dict[str, Any]:
    """The primary, with the standby as its one replica."""
    return {
        "type": "postgres",
        **pg_fields(cluster.primary),
        "timeout": 3,
        "replicas": [{"port": cluster.standby.port}],
        "replica_check_interval": 0.1,
        **extra,
    }


def since(moment: float) -> float:
    return time.monotonic() - moment


def on_standby(connectable: Any) -> bool:
    with connectable.connect() as connection:
        return bool(connection.execute(IN_RECOVERY).scalar_one())


@pytest.fixture(scope="module")
def items(pg_cluster: Any) -> Iterator[None]:
    registry = registry_for(pg=settings(pg_cluster, replicas=[]))
    Base.metadata.create_all(registry.get_engine("pg"))
    pg_cluster.wait_for_replay()
    yield
    Base.metadata.drop_all(registry.get_engine("pg"))
    registry.close_all()


@pytest.fixture
def admin(pg_cluster: Any) -> Iterator[tuple[Any, Any]]:
    """Superuser connections to (primary, standby), autocommit."""
    with (
        psycopg.connect(pg_cluster.primary.admin_dsn(), autocommit=True) as primary,
        psycopg.connect(pg_cluster.standby.admin_dsn(), autocommit=True) as standby,
    ):
        yield primary, standby


# ----------------------------------------------------------------------------- routing


def test_readonly_sessions_and_replica_engines_read_from_the_standby(
    pg_cluster: Any, items: None
) -> None:
    registry = registry_for(pg=settings(pg_cluster))
    try:
        assert on_standby(registry.get_replica_engine("pg"))
        assert not on_standby(registry.get_engine("pg"))
        with registry.session("pg", readonly=True) as session:
            assert session.execute(IN_RECOVERY).scalar_one() is True
            assert session.scalars(select(Item)).all() is not None
        with registry.session("pg") as session:  # an ordinary session: the primary
            assert session.execute(IN_RECOVERY).scalar_one() is False
            session.add(Item(n=1))
    finally:
        registry.close_all()


def test_a_routed_session_reads_from_the_standby_until_it_writes(
    pg_cluster: Any, items: None
) -> None:
    registry = registry_for(pg=settings(pg_cluster, route_reads=True))
    try:
        with registry.session("pg") as session:
            assert session.execute(IN_RECOVERY).scalar_one() is True
            item = Item(n=42)
            session.add(item)
            session.flush()
            # its own write is not on the standby yet (nor committed): it reads the primary
            assert session.execute(IN_RECOVERY).scalar_one() is False
            assert session.get(Item, item.id) is item
            assert session.scalar(select(Item.n).where(Item.id == item.id)) == 42
        with registry.session("pg") as session:
            locked = session.execute(
                select(Item.id, func.pg_is_in_recovery()).limit(1).with_for_update()
            ).one()
            assert locked[1] is False  # FOR UPDATE: the primary
        with registry.session("pg", route_reads=False) as session:
            assert session.execute(IN_RECOVERY).scalar_one() is False
        with registry.session("pg", readonly=True) as session:
            locked = session.execute(
                select(Item.id, func.pg_is_in_recovery()).limit(1).with_for_update()
            ).one()
            assert locked[1] is False  # a readonly session too: the standby would refuse
    finally:
        registry.close_all()


def test_reads_after_a_write_stay_on_the_primary_in_that_thread_only(
    pg_cluster: Any, items: None
) -> None:
    registry = registry_for(pg=settings(pg_cluster, primary_reads_after_write=1.0))
    try:
        assert on_standby(registry.get_replica_engine("pg"))
        with registry.get_engine("pg").begin() as connection:
            connection.execute(insert(Item.__table__), {"n": 7})
        assert not on_standby(registry.get_replica_engine("pg"))
        with registry.session("pg", readonly=True) as session:
            assert session.execute(IN_RECOVERY).scalar_one() is False
        elsewhere: list[bool] = []
        other = threading.Thread(
            target=lambda: elsewhere.append(on_standby(registry.get_replica_engine("pg")))
        )
        other.start()
        other.join()
        assert elsewhere == [True]  # another thread did not write
        with registry.get_engine("pg").connect() as connection:
            connection.execute(select(Item.n)).all()  # a read on the primary is no write
        time.sleep(1.05)
        assert on_standby(registry.get_replica_engine("pg"))
    finally:
        registry.close_all()


def test_reads_after_a_write_stay_on_the_primary_in_that_task_only(
    pg_cluster: Any, items: None
) -> None:
    registry = registry_for(pg=settings(pg_cluster, primary_reads_after_write=5.0))

    async def in_recovery() -> bool:
        async with registry.get_replica_async_engine("pg").connect() as connection:
            return bool((await connection.execute(IN_RECOVERY)).scalar_one())

    async def writer() -> bool:
        async with registry.get_async_engine("pg").begin() as connection:
            await connection.execute(insert(Item.__table__), {"n": 8})
        return await in_recovery()

    async def main() -> tuple[bool, bool, bool]:
        wrote = await asyncio.create_task(writer())
        other = await asyncio.create_task(in_recovery())
        async with registry.async_session("pg", readonly=True) as session:
            readonly = bool((await session.execute(IN_RECOVERY)).scalar_one())
        return wrote, other, readonly

    try:
        wrote, other, readonly = asyncio.run(main())
        assert wrote is False  # the task that wrote reads from the primary
        assert other is True  # a task that did not write reads from the standby
        assert readonly is True
    finally:
        registry.close_all()


# ----------------------------------------------------------------------------- lag


def states(datasource: Any) -> object:
    """What the replica checks saw, for a failure's message."""
    return datasource._router.states()


def test_a_standby_behind_max_replica_lag_is_skipped(
    pg_cluster: Any, items: None, admin: tuple[Any, Any]
) -> None:
    _, standby_admin = admin
    registry = registry_for(pg=settings(pg_cluster, max_replica_lag=0.5))
    datasource = registry.get_datasource("pg")
    replica_engine = datasource.replicas()[0].get_engine()

    try:
        assert wait_until(lambda: registry.get_replica_engine("pg") is replica_engine), states(
            datasource
        )
        standby_admin.execute("SELECT pg_wal_replay_pause()")
        try:
            paused_at = time.monotonic()
            with registry.get_engine("pg").begin() as connection:
                written = connection.execute(
                    insert(Item.__table__).returning(Item.id), {"n": 99}
                ).scalar_one()
            assert wait_until(lambda: registry.get_replica_engine("pg") is not replica_engine), (
                states(datasource)
            )
            measure(
                "postgres: seconds until a paused standby was skipped", time.monotonic() - paused_at
            )
            with registry.session("pg", readonly=True) as session:
                assert session.execute(IN_RECOVERY).scalar_one() is False
                assert session.get(Item, written) is not None  # the write is seen
            # a connection already pooled to the standby is swapped at checkout too
            with replica_engine.connect() as connection:
                assert connection.execute(IN_RECOVERY).scalar_one() is False
            status = datasource.health_check()
            assert status.status == "degraded", status
            assert "max_replica_lag" in status.nodes[1].detail, status.nodes
        finally:
            standby_admin.execute("SELECT pg_wal_replay_resume()")
        resumed_at = time.monotonic()
        assert wait_until(lambda: registry.get_replica_engine("pg") is replica_engine), states(
            datasource
        )
        measure(
            "postgres: seconds until a resumed standby was read again",
            time.monotonic() - resumed_at,
        )
        with registry.session("pg", readonly=True) as session:
            assert session.execute(IN_RECOVERY).scalar_one() is True
            assert session.get(Item, written) is not None
        record("faults injected (replay paused on a standby)")
    finally:
        registry.close_all()


def test_a_standby_that_has_not_received_a_write_is_behind(
    pg_cluster: Any, items: None, admin: tuple[Any, Any]
) -> None:
    """A standby that has replayed all it received is current only if it has
    received all the primary wrote: with its WAL stream cut (replication
    connections refused in pg_hba.conf, the walsender terminated), a write on
    the primary takes reads off the standby until the standby has it. (Judged
    by the standby alone, it looked current: it failed so before the primary's
    position was read.)"""
    primary_admin, _ = admin
    registry = registry_for(pg=settings(pg_cluster, max_replica_lag=0.5))
    datasource = registry.get_datasource("pg")
    replica_engine = datasource.replicas()[0].get_engine()

    hba = Path(primary_admin.execute("SHOW hba_file").fetchone()[0])
    rules = hba.read_text()
    hba.write_text("local replication all reject\nhost replication all all reject\n" + rules)
    primary_admin.execute("SELECT pg_reload_conf()")
    try:
        assert wait_until(lambda: registry.get_replica_engine("pg") is replica_engine), states(
            datasource
        )
        primary_admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
        time.sleep(1.0)  # what the standby replayed last is older than max_replica_lag
        with registry.get_engine("pg").begin() as connection:
            written = connection.execute(
                insert(Item.__table__).returning(Item.id), {"n": 98}
            ).scalar_one()
        assert wait_until(
            lambda: registry.get_replica_engine("pg") is not replica_engine, timeout=5
        ), states(datasource)
        with registry.session("pg", readonly=True) as session:
            assert session.get(Item, written) is not None
    finally:
        hba.write_text(rules)
        primary_admin.execute("SELECT pg_reload_conf()")
    try:
        assert wait_until(lambda: registry.get_replica_engine("pg") is replica_engine, 30), states(
            datasource
        )
        with registry.session("pg", readonly=True) as session:
            assert session.execute(IN_RECOVERY).scalar_one() is True
            assert session.get(Item, written) is not None
        record("faults injected (WAL stream cut to a standby)")
    finally:
        registry.close_all()


# ----------------------------------------------------------------------------- a standby dies

READERS = 3


def test_killed_standby_reads_fall_back_to_the_primary_and_return(
    pg_cluster: Any, items: None
) -> None:
    registry = registry_for(pg=settings(pg_cluster, replica_check_interval=0.2))

    def read() -> bool:
        with registry.session("pg", readonly=True) as session:
            standby = bool(session.execute(IN_RECOVERY).scalar_one())
            session.scalars(select(Item.n).limit(5)).all()
            return standby

    def write() -> None:
        with registry.get_engine("pg").begin() as connection:
            connection.execute(insert(Item.__table__), {"n": 1})

    readers = [Loop(read, name=f"reader-{i}").start() for i in range(READERS)]
    writer = Loop(write, name="writer", pause=0.01).start()
    loops = [*readers, writer]
    try:
        readers[0].wait_for(lambda standby: standby, since=0.0)
        time.sleep(0.5)
        killed_at = time.monotonic()
        pg_cluster.standby.kill()
        failover = max(r.wait_for(lambda standby: not standby, killed_at) for r in readers)
        time.sleep(1.0)
        pg_cluster.standby.start()
        back_at = time.monotonic()
        back = max(r.wait_for(lambda standby: standby, back_at) for r in readers)
        time.sleep(0.5)
    finally:
        for loop in loops:
            loop.stop()
        if not pg_cluster.standby.running:
            pg_cluster.standby.start()
        registry.close_all()

    failed = all_failures(readers, since=killed_at)
    # only statements in flight on the standby when it died may fail: one per reader at most
    assert len(failed) <= READERS, failed
    assert all_failures(readers, since=killed_at + failover) == []
    assert all_failures(loops, until=killed_at) == []
    assert writer.failures() == []
    assert max(loop.slowest for loop in loops) < 3 + 2.0
    reads = sum(len(r.outcomes) for r in readers)
    record("postgres standby killed: reads run", reads)
    record("postgres standby killed: writes run", len(writer.outcomes))
    record("postgres standby killed: reads failed (in flight on it)", len(failed))
    measure("postgres standby killed: seconds until every reader read the primary", failover)
    measure("postgres standby killed: seconds from restart until every reader read it again", back)
    record("faults injected (standby killed)")


@pytest.mark.parametrize("selection", ["round_robin", "random"])
def test_a_dead_replica_among_several_is_skipped(
    pg_cluster: Any, items: None, selection: str
) -> None:
    """Three replicas: the standby under two application names, and a closed port."""
    standby = pg_cluster.standby.port
    registry = registry_for(
        pg=settings(
            pg_cluster,
            replica_selection=selection,
            replicas=[
                {"port": standby, "application_name": "first"},
                {"port": free_port()},
                {"port": standby, "application_name": "second"},
            ],
        )
    )

    def served_by() -> str:
        with registry.session("pg", readonly=True) as session:
            query = text("SELECT current_setting('application_name')")
            return str(session.execute(query).scalar())

    try:
        # before the first background check the dead one counts as usable: a read
        # it is given is served by the primary (application_name ''), and succeeds
        assert served_by() in {"first", "second", ""}
        router = registry.get_datasource("pg")._router
        assert wait_until(lambda: router.states()[1].up is False)
        served = [served_by() for _ in range(30)]
        assert set(served) == {"first", "second"}, served
        if selection == "round_robin":
            assert all(a != b for a, b in itertools.pairwise(served)), served
        status = registry.get_datasource("pg").health_check()
        assert status.status == "degraded"
        assert [node.state for node in status.nodes] == ["up", "up", "down", "up"]
    finally:
        registry.close_all()


# ----------------------------------------------------------------------------- health


def test_health_check_lists_primary_and_standby(pg_cluster: Any) -> None:
    registry = registry_for(pg=settings(pg_cluster))
    try:
        status = registry.get_datasource("pg").health_check()
    finally:
        registry.close_all()
    assert status.status == "ok", status.detail
    assert status.ok and not status.failed
    primary, standby = status.nodes
    assert (primary.role, primary.state) == ("primary", "up")
    assert (standby.role, standby.state) == ("replica", "up")
    assert standby.version and standby.version.startswith("15")
    assert standby.detail.startswith("lag ")
    assert status.as_dict()["nodes"][1]["state"] == "up"


def test_unifydb_check_reports_a_dead_replica_as_degraded_and_exits_0(
    pg_cluster: Any, tmp_path: Path
) -> None:
    dead = free_port()
    config = tmp_path / "settings.json"
    config.write_text(
        json.dumps(
            {
                "datasources": {
                    "pg": settings(
                        pg_cluster, replicas=[{"port": pg_cluster.standby.port}, {"port": dead}]
                    )
                }
            }
        )
    )
    env = {"UNIFYDB_SETTINGS": str(config)}
    result = run_cli("check", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (status,) = json.loads(result.stdout)
    assert status["status"] == "degraded"
    assert status["ok"] is False
    assert [(node["role"], node["state"]) for node in status["nodes"]] == [
        ("primary", "up"),
        ("replica", "up"),
        ("replica", "down"),
    ]
    assert f":{dead}" in status["detail"]
    table = run_cli("check", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "degraded" in table.stdout
    assert "replica" in table.stdout and "down" in table.stdout
    assert NASTY_PASSWORD not in result.stdout + table.stdout


def test_an_async_replica_engine_falls_back_to_the_primary(pg_cluster: Any) -> None:
    """The replica is a closed port: its async engine connects to the primary
    instead, without an error, and the replica is marked down."""
    registry = registry_for(
        pg=settings(pg_cluster, replicas=[{"port": free_port()}], replica_check_interval=60)
    )

    async def read() -> bool:
        async with registry.get_replica_async_engine("pg").connect() as connection:
            return bool((await connection.execute(IN_RECOVERY)).scalar_one())

    try:
        assert asyncio.run(read()) is False
        assert registry.get_datasource("pg")._router.states()[0].up is False
    finally:
        registry.close_all()
