"""7. ``unifydb check`` over the shipped datasources, four of them hanging.

The shipped settings.toml is copied into a temp directory and configured the
way a user would, through its ``DATASOURCE_*`` variables:

* embedded: sqlite, chroma (persistent), milvus (Milvus Lite) in the temp
  directory and duckdb in memory (the shipped defaults);
* real servers: postgres on the local PostgreSQL, mysql and mariadb on the
  local MariaDB, each in a database created for the benchmark, and redis on
  the local Redis (database 13); supabase on a
  throwaway TLS PostgreSQL (``tests.servers.tls_postgres``), since supabase
  requires TLS and the local server has none;
* hanging: oracle, sqlserver (FreeTDS), mongodb and cassandra point at four
  ``tests.servers.faults.hanging_listener()`` listeners running in this process:
  they accept TCP connections and never send a byte;
* not configured (their variables unset, so not checked): athena, elasticsearch.

Measured, as subprocesses: ``unifydb check --json --timeout T`` against one
process running the same checks one after another
(``registry.health_check([name], timeout=T)`` per name). Two times of each:
until its result is printed (the JSON is complete) and until the process
exits. A process that has not exited ``check_exit_grace`` seconds after printing is
killed and reported as hung. The noise floor is the parallel command against a
second run of itself. The target (wall at most ``T + 0.5`` s) is on the time to
exit, and needs every status right: the nine reachable datasources ``ok``,
the four hanging ones ``timeout``. Row 7c runs the same command with
``--threads`` (all checks in one process) for comparison.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core import (
    PYTHON,
    REPO,
    UNIFYDB_SCRIPT,
    BenchError,
    Comparison,
    Config,
    Row,
    clean_env,
    half_iqr,
    interleave,
    ratio_row,
    seconds,
)
from bench.env import MARIADB, POSTGRES, REDIS, REDIS_DB, mariadb_database, pg_database

HANGING = ("oracle", "sqlserver", "mongodb", "cassandra", "pinecone")
#: pgvector's health check is PostgreSQL's: the machine's server answers it, extension or not
REACHABLE = (
    "sqlite", "chroma", "milvus", "qdrant", "duckdb", "postgres", "pgvector", "mysql", "mariadb",
    "supabase", "redis",
)  # fmt: skip

_SEQUENTIAL = """\
import json, sys, time
import unifydb
registry = unifydb.default_registry()
timeout = float(sys.argv[1])
results = []
for name in registry.names():
    started = time.perf_counter()
    status = registry.health_check([name], timeout=timeout)[name]
    results.append({"name": name, "status": status.status, "detail": status.detail,
                    "seconds": time.perf_counter() - started})
print(json.dumps(results), flush=True)
"""


@dataclass(frozen=True)
class Outcome:
    """One run: seconds until the result was printed, until exit (None: hung, killed)."""

    result: float
    exit: float | None
    killed_after: float
    #: user + system CPU seconds of the process
    cpu: float
    statuses: dict[str, str]
    details: dict[str, str]
    seconds: dict[str, float]

    @property
    def exit_or_kill(self) -> float:
        return self.exit if self.exit is not None else self.killed_after

    @property
    def wrong(self) -> dict[str, str | None]:
        return {
            name: self.statuses.get(name)
            for name in (*REACHABLE, *HANGING)
            if self.statuses.get(name) != ("timeout" if name in HANGING else "ok")
        }


def _run(
    argv: Sequence[str], cwd: Path, env: dict[str, str], limit: float, grace: float
) -> Outcome:
    """Run ``argv``; note when its JSON list is complete on stdout and when it exits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    printed: list[float] = []
    chunks: list[str] = []
    errors: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            chunks.append(line)
            if not printed and line.rstrip().endswith("]"):
                try:
                    json.loads("".join(chunks))
                except ValueError:
                    continue
                printed.append(time.perf_counter() - start)

    def read_stderr() -> None:
        assert process.stderr is not None
        errors.append(process.stderr.read())

    readers = [threading.Thread(target=fn, daemon=True) for fn in (read_stdout, read_stderr)]
    for reader in readers:
        reader.start()
    exited: float | None = None
    try:
        deadline = start + limit
        while time.perf_counter() < deadline and not printed and process.poll() is None:
            time.sleep(0.005)
        if not printed and process.poll() is None:
            raise BenchError(f"{argv[-3:]} printed no result within {limit:g} s")
        try:
            process.wait(timeout=grace)
            exited = time.perf_counter() - start
        except subprocess.TimeoutExpired:
            exited = None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        killed_after = time.perf_counter() - start
        for reader in readers:
            reader.join(5)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not printed:
        raise BenchError(
            f"{' '.join(argv)[-80:]} exited with {process.returncode} and printed no result: "
            f"{''.join(errors).strip()[-600:]}"
        )
    results: list[dict[str, Any]] = json.loads("".join(chunks))
    return Outcome(
        result=printed[0],
        exit=exited,
        killed_after=killed_after,
        cpu=cpu,
        statuses={item["name"]: item["status"] for item in results},
        details={item["name"]: str(item.get("detail", "")) for item in results},
        seconds={item["name"]: item["seconds"] for item in results if "seconds" in item},
    )


def _environment(
    postgres_db: str, mariadb_db: str, supabase: Any, hanging: dict[str, Any]
) -> dict[str, str]:
    variables: dict[str, str] = {
        "DATASOURCE_POSTGRES_HOST": POSTGRES.host,
        "DATASOURCE_POSTGRES_PORT": str(POSTGRES.port),
        "DATASOURCE_POSTGRES_DATABASE": postgres_db,
        "DATASOURCE_POSTGRES_USERNAME": POSTGRES.user,
        "DATASOURCE_POSTGRES_PASSWORD": "",
        "DATASOURCE_PGVECTOR_HOST": POSTGRES.host,
        "DATASOURCE_PGVECTOR_PORT": str(POSTGRES.port),
        "DATASOURCE_PGVECTOR_DATABASE": postgres_db,
        "DATASOURCE_PGVECTOR_USERNAME": POSTGRES.user,
        "DATASOURCE_PGVECTOR_PASSWORD": "",
        "DATASOURCE_SUPABASE_HOST": supabase.host,
        "DATASOURCE_SUPABASE_PORT": str(supabase.port),
        "DATASOURCE_SUPABASE_DATABASE": supabase.database,
        "DATASOURCE_SUPABASE_USERNAME": supabase.user,
        "DATASOURCE_SUPABASE_PASSWORD": supabase.password,
        "DATASOURCE_REDIS_HOST": REDIS.host,
        "DATASOURCE_REDIS_PORT": str(REDIS.port),
        "DATASOURCE_REDIS_DB": str(REDIS_DB),
    }
    for name in ("MYSQL", "MARIADB"):
        variables |= {
            f"DATASOURCE_{name}_HOST": MARIADB.host,
            f"DATASOURCE_{name}_PORT": str(MARIADB.port),
            f"DATASOURCE_{name}_DATABASE": mariadb_db,
            f"DATASOURCE_{name}_USERNAME": MARIADB.user,
            f"DATASOURCE_{name}_PASSWORD": "",
        }
    pinecone = hanging["pinecone"]
    variables |= {  # the index host: TLS to a listener that never answers
        "DATASOURCE_PINECONE_API_KEY": "bench-key",
        "DATASOURCE_PINECONE_HOST": f"{pinecone.host}:{pinecone.port}",
    }
    oracle, sqlserver = hanging["oracle"], hanging["sqlserver"]
    mongodb, cassandra = hanging["mongodb"], hanging["cassandra"]
    variables |= {
        "DATASOURCE_ORACLE_HOST": oracle.host,
        "DATASOURCE_ORACLE_PORT": str(oracle.port),
        "DATASOURCE_ORACLE_SERVICE": "bench",
        "DATASOURCE_ORACLE_USERNAME": "bench",
        "DATASOURCE_ORACLE_PASSWORD": "bench",
        "DATASOURCE_SQLSERVER_HOST": sqlserver.host,
        "DATASOURCE_SQLSERVER_PORT": str(sqlserver.port),
        "DATASOURCE_SQLSERVER_DATABASE": "bench",
        "DATASOURCE_SQLSERVER_USERNAME": "bench",
        "DATASOURCE_SQLSERVER_PASSWORD": "bench",
        "DATASOURCE_SQLSERVER_DRIVER": "FreeTDS",
        "DATASOURCE_MONGODB_URL": f"mongodb://{mongodb.host}:{mongodb.port}/?directConnection=true",
        "DATASOURCE_MONGODB_DATABASE": "bench",
        "DATASOURCE_CASSANDRA_HOSTS": cassandra.host,
        "DATASOURCE_CASSANDRA_PORT": str(cassandra.port),
        "DATASOURCE_CASSANDRA_KEYSPACE": "bench",
        "DATASOURCE_CASSANDRA_USERNAME": "bench",
        "DATASOURCE_CASSANDRA_PASSWORD": "bench",
    }
    return clean_env(**variables)


def _comparison(
    parallel: list[float], sequential: list[float], parallel2: list[float]
) -> Comparison:
    noise = [p2 / p for p2, p in zip(parallel2, parallel, strict=True)]
    return Comparison(
        unifydb=statistics.median(parallel),
        baseline=statistics.median(sequential),
        ratio=statistics.median(p / s for p, s in zip(parallel, sequential, strict=True)),
        noise=statistics.median(noise),
        spread=half_iqr(noise),
    )


def check_with_hanging(config: Config) -> list[Row]:
    from tests.servers.faults import hanging_listener
    from tests.servers.tls_postgres import tls_postgres

    timeout = config.check_timeout
    limit = 10 * timeout + 60
    with ExitStack() as stack:
        postgres_db = stack.enter_context(pg_database())
        mariadb_db = stack.enter_context(mariadb_database())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unifydb-bench-")))
        supabase = stack.enter_context(tls_postgres(folder / "supabase-pg"))
        hanging = {name: stack.enter_context(hanging_listener()) for name in HANGING}
        work = folder / "work"
        work.mkdir()
        shutil.copy(REPO / "settings.toml", work / "settings.toml")
        # the shipped SQLite file, as `unifydb migrate` would have made it: a check
        # reports a missing one and creates nothing
        (work / ".unifydb").mkdir()
        sqlite3.connect(work / ".unifydb" / "sqlite.db").close()
        (work / "sequential.py").write_text(_SEQUENTIAL)
        env = _environment(postgres_db, mariadb_db, supabase, hanging)
        check_argv = [UNIFYDB_SCRIPT, "check", "--json", "--timeout", f"{timeout:g}"]
        threads_argv = [*check_argv, "--threads"]
        sequential_argv = [PYTHON, "sequential.py", f"{timeout:g}"]

        grace = config.check_exit_grace
        if config.check_rounds > 1:  # warm-up: pyc files, the chroma folder, the milvus file
            _run(check_argv, work, env, limit, grace)
        samples = interleave(
            {
                "parallel": lambda: _run(check_argv, work, env, limit, grace),
                "sequential": lambda: _run(sequential_argv, work, env, limit, grace),
                "parallel2": lambda: _run(check_argv, work, env, limit, grace),
                "threads": lambda: _run(threads_argv, work, env, limit, grace),
            },
            config.check_rounds,
            warmup=False,
        )
    parallel = samples["parallel"] + samples["parallel2"]
    exits = _comparison(
        *([o.exit_or_kill for o in samples[arm]] for arm in ("parallel", "sequential", "parallel2"))
    )
    results = _comparison(
        *([o.result for o in samples[arm]] for arm in ("parallel", "sequential", "parallel2"))
    )
    hung = sum(o.exit is None for o in parallel)
    wrong = [o.wrong for o in parallel if o.wrong]
    passed = not hung and not wrong and exits.unifydb <= config.check_target
    label = (
        f"`unifydb check --timeout {timeout:g}`, {len(REACHABLE) + len(HANGING)} sources, "
        f"{len(HANGING)} hang"
    )
    row = ratio_row(
        "7",
        f"{label}: wall to exit vs sequential",
        exits,
        target=None,
        unit=seconds,
        passed=passed,
    )
    row.target = f"<= {config.check_target:g} s wall"
    row.maybe_noise = (
        not passed and not hung and not wrong and exits.unifydb <= config.check_target * exits.noise
    )
    if hung:
        row.unifydb = f">= {exits.unifydb:.1f} s"
        row.notes.append(
            f"{hung} of {len(parallel)} `unifydb check` runs did not exit within {grace:g} s of "
            "printing their result and were killed (counted as the time they were killed)"
        )
    sequential_hung = sum(o.exit is None for o in samples["sequential"])
    if sequential_hung:
        row.notes.append(f"{sequential_hung} sequential run(s) hung at exit too and were killed")
    tally: dict[str, Counter[str]] = {}
    details: dict[tuple[str, str], str] = {}
    for outcome in parallel:
        for name, status in outcome.statuses.items():
            tally.setdefault(name, Counter())[status] += 1
            if name in outcome.wrong:
                details.setdefault((name, status), outcome.details.get(name, ""))
    if wrong:
        row.notes.append(
            f"wrong statuses in {len(wrong)} of {len(parallel)} runs (want {', '.join(REACHABLE)} "
            f"ok and {', '.join(HANGING)} timeout): "
            + "; ".join(
                f"{name} {dict(counts)}"
                for name, counts in tally.items()
                if set(counts) != {"timeout" if name in HANGING else "ok"}
            )
        )
        for (name, status), detail in details.items():
            row.notes.append(f"{name} {status}: {detail[:300]}")
    check_cpu = statistics.median(o.cpu for o in parallel)
    threads_cpu = statistics.median(o.cpu for o in samples["threads"])
    sequential_cpu = statistics.median(o.cpu for o in samples["sequential"])
    row.notes.append(
        f"CPU (user+sys) per run: `unifydb check` {check_cpu:.2f} s (a pool of forked "
        f"workers), `--threads` {threads_cpu:.2f} s, sequential {sequential_cpu:.2f} s, "
        f"on {os.cpu_count()} CPUs: mostly importing drivers"
    )
    per_check: dict[str, list[float]] = {}
    for outcome in samples["sequential"]:
        for name, value in outcome.seconds.items():
            per_check.setdefault(name, []).append(value)
    slowest = sorted(((statistics.median(v), name) for name, v in per_check.items()), reverse=True)
    row.notes.append(
        "baseline = one process running the same checks one after another; noise floor = "
        "the parallel command against a second run of itself; sequential per-check seconds: "
        + ", ".join(f"{name} {value:.2f}" for value, name in slowest)
    )
    result_row = ratio_row(
        "7b",
        f"{label}: until result printed",
        results,
        target=None,
        unit=seconds,
    )
    threads_exits = [o.exit_or_kill for o in samples["threads"]]
    sequential_exits = [o.exit_or_kill for o in samples["sequential"]]
    threads = Comparison(
        unifydb=statistics.median(threads_exits),
        baseline=exits.baseline,
        ratio=statistics.median(
            t / s for t, s in zip(threads_exits, sequential_exits, strict=True)
        ),
        noise=exits.noise,  # the command against itself, as for 7
        spread=exits.spread,
    )
    threads_row = ratio_row(
        "7c",
        f"{label}: `--threads` (one process), wall to exit vs sequential",
        threads,
        target=None,
        unit=seconds,
    )
    threads_wrong = [o.wrong for o in samples["threads"] if o.wrong]
    threads_row.notes.append(
        "the same command checking in threads of one process, as `unifydb.health_check()` "
        f"does in an application; its timeout counts after each driver has loaded; "
        f"wrong statuses in {len(threads_wrong)} of {len(samples['threads'])} runs"
    )
    return [row, result_row, threads_row]


BENCHMARKS = (("7", "unifydb check, four datasources hanging", check_with_hanging),)
