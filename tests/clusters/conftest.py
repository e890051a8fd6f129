"""The clusters these tests start, once per run: a PostgreSQL primary with a
streaming hot standby, a MariaDB primary with a binlog replica, and a two-node
Cassandra ring. Each is owned by the test run and stopped once this package's
tests are done (package scope: the JVMs do not idle through the rest of the
suite); one that cannot start is an error, never a skip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import NASTY_PASSWORD


@pytest.fixture(scope="package")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``Replication(primary, standby)``: user ``app`` (NASTY_PASSWORD), database ``app``."""
    from tests.servers.pg_replication import pg_replication

    with pg_replication(tmp_path_factory.mktemp("pg-cluster"), password=NASTY_PASSWORD) as pair:
        yield pair


@pytest.fixture(scope="package")
def cassandra_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A two-node ring on 127.0.0.1 and 127.0.0.2, and keyspace ``ring`` replicated
    to both (replication factor 2) with a table ``kv (k int PRIMARY KEY, v int)``."""
    from cassandra.cluster import Cluster

    from tests.helpers import wait_until
    from tests.servers.cassandra_ring import cassandra_ring

    with cassandra_ring(tmp_path_factory.mktemp("cassandra-ring")) as ring:
        cluster = Cluster(ring.hosts, port=ring.port, protocol_version=3)
        try:
            session = cluster.connect()
            assert wait_until(
                lambda: (
                    len(cluster.metadata.all_hosts()) == len(ring.nodes)
                    and all(host.is_up for host in cluster.metadata.all_hosts())
                ),
                timeout=60,
            ), "the ring's nodes did not all come up"
            session.execute(
                "CREATE KEYSPACE ring WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 2}"
            )
            session.execute("CREATE TABLE ring.kv (k int PRIMARY KEY, v int)")
        finally:
            cluster.shutdown()
        yield ring


@pytest.fixture(scope="package")
def mariadb_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``MariaDBReplication(primary, replica)``: root without a password, database ``app``."""
    from tests.servers.mariadb_replication import mariadb_replication

    with mariadb_replication(tmp_path_factory.mktemp("mariadb-cluster")) as pair:
        yield pair
