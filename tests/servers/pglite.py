"""PGlite (PostgreSQL compiled to WebAssembly) with pgvector, served over the PostgreSQL
wire protocol by ``pglite-server`` from the npm package ``@electric-sql/pglite-socket``.

``scripts/install-test-servers.sh`` installs it (and ``@electric-sql/pglite-pgvector``)
into ``.cache/test-servers/pglite``. The database lives in memory: a restart starts
empty. One PGlite backend serves every client connection, so prepared statements
and session state leak between connections (treat it like a transaction pooler:
``prepared_statements = false``), and the user, password and database names are
not checked (``postgres`` / ``postgres`` works).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from . import CACHE_DIR, HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer

PGLITE_HOME = CACHE_DIR / "pglite"
SERVER_SCRIPT = PGLITE_HOME / "node_modules" / "@electric-sql" / "pglite-socket" / "dist"
INSTALL_HINT = "run scripts/install-test-servers.sh (needs node and npm)"


@dataclasses.dataclass
class PGliteServer(ManagedServer):
    process_name = "pglite-server"
    start_timeout = 90.0
    stop_grace = 5.0
    ready_interval = 0.25

    host: str
    port: int
    log_path: Path
    user: str = "postgres"
    database: str = "postgres"

    def _spawn(self) -> subprocess.Popen[bytes]:
        node = shutil.which("node")
        script = SERVER_SCRIPT / "scripts" / "server.js"
        if node is None or not script.exists():
            raise ServerStartError(f"pglite-server is not installed: {INSTALL_HINT}")
        argv = [
            node,
            str(script),
            f"--host={self.host}",
            f"--port={self.port}",
            "--extensions=@electric-sql/pglite-pgvector:vector",
            "--max-connections=4",
        ]
        return spawn(argv, self.log_path, cwd=PGLITE_HOME)

    def _ready(self) -> bool:
        return _answers_startup(self.host, self.port)

    def settings(self, **overrides: object) -> dict[str, object]:
        """unifydb settings keys for this server (no prepared statements, see above)."""
        return {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.user,
            "prepared_statements": False,
            **overrides,
        }


def _answers_startup(host: str, port: int) -> bool:
    """True once the server answers a PostgreSQL SSLRequest (with 'N' or 'S')."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            sock.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
            return sock.recv(1) in (b"N", b"S")
    except OSError:
        return False


@contextlib.contextmanager
def pglite(tmpdir: Path, *, timeout: float | None = None) -> Iterator[PGliteServer]:
    """``pglite-server`` with pgvector on a free 127.0.0.1 port, logging to ``tmpdir``."""
    base = Path(tmpdir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    server = PGliteServer(host=HOST, port=free_port(), log_path=base / "pglite.log")
    try:
        server.start(timeout)
        yield server
    finally:
        server.stop()
