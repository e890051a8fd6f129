"""A throwaway ``redis-server`` (the system's binary), optionally with ``requirepass``.

Writes are kept across a restart: the append-only file is on with ``fsync``
at every write, so a SET that returned OK is there after ``restart()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from . import HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServerStartError(
            "redis-server is not installed (scripts/install-test-servers.sh installs it)"
        )
    return found


def _quoted(value: str) -> str:
    """``value`` as a redis.conf string: every byte hex-escaped inside double quotes,
    so any password survives redis's own argument splitting."""
    return '"' + "".join(f"\\x{byte:02x}" for byte in value.encode()) + '"'


@dataclasses.dataclass
class RedisServer(ManagedServer):
    process_name = "redis-server"

    host: str
    port: int
    data_dir: Path
    log_path: Path
    #: requirepass (None: no password)
    password: str | None = None

    @property
    def config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    def url(self, db: int = 0) -> str:
        from urllib.parse import quote

        login = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{login}{self.host}:{self.port}/{db}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            f"dir {_quoted(str(self.data_dir))}",
            'save ""',
            "appendonly yes",
            "appendfsync always",
            "protected-mode no",
            "daemonize no",
        ]
        if self.password is not None:
            lines.append(f"requirepass {_quoted(self.password)}")
        self.config_path.write_text("\n".join(lines) + "\n")
        return spawn([redis_server_binary(), str(self.config_path)], self.log_path)

    def _ready(self) -> bool:
        # a PING answered with +PONG, or -NOAUTH when a password is required
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


@contextlib.contextmanager
def redis_server(tmpdir: Path, *, password: str | None = None) -> Iterator[RedisServer]:
    """``redis-server`` on a free 127.0.0.1 port, its data in ``tmpdir/redis``."""
    base = Path(tmpdir).resolve() / "redis"
    base.mkdir(parents=True, exist_ok=False)
    server = RedisServer(
        host=HOST, port=free_port(), data_dir=base, log_path=base / "redis.log", password=password
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
