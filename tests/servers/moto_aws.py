"""moto's server mode (``moto_server``): a real HTTP endpoint on 127.0.0.1 that
speaks the AWS APIs (Secrets Manager among them), keeping state in memory.

Started once per test session by the ``moto_aws`` fixture; point boto3 at it
with ``AWS_ENDPOINT_URL`` (and any fake credentials and region).
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from . import HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer

#: moto's own API: answers once the server is up
_READY_PATH = "/moto-api/data.json"


@dataclasses.dataclass
class MotoServer(ManagedServer):
    process_name = "moto_server"
    stop_grace = 5.0

    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        script = Path(sys.executable).with_name("moto_server")
        if not script.exists():
            raise ServerStartError(
                f"{script} is missing: pip install 'moto[server]' (it is in unifydb[dev])"
            )
        return spawn([script, "-H", self.host, "-p", str(self.port)], self.log_path)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + _READY_PATH, timeout=1.0) as answer:
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False


@contextlib.contextmanager
def moto_aws(tmpdir: Path, *, timeout: float = 60.0) -> Iterator[MotoServer]:
    """``moto_server`` on a free 127.0.0.1 port, logging to ``tmpdir/moto.log``."""
    base = Path(tmpdir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    server = MotoServer(host=HOST, port=free_port(), log_path=base / "moto.log")
    try:
        server.start(timeout)
        yield server
    finally:
        server.stop()
