"""A MongoDB-wire-protocol server: SecantusDB (``secantusd-py``) from its own venv.

SecantusDB speaks OP_MSG, answers as MongoDB 8.2.11, supports SCRAM-SHA-256/1
users, transactions and TLS. With ``--auth`` there is no localhost exception,
so users are provisioned before the ``--auth`` restart (see ``mongo_wire``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import ssl
import struct
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote_plus

from . import (
    CACHE_DIR,
    HOST,
    INSTALL_HINT,
    ServerStartError,
    free_port,
    make_tls_files,
    spawn,
)
from .managed import ManagedServer

VENV = CACHE_DIR / "secantus-venv"
SECANTUSD = VENV / "bin" / "secantusd-py"
DEFAULT_ADMIN_PASSWORD = "Adm1n-pw_with:@/?#%chars"

# createUser runs through pymongo inside the secantus venv (it depends on
# pymongo), so this module itself needs nothing beyond the standard library.
_CREATE_USER = """\
import json, sys
from pymongo import MongoClient
a = json.load(sys.stdin)
kw = {}
if a["admin_user"]:
    kw = {"username": a["admin_user"], "password": a["admin_password"], "authSource": "admin"}
if a["ca_cert"]:
    kw |= {"tls": True, "tlsCAFile": a["ca_cert"]}
with MongoClient(a["host"], a["port"], directConnection=True,
                 serverSelectionTimeoutMS=10000, **kw) as client:
    extra = {"mechanisms": a["mechanisms"]} if a["mechanisms"] else {}
    client[a["db"]].command("createUser", a["name"], pwd=a["password"], roles=a["roles"], **extra)
"""


@dataclasses.dataclass
class MongoWireServer(ManagedServer):
    """A running SecantusDB. ``admin_user``/``admin_password`` are set (and
    required by the server) only when it was started with ``auth=True``."""

    process_name = "secantusd"

    host: str
    port: int
    storage_path: Path
    log_path: Path
    config_path: Path
    auth: bool
    ca_cert: Path | None = None
    admin_user: str | None = None
    admin_password: str | None = None
    test_commands: bool = False
    _tls_cert: Path | None = dataclasses.field(default=None, repr=False)
    _tls_key: Path | None = dataclasses.field(default=None, repr=False)

    def url(self, username: str | None = None, password: str | None = None) -> str:
        """mongodb:// URL; credentials are percent-escaped, authSource=admin."""
        creds = ""
        params = ["directConnection=true"]
        if username is not None:
            creds = f"{quote_plus(username)}:{quote_plus(password or '')}@"
            params.append("authSource=admin")
        if self.ca_cert is not None:
            params += ["tls=true", f"tlsCAFile={quote_plus(str(self.ca_cert))}"]
        return f"mongodb://{creds}{self.host}:{self.port}/?{'&'.join(params)}"

    def admin_url(self) -> str:
        return self.url(self.admin_user, self.admin_password)

    def create_user(
        self,
        name: str,
        password: str,
        roles: Sequence[str | dict[str, str]] = ("root",),
        db: str = "admin",
        mechanisms: Sequence[str] | None = None,
    ) -> None:
        """createUser via the secantus venv's pymongo. SecantusDB's default
        is SCRAM-SHA-256 only; pass ``mechanisms=["SCRAM-SHA-1", "SCRAM-SHA-256"]``
        for a user that SHA-1 clients can log in as."""
        payload = {
            "host": self.host,
            "port": self.port,
            "admin_user": self.admin_user if self.auth else None,
            "admin_password": self.admin_password,
            "ca_cert": str(self.ca_cert) if self.ca_cert else None,
            "name": name,
            "password": password,
            "roles": list(roles),
            "db": db,
            "mechanisms": list(mechanisms) if mechanisms else None,
        }
        result = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", _CREATE_USER],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            env=_clean_env(),
            check=False,
        )
        if result.returncode != 0:
            raise ServerStartError(f"createUser {name!r} failed:\n{result.stderr[-2000:]}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        """secantusd on the same port and storage."""
        argv: list[str | Path] = [
            SECANTUSD,
            "--config",
            self.config_path,  # an empty file: disables auto-discovery
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
            "--log-level",
            "INFO",
            "--cache-size",
            "256M",
        ]
        if self.auth:
            argv.append("--auth")
        if self.test_commands:
            argv.append("--enable-test-commands")
        if self._tls_cert is not None and self._tls_key is not None:
            argv += ["--tls-cert-file", self._tls_cert, "--tls-key-file", self._tls_key]
        return spawn(argv, self.log_path, env=_clean_env(), cwd=self.config_path.parent)

    def _ready(self) -> bool:
        return _pings(self.host, self.port, self.ca_cert)


@contextlib.contextmanager
def mongo_wire(
    tmpdir: Path,
    *,
    auth: bool = False,
    admin_user: str = "admin",
    admin_password: str = DEFAULT_ADMIN_PASSWORD,
    tls: bool = False,
    test_commands: bool = False,
    timeout: float = 60.0,
) -> Iterator[MongoWireServer]:
    """A SecantusDB on a free port, storing in ``tmpdir/secantus``.

    ``auth=True``: a root user ``admin_user`` is created on a first, open start,
    then the server restarts with ``--auth`` (SCRAM required for everything
    but the handshake and ping). ``tls=True``: TLS with a throwaway CA
    (``ca_cert``). ``test_commands=True`` enables ``configureFailPoint``.
    """
    if not SECANTUSD.exists():
        raise ServerStartError(f"{SECANTUSD} is missing: {INSTALL_HINT}")
    base = Path(tmpdir).resolve() / "secantus"
    base.mkdir(parents=True, exist_ok=False)
    config = base / "secantusd.toml"
    config.write_text("")
    server = MongoWireServer(
        host=HOST,
        port=free_port(),
        storage_path=base / "data",
        log_path=base / "secantusd.log",
        config_path=config,
        auth=False,
        test_commands=test_commands,
    )
    if tls:
        files = make_tls_files(base / "tls")
        server.ca_cert = files.ca_cert
        server._tls_cert, server._tls_key = files.server_cert, files.server_key
    try:
        server.start(timeout)
        if auth:
            server.create_user(admin_user, admin_password, roles=["root"])
            server.admin_user, server.admin_password, server.auth = admin_user, admin_password, True
            server.restart(timeout)
        yield server
    finally:
        server.stop()


def _clean_env() -> dict[str, str]:
    # The secantus venv must not see the test venv's import path.
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _bson_ping() -> bytes:
    body = b"\x10ping\x00" + struct.pack("<i", 1)
    db = b"admin\x00"
    body += b"\x02$db\x00" + struct.pack("<i", len(db)) + db
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _pings(host: str, port: int, ca_cert: Path | None) -> bool:
    """True once an OP_MSG ``ping`` gets an ``ok: 1.0`` reply."""
    doc = _bson_ping()
    msg = struct.pack("<iiii", 16 + 5 + len(doc), 1, 0, 2013) + b"\x00\x00\x00\x00\x00" + doc
    try:
        with socket.create_connection((host, port), timeout=2.0) as raw:
            sock: socket.socket = raw
            if ca_cert is not None:
                ctx = ssl.create_default_context(cafile=str(ca_cert))
                sock = ctx.wrap_socket(raw, server_hostname=host)
            sock.sendall(msg)
            reply = b""
            while len(reply) < 4 or len(reply) < struct.unpack("<i", reply[:4])[0]:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return b"\x01ok\x00" + struct.pack("<d", 1.0) in reply
