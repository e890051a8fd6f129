"""``unifydb wait``, run as a container's init step runs it (a subprocess), against
the machine's PostgreSQL behind a port that opens 2 s later."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import PG_ADMIN, PG_HOST, PG_PORT, run_cli
from tests.servers.faults import closed_port, proxy_opening_later

SECRET = "Wait-S3cret-Value-7q"

pytestmark = pytest.mark.live


def settings(tmp_path: Path, **ports: int) -> Path:
    lines = []
    for name, port in ports.items():
        lines += [
            f"[datasources.{name}]",
            'type = "postgres"',
            f'host = "{PG_HOST}"',
            f"port = {port}",
            f'username = "{PG_ADMIN}"',
            'database = "postgres"',
            f'password = "{SECRET}"',  # trust auth ignores it; it must never be printed
            "timeout = 5",
            "",
        ]
    (tmp_path / "settings.toml").write_text("\n".join(lines))
    return tmp_path


def test_wait_returns_once_the_database_is_up(tmp_path: Path) -> None:
    with proxy_opening_later(PG_HOST, PG_PORT, 2.0) as late:
        started = time.monotonic()
        result = run_cli("wait", "--timeout", "60", "--interval", "0.5",
                         cwd=settings(tmp_path, app=late.port))  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "waiting for app" in result.stdout  # progress while it was down
    assert "app: up" in result.stdout and "all 1 up" in result.stdout
    assert elapsed >= 2.0 * 0.9
    assert SECRET not in result.stdout + result.stderr


def test_wait_names_what_is_still_down_at_the_timeout(tmp_path: Path) -> None:
    down = closed_port()
    cwd = settings(tmp_path, up=PG_PORT, down=down)
    started = time.monotonic()
    result = run_cli("wait", "up", "down", "--timeout", "3", "--interval", "0.5", cwd=cwd)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "up: up" in result.stdout
    assert "still down after 3 s" in result.stderr
    assert "  down (error)" in result.stderr
    assert "  up " not in result.stderr
    # the budget, plus a Python start-up and one check on a loaded machine
    assert elapsed < 3 + 20
    assert SECRET not in result.stdout + result.stderr


def test_wait_for_an_unknown_name_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("wait", "nope", "--timeout", "1", cwd=settings(tmp_path, app=PG_PORT))
    assert result.returncode == 2
    assert "nope" in result.stderr
