"""A throwaway MariaDB server (the system's ``mariadbd``) with its own datadir."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer

MARIADBD = Path("/usr/sbin/mariadbd")
# Unix socket paths are limited to 107 bytes.
_MAX_SOCKET_PATH = 100


@dataclasses.dataclass
class MariaDBServer(ManagedServer):
    """A running throwaway mariadbd; ``root`` logs in over TCP with ``password``.

    ``stop()`` is a clean shutdown (SIGTERM, SIGKILL after 30 s); after ``kill()``,
    ``start()`` runs InnoDB crash recovery.
    """

    process_name = "mariadbd"
    stop_grace = 30.0

    host: str
    port: int
    user: str
    password: str
    data_dir: Path
    socket_path: Path
    log_path: Path
    #: more mariadbd options (server id, binary log, ...)
    extra_args: tuple[str, ...] = ()

    def url(self, scheme: str = "mysql", database: str = "") -> str:
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{database}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        """mariadbd on the same port and datadir."""
        argv: list[str | Path] = [
            MARIADBD,
            "--no-defaults",  # never read /etc/mysql: the system server's config
            f"--datadir={self.data_dir}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.data_dir / 'mariadbd.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--tmpdir={self.data_dir.parent}",
            "--innodb-buffer-pool-size=64M",
            # Throwaway data: durability costs time and buys nothing here.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--max-connections=200",
            *self.extra_args,
            *_user_flag(),
        ]
        return spawn(argv, self.log_path)

    def _ready(self) -> bool:
        return _greets(self.host, self.port)


@contextlib.contextmanager
def mariadb_server(
    tmpdir: Path, *, timeout: float = 60.0, extra_args: tuple[str, ...] = ()
) -> Iterator[MariaDBServer]:
    """A fresh mariadbd on a free 127.0.0.1 port; root has an empty password."""
    base = Path(tmpdir).resolve() / "mariadb"
    base.mkdir(parents=True, exist_ok=False)
    socket_dir, owned = _socket_dir(base)
    server = MariaDBServer(
        host=HOST,
        port=free_port(),
        user="root",
        password="",
        data_dir=base / "data",
        socket_path=socket_dir / "mariadbd.sock",
        log_path=base / "mariadbd.log",
        extra_args=extra_args,
    )
    try:
        _install_db(server)
        server.start(timeout)
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(socket_dir, ignore_errors=True)


def _user_flag() -> list[str]:
    # mariadbd refuses to run as root unless told to; as a normal user the
    # flag is not needed.
    return ["--user=root"] if os.geteuid() == 0 else []


def _socket_dir(base: Path) -> tuple[Path, bool]:
    if len(str(base / "mariadbd.sock")) <= _MAX_SOCKET_PATH:
        return base, False
    return Path(tempfile.mkdtemp(prefix="unifydb-mariadb-")), True


def _install_db(server: MariaDBServer) -> None:
    # auth method "normal" gives root@localhost and root@127.0.0.1 an empty
    # password instead of unix_socket auth, so TCP logins work.
    result = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={server.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            *_user_flag(),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")


def _greets(host: str, port: int) -> bool:
    """True once the server sends a protocol-10 handshake (not an error packet,
    which is what a starting or refusing server sends)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            header = sock.recv(5)
    except OSError:
        return False
    return len(header) == 5 and header[4] == 0x0A
