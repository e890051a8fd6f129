"""The clusters these tests start, once per session: a PostgreSQL primary with a
streaming hot standby, a MariaDB primary with a binlog replica, and a two-node
Cassandra ring. Each is owned by the test run and stopped at its end; one that
cannot start is an error, never a skip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import NASTY_PASSWORD


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``Replication(primary, standby)``: user ``app`` (NASTY_PASSWORD), database ``app``."""
    from tests.servers.pg_replication import pg_replication

    with pg_replication(tmp_path_factory.mktemp("pg-cluster"), password=NASTY_PASSWORD) as pair:
        yield pair
