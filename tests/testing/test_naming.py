"""Twin names: recognisable, within each server's limit, and aged out right."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

from unifydb.testing import naming
from unifydb.testing.naming import RunId, is_stale, parse, shortened, stale_names

UTC = datetime.timezone.utc


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(process.stdout)


def test_a_name_says_run_owner_worker_and_original() -> None:
    run = RunId("261129120000", "0a7c", 4242)
    name = run.name("gw1", "Orders-DB")
    assert name == "unifydb_test_261129120000_0a7cp4242_gw1_orders_db"
    twin = parse(name)
    assert twin is not None
    assert (twin.host, twin.pid, twin.kept, twin.worker, twin.original) == (
        "0a7c",
        4242,
        False,
        "gw1",
        "orders_db",
    )
    assert twin.started == datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_run_ids_cross_to_workers_unchanged() -> None:
    run = RunId.new(keep=True)
    assert RunId.decode(run.encode()) == run
    with pytest.raises(ValueError, match="not a unifydb run id"):
        RunId.decode("gw0")


@pytest.mark.parametrize("limit", [48, 63, 64, 128])
def test_names_fit_the_server_limit_and_stay_distinct(limit: int) -> None:
    run = RunId("261129120000", "0a7c", 4194303)
    first = run.name("gw12", "customer_orders_" + "x" * 80, limit=limit)
    second = run.name("gw12", "customer_orders_" + "y" * 80, limit=limit)
    assert len(first) <= limit and len(second) <= limit
    assert first != second
    assert parse(first) is not None and parse(second) is not None


def test_other_names_are_not_twins() -> None:
    for name in ("orders", "unifydb_test_", "unifydb_test_2611291200_0a7cp1_gw0_x", "postgres"):
        assert parse(name) is None
    # Oracle lists its users in capitals
    assert parse("UNIFYDB_TEST_261129120000_0A7CP1_GW0_APP") is not None


def test_shortened_keeps_short_names_and_hashes_long_ones() -> None:
    assert shortened("orders", 20) == "orders"
    assert shortened("Ünïcode name!", 20) == "n_code_name"
    assert len(shortened("a" * 50, 10)) == 10
    assert shortened("a" * 50, 4) != shortened("b" * 50, 4)


def test_a_run_whose_process_is_gone_is_stale() -> None:
    now = datetime.datetime.now(UTC)
    stamp = now.strftime("%y%m%d%H%M%S")
    here = naming.host_tag()
    gone = parse(f"unifydb_test_{stamp}_{here}p{dead_pid()}_gw0_orders")
    alive = parse(f"unifydb_test_{stamp}_{here}p{naming.os.getppid()}_gw0_orders")
    assert gone is not None and alive is not None
    assert is_stale(gone)
    assert not is_stale(alive)


def test_kept_runs_and_other_hosts_wait_until_they_age_out() -> None:
    now = datetime.datetime.now(UTC)
    fresh = now.strftime("%y%m%d%H%M%S")
    old = (now - datetime.timedelta(hours=30)).strftime("%y%m%d%H%M%S")
    pid = dead_pid()
    here = naming.host_tag()
    elsewhere = "ffff" if here != "ffff" else "eeee"
    kept = f"unifydb_test_{fresh}_{here}k{pid}_gw0_orders"
    foreign = f"unifydb_test_{fresh}_{elsewhere}p{pid}_gw0_orders"
    aged = f"unifydb_test_{old}_{elsewhere}k{pid}_gw0_orders"
    assert stale_names([kept, foreign, aged, "orders"]) == [aged]
    assert stale_names([kept, foreign], stale_after_hours=0) == [kept, foreign]
