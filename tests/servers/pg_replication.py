"""A throwaway PostgreSQL primary with a hot standby streaming from it.

The primary is the plain (no TLS, scram-sha-256) cluster of ``tls_postgres``
with replication allowed over its unix socket; the standby is a
``pg_basebackup -R`` copy of it on its own port, started in hot-standby mode.
Both listen on 127.0.0.1 and are ``PostgresServer`` handles, so ``kill()``,
``start()``, ``stop()`` work on each. The application role and database exist
on both (they were created before the base backup).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from . import ServerStartError, free_port
from .tls_postgres import PG_BIN, PostgresServer, plain_postgres, run_pg_tool

#: added to the primary: replication over the unix socket (the standby's
#: primary_conninfo), and WAL kept for a standby that was down a while
_PRIMARY_HBA = "local replication all trust\n"
_PRIMARY_CONF = [
    "wal_level = replica",
    "max_wal_senders = 10",
    "wal_keep_size = 256MB",
]


@dataclasses.dataclass
class Replication:
    """The primary and its standby."""

    primary: PostgresServer
    standby: PostgresServer

    def admin(self, server: PostgresServer) -> str:
        """A superuser DSN for ``server`` (over its unix socket)."""
        return server.admin_dsn()

    def wait_for_replay(self, timeout: float = 30.0) -> float:
        """Wait until the standby has replayed everything the primary wrote so far;
        returns seconds waited."""
        import psycopg

        started = time.monotonic()
        with psycopg.connect(self.primary.admin_dsn()) as primary:
            # a synchronous commit flushes every WAL record before it, including
            # asynchronous commits (the harness runs with synchronous_commit = off)
            primary.execute("SET synchronous_commit = on")
            primary.execute("SELECT pg_logical_emit_message(true, 'unifydb-harness', 'flush')")
            primary.commit()
            target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
        assert target is not None
        while True:
            try:
                with psycopg.connect(self.standby.admin_dsn(), autocommit=True) as standby:
                    row = standby.execute(
                        "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target[0],)
                    ).fetchone()
                if row is not None and row[0]:
                    return time.monotonic() - started
            except psycopg.OperationalError:
                pass  # the standby is still starting
            if time.monotonic() - started > timeout:
                raise ServerStartError(
                    f"the standby did not replay {target[0]} within {timeout:.0f}s; "
                    f"log {self.standby.log_path}"
                )
            time.sleep(0.05)


@contextlib.contextmanager
def pg_replication(tmpdir: Path, *, password: str, timeout: float = 60.0) -> Iterator[Replication]:
    """A primary (user ``app``/``password``, database ``app``) and a hot standby."""
    with plain_postgres(Path(tmpdir), password=password, timeout=timeout) as primary:
        _allow_replication(primary)
        primary.restart(timeout)
        standby = _standby_of(primary)
        try:  # from here on the standby's directory exists: it is removed in any case
            _base_backup(primary, standby)
            standby.start(timeout)
            replication = Replication(primary, standby)
            replication.wait_for_replay(timeout)
            yield replication
        finally:
            standby.stop()
            shutil.rmtree(standby.data_dir.parent, ignore_errors=True)


def _allow_replication(primary: PostgresServer) -> None:
    with (primary.data_dir / "pg_hba.conf").open("a") as hba:
        hba.write(_PRIMARY_HBA)
    with (primary.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n".join(_PRIMARY_CONF) + "\n")


def _standby_of(primary: PostgresServer) -> PostgresServer:
    # next to the primary's directory, which is known to be reachable by the
    # server's user and short enough for a unix socket path
    base = primary.data_dir.parent.with_name(primary.data_dir.parent.name + "-standby")
    base.mkdir()  # the last step that can fail outside the caller's cleanup
    return dataclasses.replace(
        primary,
        port=free_port(),
        data_dir=base / "data",
        socket_dir=base / "s",
        log_path=base / "postgres.log",
    )


def _base_backup(primary: PostgresServer, standby: PostgresServer) -> None:
    base = standby.data_dir.parent
    standby.socket_dir.mkdir()
    run_pg_tool(
        [
            str(PG_BIN / "pg_basebackup"),
            "-D",
            str(standby.data_dir),
            "-h",
            str(primary.socket_dir),
            "-p",
            str(primary.port),
            "-U",
            primary.superuser,
            "-R",  # standby.signal + primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        base,
    )
    with (standby.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# the standby's own address\n"
            f"port = {standby.port}\n"
            f"unix_socket_directories = '{standby.socket_dir}'\n"
            "hot_standby = on\n"
            # answer the primary's status requests fast, so replay lag is fresh
            "wal_receiver_status_interval = 1s\n"
        )
