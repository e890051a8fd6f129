"""What unifydb's pytest plugin costs: per-worker setup, and per-test rollback.

    python -m bench.testing [--rounds N] [--tests N] [--mongo-url URL]

1. **Setup per worker and datasource**: a fresh run makes each datasource's
   twin as its first test would (server checked, leftovers swept, created,
   migrated; PostgreSQL also the second worker's way: a clone of the migrated
   template). The median over rounds of the plugin's own step timings.
   The migrations have ``REVISIONS`` revisions, each creating a table.
2. **Per test, rollback isolation vs none**: one "test" is what a typical test
   does: its session adds a row and flushes, the code under test commits a row
   in a session of its own, the test reads the count. ``isolated`` runs it in
   the plugin's joined transaction (begun, then rolled back), ``plain`` and
   ``plain2`` (two identical arms, the noise floor) commit for real. Arms
   interleave round by round (see bench/core.py); the table shows per-test
   milliseconds, their difference, and the paired ratio with the noise floor.

Needs the machine's PostgreSQL and MariaDB (like the benchmarks); MongoDB
only with ``--mongo-url``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import compare, interleave
from bench.env import MARIADB, POSTGRES

_REVISION = """
import sqlalchemy as sa
from alembic import op
revision = "{revision}"
down_revision = {previous}
branch_labels = None
depends_on = None
def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50)))
    op.create_index("ix_{table}_name", "{table}", ["name"])
def downgrade():
    op.drop_table("{table}")
"""


def settings(folder: Path, mongo_url: str | None) -> dict[str, dict[str, Any]]:
    server = {"host": POSTGRES.host, "port": POSTGRES.port, "username": POSTGRES.user}
    found: dict[str, dict[str, Any]] = {
        "postgres": {"type": "postgres", "database": "app", **server},
        "mariadb": {
            "type": "mariadb",
            "host": MARIADB.host,
            "port": MARIADB.port,
            "username": MARIADB.user,
            "database": "app",
        },
        "sqlite": {"type": "sqlite", "database": str(folder / "app.sqlite3")},
        "chroma": {"type": "chroma", "path": str(folder / "chroma")},
    }
    if mongo_url:
        found["mongodb"] = {"type": "mongodb", "url": mongo_url, "database": "app"}
    return found


#: revisions of the benchmark's migrations, each creating a table with an index
REVISIONS = 20


def migrations(folder: Path) -> Path:
    directory = folder / "migrations"
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    (directory / "env.py").write_text(
        "from unifydb.migrations import run_migrations\nrun_migrations()\n"
    )
    for number in range(1, REVISIONS + 1):
        previous = f'"{number - 1:04d}"' if number > 1 else "None"
        table = "items" if number == 1 else f"table_{number}"
        text = _REVISION.format(revision=f"{number:04d}", previous=previous, table=table)
        (directory / "versions" / f"{number:04d}.py").write_text(text)
    return directory


def registry(folder: Path, datasources: dict[str, Any], worker: str, **options: Any) -> Any:
    from unifydb.testing.workspace import RunOptions, TwinRegistry

    return TwinRegistry(
        RunOptions(
            settings={"datasources": datasources},
            worker=worker,
            folder=folder / "twins",
            migrate=True,
            migrations={"*": migrations(folder)},
            **options,
        )
    )


def setup_costs(folder: Path, rounds: int, mongo_url: str | None) -> dict[str, list[float]]:
    """Seconds to the first use of each datasource in a fresh worker, per round."""
    from unifydb.testing.naming import RunId

    datasources = settings(folder, mongo_url)
    costs: dict[str, list[float]] = {}
    for _ in range(rounds):
        first = registry(folder, datasources, "gw0")
        try:
            for name in datasources:
                first.get_datasource(name)
                seconds = first.reports[name].seconds
                costs.setdefault(name, []).append(seconds["total"])
        finally:
            first.finish(print)
        run = RunId.new()
        workers = [
            registry(folder, {"postgres": datasources["postgres"]}, worker, run=run)
            for worker in ("gw0", "gw1")
        ]
        try:
            for each in workers:
                each.run_options.use_templates = True
                each.get_datasource("postgres")
            maker, cloner = (each.reports["postgres"].seconds for each in workers)
            costs.setdefault("postgres, 1st worker (template)", []).append(maker["total"])
            costs.setdefault("postgres, next workers (clone)", []).append(cloner["total"])
        finally:
            for each in workers:
                each.finish(print)
    return costs


def one_test(twins: Any, name: str, isolated: bool) -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

    items = Table(
        "items",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(50)),
    )
    if isolated:
        from unifydb.testing.isolation import JoinedTransactions

        twins.joined = JoinedTransactions(twins)
    try:
        options = {"join_transaction_mode": "create_savepoint"} if isolated else {}
        with twins.sessionmaker(name, **options)() as session:
            session.execute(insert(items).values(name="fixture"))
            if isolated:
                session.flush()
            else:
                session.commit()  # else SQLite's writer lock would block the service
            with twins.session(name) as service:  # the code under test commits
                service.execute(insert(items).values(name="service"))
            session.scalar(select(func.count()).select_from(items))
    finally:
        if isolated:
            joined, twins.joined = twins.joined, None
            joined.end()


def rollback_costs(
    folder: Path, rounds: int, tests: int
) -> dict[str, tuple[float, float, float, float]]:
    """Per SQL type: (isolated ms, plain ms, ratio, noise floor) per test."""
    datasources = settings(folder, None)
    sql = {name: datasources[name] for name in ("postgres", "mariadb", "sqlite")}
    twins = registry(folder, sql, "gw0")
    results: dict[str, tuple[float, float, float, float]] = {}
    try:
        for name in sql:
            twins.get_engine(name)

            def arm(isolated: bool, name: str = name) -> Callable[[], float]:
                def run() -> float:
                    started = time.perf_counter()
                    for _ in range(tests):
                        one_test(twins, name, isolated)
                    return (time.perf_counter() - started) / tests * 1000

                return run

            samples = interleave(
                {"isolated": arm(True), "plain": arm(False), "plain2": arm(False)}, rounds
            )
            found = compare(samples["isolated"], samples["plain"], samples["plain2"])
            results[name] = (found.unifydb, found.baseline, found.ratio, found.noise)
    finally:
        twins.finish(print)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.testing", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=50, help="tests per arm and round")
    parser.add_argument("--mongo-url", default=None)
    args = parser.parse_args(argv)
    POSTGRES.require()
    MARIADB.require()
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
        costs = setup_costs(Path(folder), args.rounds, args.mongo_url)
        print(f"setup per worker and datasource (median of {args.rounds} runs, seconds)")
        for name, values in costs.items():
            print(f"  {name:<34} {statistics.median(values):7.3f}  (min {min(values):.3f})")
        rollback = rollback_costs(Path(folder), args.rounds, args.tests)
    print(f"per test, rollback isolation vs none ({args.tests} tests x {args.rounds} rounds)")
    header = ("type", "isolated ms", "plain ms", "diff ms", "ratio", "noise")
    print("  {:<10} {:>11} {:>9} {:>8} {:>6} {:>6}".format(*header))
    for name, (isolated, plain, ratio, noise) in rollback.items():
        print(
            f"  {name:<10} {isolated:11.3f} {plain:9.3f} {isolated - plain:8.3f} "
            f"{ratio:6.2f} {noise:6.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
