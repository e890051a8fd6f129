"""T. Many datasources: ``unifydb check`` over thousands, datasources added at
runtime, and tenants of a template.

* T1a/T1b: ``unifydb check --json --timeout 30`` over ``many_datasources`` SQLite
  files (each one exists: a check creates nothing), with the default worker
  pool of processes against ``--threads`` (every check in one process) and a
  second ``--threads`` run as the noise floor. T1a is the wall time to exit
  (target: at most 1.2x ``--threads``); T1b the peak RSS of the whole process
  tree, sampled every 10 ms from /proc (target: at most 2x ``--threads``).
* T2: ``Registry.add(name, settings)`` and a first ``SELECT 1`` per
  datasource, against ``sqlalchemy.create_engine(url)`` and the same query;
  time per datasource. Informational: what the registry costs a tenant that
  joins at runtime.
* T3: ``tenant_count`` tenants of one SQLite template with ``max_open = 50``,
  each touched once in turn with a ``SELECT 1``: the peak number of open pools
  (target: 50) and the process's RSS after the first fifth against after the
  last (target: at most 1.1x: memory stays flat).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.core import (
    RAW,
    RAW2,
    UNIFYDB,
    UNIFYDB_SCRIPT,
    BenchError,
    Comparison,
    Config,
    Row,
    clean_env,
    compare,
    interleave,
    mib,
    ratio_row,
    seconds,
    us,
)

CHECK_TIMEOUT = 30.0


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                pages = int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _check(argv: list[str], cwd: Path) -> tuple[float, int, dict[str, int]]:
    """(wall seconds, peak tree RSS in KiB, statuses counted) of one check command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate(timeout=600)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise BenchError(f"{' '.join(argv[1:4])} exited {process.returncode}: {stderr[-500:]}")
    statuses: dict[str, int] = {}
    for item in json.loads(stdout):
        statuses[item["status"]] = statuses.get(item["status"], 0) + 1
    return wall, peak, statuses


def check_many(config: Config) -> list[Row]:
    count = config.many_datasources
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-many-") as folder:
        work = Path(folder)
        lines = []
        for index in range(count):
            path = work / f"db{index}.sqlite"
            sqlite3.connect(path).close()
            lines.append(f'[datasources.lite{index}]\ntype = "sqlite"\ndatabase = "{path}"\n')
        (work / "settings.toml").write_text("\n".join(lines))
        base = [UNIFYDB_SCRIPT, "check", "--json", "--timeout", f"{CHECK_TIMEOUT:g}"]
        samples = interleave(
            {
                UNIFYDB: lambda: _check(base, work),
                RAW: lambda: _check([*base, "--threads"], work),
                RAW2: lambda: _check([*base, "--threads"], work),
            },
            config.many_rounds,
            warmup=False,
        )
    for arm, outcomes in samples.items():
        for _, _, statuses in outcomes:
            if statuses != {"ok": count}:
                raise BenchError(f"{arm}: statuses {statuses}, want {count} ok")
    walls = compare(*([o[0] for o in samples[arm]] for arm in (UNIFYDB, RAW, RAW2)))
    rss = compare(*([float(o[1]) for o in samples[arm]] for arm in (UNIFYDB, RAW, RAW2)))
    label = f"`unifydb check` over {count:,} SQLite datasources"
    wall_row = ratio_row("T1a", f"{label}: wall, worker pool vs --threads", walls, target=1.2,
                         unit=seconds)  # fmt: skip
    rss_row = ratio_row("T1b", f"{label}: peak RSS of the process tree vs --threads", rss,
                        target=2.0, unit=mib)  # fmt: skip
    wall_row.notes.append(
        f"default workers on {os.cpu_count()} CPUs; --threads checks in one process; noise "
        "floor = a second --threads run"
    )
    return [wall_row, rss_row]


def add_and_first_query(config: Config) -> list[Row]:
    import sqlalchemy
    from sqlalchemy import text

    import unifydb

    count = config.many_added
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-add-") as folder:
        work = Path(folder)
        rounds: dict[str, int] = {UNIFYDB: 0, RAW: 0, RAW2: 0}

        def per_datasource(arm: str) -> float:
            rounds[arm] += 1
            paths = [work / f"{arm}-{rounds[arm]}-{index}.db" for index in range(count)]
            registry = unifydb.Registry({"datasources": {}})
            engines: list[Any] = []
            started = time.perf_counter()
            for index, path in enumerate(paths):
                if arm == UNIFYDB:
                    registry.add(f"t{index}", {"type": "sqlite", "database": str(path)})
                    engine = registry.get_engine(f"t{index}")
                else:
                    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
                    engines.append(engine)
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1")).scalar_one()
            elapsed = (time.perf_counter() - started) / count
            registry.close_all()
            for engine in engines:
                engine.dispose()
            return elapsed

        samples = interleave(
            {arm: functools.partial(per_datasource, arm) for arm in (UNIFYDB, RAW, RAW2)},
            config.many_rounds,
        )
    comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
    row = ratio_row(
        "T2",
        f"Registry.add + first SELECT 1, per datasource ({count:,} SQLite files) vs "
        "create_engine + first SELECT 1",
        comparison,
        target=None,
        unit=us,
    )
    row.notes.append(
        "add validates the settings, checks the driver and builds the engine; the first "
        "query connects (foreign_keys pragma on unifydb's side)"
    )
    return [row]


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def tenants(config: Config) -> list[Row]:
    from sqlalchemy import text

    import unifydb

    count = config.tenant_count
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-tenants-") as folder:
        registry = unifydb.Registry(
            {
                "datasources": {
                    "tenant": {
                        "type": "sqlite",
                        "database": f"{folder}/tenant_{{tenant}}.db",
                        "template": True,
                        "max_open": 50,
                    }
                }
            }
        )
        peak_open, fifth_rss = 0, 0
        per_tenant: list[float] = []
        for index in range(count):
            started = time.perf_counter()
            with registry.tenant("tenant", f"t{index}").get_engine().connect() as connection:
                connection.execute(text("SELECT 1")).scalar_one()
            per_tenant.append(time.perf_counter() - started)
            peak_open = max(peak_open, len(registry.open_tenants("tenant")))
            if index == count // 5:
                fifth_rss = _rss_kib()
        last_rss = _rss_kib()
        registry.close_all()
    growth = last_rss / fifth_rss
    comparison = Comparison(
        unifydb=float(last_rss), baseline=float(fifth_rss), ratio=growth, noise=1.0, spread=0.0
    )
    row = ratio_row(
        "T3",
        f"{count:,} tenants of a template with max_open = 50: RSS after all vs after a fifth",
        comparison,
        target=1.1,
        unit=mib,
        passed=growth <= 1.1 and peak_open <= 50,
    )
    row.notes.append(
        f"peak open tenant pools {peak_open} (max_open 50); median "
        f"{statistics.median(per_tenant) * 1e3:.2f} ms per tenant (first use: build, connect, "
        "query; from the 51st on, each evicts the least recently used)"
    )
    return [row]


BENCHMARKS = (
    ("T1", "unifydb check over thousands of datasources", check_many),
    ("T2", "Registry.add and a first query", add_and_first_query),
    ("T3", "tenants of a template, max_open = 50", tenants),
)
