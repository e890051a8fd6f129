"""examples/orders_app under pytest-xdist: each worker its own twins, nothing
left on the servers afterwards, and what a SIGKILLed run left is dropped by
the next run. The servers are listed directly: the machine's PostgreSQL and
MariaDB, and a MongoDB-wire server started for this module."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, clean_environment, run_command, wait_until
from tests.testing.support import mariadb_databases, pg_databases
from unifydb.testing import naming

EXAMPLE = REPO / "examples" / "orders_app"


@pytest.fixture(scope="module")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo")) as server:
        yield server.url()


def twins_on_servers(mongo_url: str) -> set[str]:
    from pymongo import MongoClient

    with MongoClient(mongo_url, serverSelectionTimeoutMS=10_000) as client:
        mongo = set(client.list_database_names())
    names = pg_databases() | mariadb_databases() | mongo
    return {name for name in names if naming.parse(name) is not None}


def run_example(mongo_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(
        sys.executable,
        "-m",
        "pytest",
        *args,
        cwd=EXAMPLE,
        env={"ORDERS_MONGO_URL": mongo_url},
        timeout=600,
    )


def test_two_workers_each_get_twins_and_leave_nothing(mongo_url: str) -> None:
    before = twins_on_servers(mongo_url)
    result = run_example(mongo_url, "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b11 passed\b", result.stdout), result.stdout
    workers = set(re.findall(r"^\w+ \(\w+, (gw\d)\):", result.stdout, re.MULTILINE))
    assert workers == {"gw0", "gw1"}, result.stdout
    assert twins_on_servers(mongo_url) - before == set()


HANGING_TEST = """
import os, time
from pathlib import Path

import pytest
import unifydb

@pytest.mark.parametrize("n", [0, 1])
@pytest.mark.unifydb(datasources=["orders", "inventory", "events"])
def test_hang(n):
    unifydb.get_datasource("events").database["marks"].insert_one({"n": n})
    Path(os.environ["HANG_READY"], str(os.getpid())).touch()
    time.sleep(300)
"""


def test_twins_of_a_killed_run_are_dropped_by_the_next(mongo_url: str, tmp_path: Path) -> None:
    before = twins_on_servers(mongo_url)
    (tmp_path / "test_hang.py").write_text(textwrap.dedent(HANGING_TEST))
    ready = tmp_path / "ready"
    ready.mkdir()
    environment = clean_environment({"ORDERS_MONGO_URL": mongo_url, "HANG_READY": str(ready)})
    command = [sys.executable, "-m", "pytest", "-n", "2", "-c", str(EXAMPLE / "pytest.ini")]
    process = subprocess.Popen(
        [*command, "--rootdir", str(EXAMPLE), str(tmp_path / "test_hang.py")],
        cwd=EXAMPLE,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: len(list(ready.iterdir())) == 2, timeout=240)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the controller and both workers
        process.wait()
    left = twins_on_servers(mongo_url) - before
    owner = f"{naming.host_tag()}p{process.pid}_"
    kinds: dict[str, set[str]] = {}
    for name in left:
        twin: Any = naming.parse(name)
        assert owner in name, name
        kinds.setdefault(twin.original, set()).add(twin.worker)
    # both workers' databases, and the PostgreSQL template they cloned
    assert kinds == {
        "orders": {"gw0", "gw1", "tpl"},
        "inventory": {"gw0", "gw1"},
        "events": {"gw0", "gw1"},
    }

    result = run_example(mongo_url, "-k", "test_place_order")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "swept" in result.stdout
    assert twins_on_servers(mongo_url) - before == set()
