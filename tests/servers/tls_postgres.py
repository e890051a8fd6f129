"""Throwaway PostgreSQL 15 clusters: one that requires TLS, one without TLS."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from . import HOST, ServerStartError, free_port, make_tls_files, spawn
from .managed import ManagedServer

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DEFAULT_PASSWORD = "Str0ng-pw_with:@/?#%chars"
SUPERUSER = "postgres"
# Unix socket paths are limited to 107 bytes (".s.PGSQL.NNNNN.lock" included).
_MAX_SOCKET_DIR = 80


@dataclasses.dataclass
class PostgresServer(ManagedServer):
    """A running throwaway cluster. ``ca_cert`` is None for the non-TLS one.

    ``stop()`` is a fast shutdown (SIGINT: disconnects clients, no crash recovery
    needed); after ``kill()``, ``start()`` runs crash recovery.
    """

    process_name = "postgres"
    stop_signal = signal.SIGINT

    host: str
    port: int
    user: str
    password: str
    database: str
    ca_cert: Path | None
    data_dir: Path
    socket_dir: Path
    log_path: Path
    tls: bool
    superuser: str = SUPERUSER

    def dsn(self, **extra: str) -> str:
        """libpq key=value DSN for ``user``; TLS clusters get verify-full."""
        params = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }
        if self.ca_cert is not None:
            params |= {"sslmode": "verify-full", "sslrootcert": str(self.ca_cert)}
        params |= extra
        return " ".join(f"{k}={_dsn_quote(v)}" for k, v in params.items())

    def url(self, scheme: str = "postgresql") -> str:
        """URL form of ``dsn()`` (user and password percent-escaped)."""
        url = (
            f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )
        if self.ca_cert is not None:
            url += f"?sslmode=verify-full&sslrootcert={quote(str(self.ca_cert), safe='/')}"
        return url

    def admin_dsn(self) -> str:
        """Superuser DSN over the unix socket (no password; e.g. to kill backends)."""
        return (
            f"host={_dsn_quote(str(self.socket_dir))} port={self.port} "
            f"user={self.superuser} dbname=postgres"
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        """The postmaster on the same port and data dir."""
        return spawn([PG_BIN / "postgres", "-D", self.data_dir], self.log_path, user=_run_as())

    def _ready(self) -> bool:
        pg_isready = [
            str(PG_BIN / "pg_isready"),
            "-q",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
        ]
        return subprocess.run(pg_isready, check=False).returncode == 0


@contextlib.contextmanager
def tls_postgres(
    tmpdir: Path,
    *,
    user: str = "app",
    password: str = DEFAULT_PASSWORD,
    database: str = "app",
    timeout: float = 60.0,
) -> Iterator[PostgresServer]:
    """A cluster with ssl=on where TCP logins must use TLS (scram-sha-256)."""
    with _cluster(
        tmpdir,
        name="pg-tls",
        tls=True,
        user=user,
        password=password,
        database=database,
        timeout=timeout,
    ) as server:
        yield server


@contextlib.contextmanager
def plain_postgres(
    tmpdir: Path,
    *,
    user: str = "app",
    password: str = DEFAULT_PASSWORD,
    database: str = "app",
    timeout: float = 60.0,
) -> Iterator[PostgresServer]:
    """A cluster with ssl=off (scram-sha-256 over plain TCP): a client that
    insists on TLS must refuse it."""
    with _cluster(
        tmpdir,
        name="pg-plain",
        tls=False,
        user=user,
        password=password,
        database=database,
        timeout=timeout,
    ) as server:
        yield server


@contextlib.contextmanager
def _cluster(
    tmpdir: Path,
    *,
    name: str,
    tls: bool,
    user: str,
    password: str,
    database: str,
    timeout: float,
) -> Iterator[PostgresServer]:
    base, owned = _cluster_dir(Path(tmpdir), name)
    server = PostgresServer(
        host=HOST,
        port=free_port(),
        user=user,
        password=password,
        database=database,
        ca_cert=None,
        data_dir=base / "data",
        socket_dir=base / "s",
        log_path=base / "postgres.log",
        tls=tls,
    )
    try:
        _init_cluster(server, base)
        server.start(timeout)
        _create_app_role(server)
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)


def _run_as() -> str | None:
    # initdb/postgres refuse to run as root.
    return SUPERUSER if os.geteuid() == 0 else None


def _cluster_dir(tmpdir: Path, name: str) -> tuple[Path, bool]:
    """The cluster's directory, and whether we must delete it ourselves.

    As root the cluster runs as ``postgres``, which must be able to reach its
    directory; pytest's tmp_path sits under a 0700 root-owned dir. Long paths
    also break the unix socket. In both cases fall back to a fresh dir in the
    system temp dir.
    """
    tmpdir = tmpdir.resolve()
    base = tmpdir / name
    reachable = os.geteuid() != 0 or all(
        p.stat().st_mode & stat.S_IXOTH for p in [tmpdir, *tmpdir.parents] if p.exists()
    )
    if reachable and len(str(base / "s")) <= _MAX_SOCKET_DIR:
        base.mkdir(parents=True, exist_ok=False)
        return base, False
    return Path(tempfile.mkdtemp(prefix=f"unifydb-{name}-")), True


def _init_cluster(server: PostgresServer, base: Path) -> None:
    server.socket_dir.mkdir(parents=True)
    conf = [
        "listen_addresses = '127.0.0.1'",
        f"port = {server.port}",
        f"unix_socket_directories = '{server.socket_dir}'",
        # Throwaway data: durability costs time and buys nothing here.
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "max_connections = 100",
        "shared_buffers = 32MB",
        "password_encryption = 'scram-sha-256'",
        "log_destination = 'stderr'",
        "logging_collector = off",
        "log_connections = on",
    ]
    hba = ["local all all trust"]
    if server.tls:
        tls = make_tls_files(base / "tls")
        server.ca_cert = tls.ca_cert
        conf += [
            "ssl = on",
            f"ssl_cert_file = '{tls.server_cert}'",
            f"ssl_key_file = '{tls.server_key}'",
            "ssl_min_protocol_version = 'TLSv1.2'",
        ]
        hba += [
            "hostssl all all 127.0.0.1/32 scram-sha-256",
            "hostnossl all all 0.0.0.0/0 reject",
        ]
    else:
        conf.append("ssl = off")
        hba.append("host all all 127.0.0.1/32 scram-sha-256")

    run_pg_tool(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ],
        base,
    )
    with (server.data_dir / "postgresql.conf").open("a") as f:
        f.write("\n# unifydb test harness\n" + "\n".join(conf) + "\n")
    (server.data_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n")


def run_pg_tool(argv: list[str], base: Path) -> None:
    """Run a PostgreSQL program on the folder ``base`` as the account that owns
    it (PostgreSQL refuses to run as root); its output in the error if it fails."""
    owner = _run_as()
    if owner is not None:
        _chown_tree(base, owner)
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        user=owner,
        group=owner,
        extra_groups=[] if owner else None,
    )
    if result.returncode != 0:
        program = Path(argv[0]).name
        raise ServerStartError(f"{program} failed:\n{result.stdout}\n{result.stderr}")


def _create_app_role(server: PostgresServer) -> None:
    sql = (
        f"CREATE ROLE {_ident(server.user)} LOGIN PASSWORD {_literal(server.password)};\n"
        f"CREATE DATABASE {_ident(server.database)} OWNER {_ident(server.user)};\n"
    )
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.admin_dsn()],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(f"creating role/database failed: {result.stderr.strip()}")


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    # standard_conforming_strings is on (the default), so only ' needs doubling.
    return "'" + value.replace("'", "''") + "'"


def _dsn_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
