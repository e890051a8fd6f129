"""Health checks as orchestrated for many datasources: ``Registry.health_check``
(threads) and ``check_in_processes`` (the forked workers ``unifydb check`` runs).

Checking many datasources costs one timeout, not the sum; datasources sharing an
embedded store are checked together without racing; a check stuck where no
deadline reaches it is killed, and one whose process dies is reported. Each is a
guarantee of docs/reliability.md ("Bounded time"); single datasources' checks are
tested with their backend (tests/backends) and in tests/properties.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

import unifydb
from tests.helpers import registry_for, sqlite_file
from tests.servers.faults import closed_port, hanging_listener
from unifydb.datasources.relational.sqlite import SQLiteDatasource
from unifydb.health import check_in_processes


@pytest.mark.parametrize("strategy", ["threads", "processes"])
def test_many_hanging_datasources_cost_one_timeout_not_the_sum(
    tmp_path: Path, strategy: str
) -> None:
    """Threads: ``Registry.health_check``; processes: what ``unifydb check`` runs."""
    with (
        hanging_listener() as (h1, p1),
        hanging_listener() as (h2, p2),
        hanging_listener() as (h3, p3),
        hanging_listener() as (h4, p4),
    ):
        registry = registry_for(
            pg={"type": "postgres", "host": h1, "port": p1},
            maria={"type": "mariadb", "host": h2, "port": p2},
            mongo={"type": "mongodb", "url": f"mongodb://{h3}:{p3}/?directConnection=true"},
            milvus={"type": "milvus", "uri": f"http://{h4}:{p4}"},
            lite={"type": "sqlite", "database": sqlite_file(tmp_path / "x.db")},
            refused={"type": "mysql", "host": "127.0.0.1", "port": closed_port()},
        )
        registry.get_datasource("lite").health_check()  # warm the SQLite import
        # drivers imported before the clock starts: on a loaded machine pymilvus
        # alone can take seconds, and this is about the checks overlapping
        registry.warm_up()
        started = time.monotonic()
        if strategy == "threads":
            statuses = registry.health_check(timeout=2)
        else:
            statuses = check_in_processes(registry, timeout=2)
        elapsed = time.monotonic() - started
    assert {name: status.status for name, status in statuses.items()} == {
        "pg": "timeout",
        "maria": "timeout",
        "mongo": "timeout",
        "milvus": "timeout",
        "lite": "ok",
        "refused": "error",
    }
    assert elapsed < 2.5 + 1.0  # one timeout (and a margin), not 4 x 2 s
    # processes count the 2 s from the call, so the probe itself had what remained of it
    assert re.search(r"within (2|1\.\d+) s", statuses["pg"].detail), statuses["pg"].detail
    assert statuses["pg"].type == "postgres"
    registry.close_all()


@pytest.mark.parametrize("strategy", ["threads", "processes"])
def test_datasources_sharing_an_embedded_store_are_checked_together(
    tmp_path: Path, strategy: str
) -> None:
    """Two names on one Milvus Lite file and two on one Chroma folder, all checked at once.

    Opening one store from two threads at the same moment raced (chromadb's
    per-path system cache, Milvus Lite's per-path server), and two processes
    must not open it at all; both failed now and then before.
    """
    registry = registry_for(
        m1={"type": "milvus", "uri": str(tmp_path / "shared.db")},
        m2={"type": "milvus", "uri": str(tmp_path / "shared.db")},
        c1={"type": "chroma", "path": str(tmp_path / "chroma")},
        c2={"type": "chroma", "path": str(tmp_path / "chroma")},
        lite={"type": "sqlite", "database": sqlite_file(tmp_path / "x.db")},
    )
    for _ in range(3):
        if strategy == "threads":
            statuses = registry.health_check(timeout=30)
        else:
            statuses = check_in_processes(registry, timeout=30)
        assert {name: status.status for name, status in statuses.items()} == dict.fromkeys(
            ["m1", "m2", "c1", "c2", "lite"], "ok"
        ), {name: status.detail for name, status in statuses.items()}
        registry.close_all()


def test_check_in_processes_kills_a_stuck_check_and_reports_a_dead_one(tmp_path: Path) -> None:
    """A check stuck before its deadline starts is killed; one whose process dies is an error."""
    pid_file = tmp_path / "stuck.pid"

    @unifydb.register("ignores-deadlines")
    class StuckDatasource(SQLiteDatasource):
        def initialize(self) -> None:  # building is not bounded by the check's deadline
            pid_file.write_text(str(os.getpid()))
            time.sleep(3600)

    @unifydb.register("dies")
    class DyingDatasource(SQLiteDatasource):
        def health_check(self, timeout: float | None = None) -> Any:
            os._exit(3)

    try:
        registry = registry_for(
            stuck={"type": "ignores-deadlines", "database": ":memory:"},
            dead={"type": "dies", "database": ":memory:"},
            lite={"type": "sqlite", "database": sqlite_file(tmp_path / "x.db")},
        )
        started = time.monotonic()
        statuses = check_in_processes(registry, timeout=0.5, grace=1.0)
        elapsed = time.monotonic() - started
    finally:
        unifydb.registry.unregister("ignores-deadlines")
        unifydb.registry.unregister("dies")
    assert list(statuses) == ["stuck", "dead", "lite"]
    assert statuses["stuck"].status == "timeout"
    assert statuses["stuck"].detail == "no answer within 1.5 s"
    assert statuses["dead"].status == "error"
    assert "ended without an answer" in statuses["dead"].detail
    assert statuses["lite"].ok
    assert 1.5 <= elapsed < 5
    stuck_pid = int(pid_file.read_text())
    assert not Path(f"/proc/{stuck_pid}").exists()  # killed and reaped
