"""A throwaway MariaDB primary (binary log on) with a replica replicating from it
(GTID, row-based), both fresh ``mariadbd``s of :mod:`tests.servers.mariadb_server`."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import ServerStartError
from .mariadb_server import MariaDBServer, mariadb_server

_PRIMARY_ARGS = ("--server-id=1", "--log-bin=primary-bin", "--binlog-format=ROW")
_REPLICA_ARGS = ("--server-id=2", "--relay-log=replica-relay", "--log-slave-updates=OFF")


@dataclasses.dataclass
class MariaDBReplication:
    primary: MariaDBServer
    replica: MariaDBServer

    def execute(self, server: MariaDBServer, statement: str) -> Any:
        """One statement as root; returns the rows as dicts (None when it has none)."""
        import MySQLdb
        import MySQLdb.cursors

        connection = MySQLdb.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            passwd=server.password,
            cursorclass=MySQLdb.cursors.DictCursor,
            autocommit=True,
        )
        try:
            cursor = connection.cursor()
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def wait_for_replication(self, timeout: float = 30.0) -> float:
        """Wait until the replica has applied everything the primary logged so far."""
        started = time.monotonic()
        rows = self.execute(self.primary, "SELECT @@gtid_binlog_pos AS pos")
        target = rows[0]["pos"]
        while True:
            done = self.execute(self.replica, f"SELECT MASTER_GTID_WAIT('{target}', 0.5) AS waited")
            if done and done[0]["waited"] == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise ServerStartError(
                    f"the replica did not reach {target} within {timeout:.0f}s; "
                    f"log {self.replica.log_path}"
                )


@contextlib.contextmanager
def mariadb_replication(tmpdir: Path, *, timeout: float = 60.0) -> Iterator[MariaDBReplication]:
    tmpdir = Path(tmpdir)
    with (
        mariadb_server(tmpdir / "primary", timeout=timeout, extra_args=_PRIMARY_ARGS) as primary,
        mariadb_server(tmpdir / "replica", timeout=timeout, extra_args=_REPLICA_ARGS) as replica,
    ):
        pair = MariaDBReplication(primary, replica)
        pair.execute(
            replica,
            f"CHANGE MASTER TO MASTER_HOST='{primary.host}', MASTER_PORT={primary.port}, "
            f"MASTER_USER='{primary.user}', MASTER_PASSWORD='{primary.password}', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
        )
        pair.execute(replica, "START SLAVE")
        pair.execute(primary, "CREATE DATABASE app")
        pair.wait_for_replication(timeout)
        yield pair
