"""Run the benchmarks and print one table.

    python -m bench            # full counts (the issue's); exits 0, PASS/FAIL per row
    python -m bench --short    # small counts for CI (< ~2 min); exits 1 only if a benchmark errors
    python -m bench --only 4,8 # some benchmarks (numbers as in the table; M = memory)
    python -m bench --update-docs   # also write the table into docs/benchmarks.md

Needs the local PostgreSQL, MariaDB and Redis of the test suite (see tests/conftest.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from bench import backends, check, hotpath, many, sql, startup, vector_backends, vectors
from bench.core import FULL, REPO, SHORT, Config, Row, error_row, format_table, markdown_table

Benchmark = tuple[str, str, Callable[[Config], list[Row]]]

#: in table order
BENCHMARKS: tuple[Benchmark, ...] = tuple(
    sorted(
        (
            *startup.BENCHMARKS,
            *hotpath.BENCHMARKS,
            *sql.BENCHMARKS,
            *check.BENCHMARKS,
            *vectors.BENCHMARKS,
            *many.BENCHMARKS,
            *vector_backends.BENCHMARKS,
            *backends.BENCHMARKS,
        ),
        key=lambda item: (not item[0].isdigit(), int(item[0]) if item[0].isdigit() else 0, item[0]),
    )
)

DOCS = REPO / "docs" / "benchmarks.md"
START_MARKER = "<!-- bench:results:start -->"
END_MARKER = "<!-- bench:results:end -->"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} x {_cpu_model()}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{name} {_version(name)}"
            for name in (
                "unifydb",
                "sqlalchemy",
                "psycopg",
                "mariadb",
                "mysqlclient",
                "dynaconf",
                "msgspec",
                "chromadb",
                "pymilvus",
                "milvus-lite",
                "duckdb",
                "duckdb-engine",
                "redis",
                "numpy",
            )
        ),
        "load average at start": _load(),
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="small counts, for CI")
    mode.add_argument("--full", action="store_true", help="the issue's counts (the default)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated benchmark numbers to run, e.g. 1,2,6 (M: memory)",
    )
    parser.add_argument(
        "--milvus-queries",
        type=int,
        default=None,
        help="Milvus Lite queries per arm in benchmark 8 (full: 1,000, about 25 minutes here)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"write the machine and the table between the markers in {DOCS.relative_to(REPO)}",
    )
    return parser.parse_args(argv)


def run_all(config: Config, only: set[str]) -> list[Row]:
    rows: list[Row] = []
    for number, what, benchmark in BENCHMARKS:
        if only and number not in only:
            continue
        print(f"[bench] {number}: {what} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            produced = benchmark(config)
        except Exception as error:
            produced = [error_row(number, what, error)]
        for row in produced:
            print(
                f"[bench]   {row.key}: {row.verdict} "
                f"{'' if row.ratio is None else f'ratio {row.ratio:.3f}x '}"
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        rows += produced
    return rows


def update_docs(config: Config, info: dict[str, str], rows: list[Row], elapsed: float) -> None:
    text = DOCS.read_text()
    if START_MARKER not in text or END_MARKER not in text:
        raise SystemExit(f"{DOCS} has no {START_MARKER} ... {END_MARKER} section")
    body = "\n".join(
        [
            START_MARKER,
            "",
            f"Mode `--{config.name}`, {elapsed / 60:.1f} minutes.",
            "",
            *(f"- {key}: {value}" for key, value in info.items()),
            "",
            markdown_table(rows),
            "",
            END_MARKER,
        ]
    )
    head, _, rest = text.partition(START_MARKER)
    _, _, tail = rest.partition(END_MARKER)
    DOCS.write_text(head + body + tail)


def _compile_unifydb() -> None:
    """Write unifydb's bytecode caches, as installing a wheel does.

    The start-up benchmarks compare against SQLAlchemy and drivers whose
    ``.pyc`` files pip wrote at install time. An editable install under
    ``PYTHONDONTWRITEBYTECODE`` would otherwise compile unifydb from source in
    every measured process (~10-20 ms here), a cost no installed copy has.
    """
    import compileall

    compileall.compile_dir(REPO / "unifydb", quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse(argv)
    config = SHORT if arguments.short else FULL
    if arguments.milvus_queries is not None:
        config = dataclasses.replace(config, milvus_queries=max(1, arguments.milvus_queries))
    only = {part.strip().upper() for part in arguments.only.split(",") if part.strip()}
    unknown = only - {number for number, _, _ in BENCHMARKS}
    if unknown:
        print(f"unknown benchmark numbers: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    info = machine()
    if arguments.milvus_queries is not None:
        info["milvus queries per arm (--milvus-queries)"] = str(config.milvus_queries)
    print(f"unifydb benchmarks, --{config.name}", flush=True)
    for key, value in info.items():
        print(f"  {key}: {value}")
    _compile_unifydb()
    started = time.perf_counter()
    rows = run_all(config, only)
    elapsed = time.perf_counter() - started
    info["load average at end"] = _load()
    print()
    print(format_table(rows))
    print()
    print(
        f"{elapsed:.0f} s; load average at end {info['load average at end']}. ratio = median of "
        "per-round unifydb/raw; noise floor = median of per-round raw2/raw (± half its IQR); "
        "FAIL* = the miss is within the noise floor."
    )
    if arguments.json is not None:
        arguments.json.write_text(
            json.dumps(
                {"mode": config.name, "machine": info, "rows": [asdict(row) for row in rows]},
                indent=2,
            )
        )
    if arguments.update_docs:
        update_docs(config, info, rows, elapsed)
    errors = [row for row in rows if row.error is not None]
    if errors and config.name == "short":
        print(f"{len(errors)} benchmark(s) errored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
