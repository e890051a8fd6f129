"""A real Chroma HTTP server (``chroma run``) from the test venv's chromadb."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from . import HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer

HEARTBEAT = "/api/v2/heartbeat"  # /api/v1/* answers 410 Gone in chromadb 1.x
# ``python -m chromadb.cli.cli`` does nothing (no __main__ guard), so the
# fallback calls the console script's entry point by hand; the Rust CLI
# parses argv[0] too, hence the fix-up.
_ENTRY = "import sys; from chromadb.cli.cli import app; sys.argv[0] = 'chroma'; sys.exit(app())"


@dataclasses.dataclass
class ChromaServer(ManagedServer):
    process_name = "chroma"

    host: str
    port: int
    path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        """``chroma run`` on the same port and persistence path."""
        argv = [
            *chroma_command(),
            "run",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--path",
            str(self.path),
        ]
        return spawn(argv, self.log_path, env=_env(), cwd=self.path.parent)

    def _ready(self) -> bool:
        return _heartbeat_ok(self.url)


@contextlib.contextmanager
def chroma_http(tmpdir: Path, *, timeout: float = 60.0) -> Iterator[ChromaServer]:
    """``chroma run`` on a free 127.0.0.1 port, persisting in ``tmpdir/chroma``."""
    base = Path(tmpdir).resolve() / "chroma"
    base.mkdir(parents=True, exist_ok=False)
    server = ChromaServer(
        host=HOST, port=free_port(), path=base / "data", log_path=base / "chroma.log"
    )
    try:
        server.start(timeout)
        yield server
    finally:
        server.stop()


def chroma_command() -> list[str]:
    """How to run the ``chroma`` CLI of the interpreter running the tests."""
    script = Path(sys.executable).with_name("chroma")
    if script.exists():
        return [str(script)]
    found = shutil.which("chroma")
    probe = subprocess.run(
        [sys.executable, "-c", "import chromadb.cli.cli"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-c", _ENTRY]
    if found:
        return [found]
    raise ServerStartError(f"chromadb is not installed for {sys.executable}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Keep the server off the network: no telemetry, no ANSI noise in the log.
    env |= {"ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    return env


# An http_proxy in the environment must not swallow requests to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _heartbeat_ok(base_url: str) -> bool:
    try:
        with _OPENER.open(base_url + HEARTBEAT, timeout=2.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
