"""Read replicas on a real MariaDB primary with a binlog (GTID) replica, through
the mysql and the mariadb types: the same routing code as PostgreSQL's, with
MariaDB's own lag measure (``SHOW REPLICA STATUS``).

Where a statement ran is asked of the server: ``@@server_id`` is 1 on the
primary and 2 on the replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Integer, insert, literal_column, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.clusters.workload import Loop, all_failures
from tests.figures import measure, record
from tests.helpers import registry_for, wait_until

pytestmark = [pytest.mark.live, pytest.mark.parametrize("type_name", ["mysql", "mariadb"])]

SERVER_ID = literal_column("@@server_id")
PRIMARY, REPLICA = 1, 2


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "cluster_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


def settings(cluster: Any, type_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": type_name,
        "host": cluster.primary.host,
        "port": cluster.primary.port,
        "username": "root",
        "database": "app",
        "timeout": 3,
        "replicas": [{"port": cluster.replica.port}],
        "replica_check_interval": 0.1,
        **extra,
    }


@pytest.fixture
def rows(mariadb_cluster: Any, type_name: str) -> Iterator[None]:
    registry = registry_for(db=settings(mariadb_cluster, type_name, replicas=[]))
    Base.metadata.create_all(registry.get_engine("db"))
    mariadb_cluster.wait_for_replication()
    yield
    Base.metadata.drop_all(registry.get_engine("db"))
    registry.close_all()


def server_id(session: Any) -> int:
    return int(session.execute(select(SERVER_ID)).scalar_one())


def test_reads_go_to_the_replica_and_a_session_reads_its_own_writes(
    mariadb_cluster: Any, type_name: str, rows: None
) -> None:
    registry = registry_for(db=settings(mariadb_cluster, type_name, route_reads=True))
    try:
        with registry.session("db", readonly=True) as session:
            assert server_id(session) == REPLICA
        with registry.session("db") as session:
            assert server_id(session) == REPLICA
            # text() is not parsed: it goes to the primary, and counts as a write
            assert session.execute(text("SELECT @@server_id")).scalar() == PRIMARY
            assert server_id(session) == PRIMARY
        with registry.session("db") as session:
            first = session.execute(select(Row.id).add_columns(SERVER_ID).limit(1)).all()
            assert all(row[1] == REPLICA for row in first)
            session.add(Row(n=6))
            session.flush()
            after = session.execute(select(Row.n).add_columns(SERVER_ID)).all()
            assert {row[1] for row in after} == {PRIMARY}
            assert 6 in {row[0] for row in after}
    finally:
        registry.close_all()


def test_a_stopped_replica_is_skipped_and_used_again_once_it_catches_up(
    mariadb_cluster: Any, type_name: str, rows: None
) -> None:
    registry = registry_for(db=settings(mariadb_cluster, type_name, max_replica_lag=1.0))
    replica_engine = registry.get_datasource("db").replicas()[0].get_engine()
    try:
        assert wait_until(lambda: registry.get_replica_engine("db") is replica_engine)
        mariadb_cluster.execute(mariadb_cluster.replica, "STOP SLAVE SQL_THREAD")
        try:
            stopped_at = time.monotonic()
            # replication stopped: its lag is unknown (NULL), so it is not read from
            assert wait_until(lambda: registry.get_replica_engine("db") is not replica_engine)
            measure(f"{type_name}: seconds until a stopped replica was skipped", since(stopped_at))
            with registry.get_engine("db").begin() as connection:
                connection.execute(insert(Row.__table__), {"n": 77})
            with registry.session("db", readonly=True) as session:
                assert server_id(session) == PRIMARY
                assert session.scalar(select(Row.id).where(Row.n == 77)) is not None
            status = registry.get_datasource("db").health_check()
            assert status.status == "degraded"
        finally:
            mariadb_cluster.execute(mariadb_cluster.replica, "START SLAVE SQL_THREAD")
        started_at = time.monotonic()
        assert wait_until(lambda: registry.get_replica_engine("db") is replica_engine)
        measure(f"{type_name}: seconds until a restarted replica was read again", since(started_at))
        mariadb_cluster.wait_for_replication()
        with registry.session("db", readonly=True) as session:
            assert server_id(session) == REPLICA
            assert session.scalar(select(Row.id).where(Row.n == 77)) is not None
        assert registry.get_datasource("db").health_check().status == "ok"
    finally:
        registry.close_all()


def since(moment: float) -> float:
    return time.monotonic() - moment


def test_killed_replica_reads_fall_back_to_the_primary_and_return(
    mariadb_cluster: Any, type_name: str, rows: None
) -> None:
    registry = registry_for(db=settings(mariadb_cluster, type_name, replica_check_interval=0.2))
    readers_count = 2

    def read() -> int:
        with registry.session("db", readonly=True) as session:
            return server_id(session)

    readers = [Loop(read, name=f"reader-{i}", pause=0.002).start() for i in range(readers_count)]
    try:
        readers[0].wait_for(lambda served: served == REPLICA, since=0.0)
        time.sleep(0.3)
        killed_at = time.monotonic()
        mariadb_cluster.replica.kill()
        failover = max(r.wait_for(lambda s: s == PRIMARY, killed_at) for r in readers)
        time.sleep(0.5)
        mariadb_cluster.replica.start()
        back_at = time.monotonic()
        back = max(r.wait_for(lambda s: s == REPLICA, back_at) for r in readers)
        time.sleep(0.3)
    finally:
        for loop in readers:
            loop.stop()
        if not mariadb_cluster.replica.running:
            mariadb_cluster.replica.start()
        registry.close_all()
    failed = all_failures(readers, since=killed_at)
    assert len(failed) <= readers_count, failed
    assert all_failures(readers, since=killed_at + failover) == []
    assert all_failures(readers, until=killed_at) == []
    record(f"{type_name} replica killed: reads run", sum(len(r.outcomes) for r in readers))
    record(f"{type_name} replica killed: reads failed (in flight on it)", len(failed))
    measure(f"{type_name} replica killed: seconds until every reader read the primary", failover)
    measure(f"{type_name} replica killed: seconds from restart until read again", back)
    record("faults injected (replica killed)")
