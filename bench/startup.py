"""Start-up costs, each measured in fresh subprocesses (stdout and stderr piped).

1. ``python -c "import unifydb"`` against ``python -c "pass"``, and which
   modules that import loads;
2. ``unifydb list`` with the shipped settings.toml against
   ``python -c "import sqlalchemy"``;
6. the first query after process start on PostgreSQL: ``get_engine`` + connect +
   ``SELECT 1`` against ``create_engine`` (same URL and keyword arguments) +
   the same, as the subprocess's wall time and as the time inside the process
   from its first line (before importing unifydb or sqlalchemy) to the result;
M. peak RSS (VmHWM) of a process that initialized every embedded datasource (SQLite
   file, persistent Chroma, Milvus Lite) against the raw clients doing the same.

Every subprocess runs in an empty temporary directory (or one holding just the
settings file it needs), with no ``UNIFYDB_*``/``DATASOURCE_*`` variables.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import textwrap
from pathlib import Path

from bench.core import (
    PYTHON,
    RAW,
    RAW2,
    REPO,
    UNIFYDB,
    UNIFYDB_SCRIPT,
    BenchError,
    Config,
    Row,
    compare,
    interleave,
    mib,
    ms,
    python_c,
    ratio_row,
    run_process,
)
from bench.env import engine_arguments, pg_database, pg_settings, sql_datasource

#: top-level packages `import unifydb` must not load
HEAVY_MODULES = (
    "sqlalchemy",
    "dynaconf",
    "msgspec",
    "click",
    "rich",
    "alembic",
    "numpy",
    # drivers
    "sqlite3",
    "psycopg",
    "psycopg_binary",
    "MySQLdb",
    "mariadb",
    "asyncmy",
    "aiosqlite",
    "oracledb",
    "pyodbc",
    "pymssql",
    "pymongo",
    "cassandra",
    "chromadb",
    "pymilvus",
    "milvus_lite",
    "grpc",
)

IMPORT_TARGET_MS = 15.0
LIST_TARGET = 1.5
FIRST_QUERY_TARGET = 1.10


# ----------------------------------------------------------------------------- 1


def import_unifydb(config: Config) -> list[Row]:
    """1. import unifydb"""
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
        cwd = Path(folder)
        samples = interleave(
            {
                UNIFYDB: lambda: run_process(python_c("import unifydb"), cwd=cwd).wall,
                RAW: lambda: run_process(python_c("pass"), cwd=cwd).wall,
                RAW2: lambda: run_process(python_c("pass"), cwd=cwd).wall,
            },
            config.startup_rounds,
        )
        listing = run_process(
            python_c("import sys, unifydb\nprint('\\n'.join(sorted(sys.modules)))"), cwd=cwd
        ).stdout.split()
    comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
    added = statistics.median(u - r for u, r in zip(samples[UNIFYDB], samples[RAW], strict=True))
    row = ratio_row(
        "1",
        "python -c 'import unifydb' vs -c 'pass'",
        comparison,
        target=None,
        unit=ms,
        passed=added * 1e3 <= IMPORT_TARGET_MS,
    )
    row.target = f"<= +{IMPORT_TARGET_MS:g} ms"
    noise_added = statistics.median(
        r2 - r for r2, r in zip(samples[RAW2], samples[RAW], strict=True)
    )
    row.maybe_noise = not row.passed and added * 1e3 <= IMPORT_TARGET_MS + abs(noise_added) * 1e3
    row.notes.append(
        f"import adds {added * 1e3:+.1f} ms (median of per-round differences; "
        f"raw/raw difference {noise_added * 1e3:+.1f} ms)"
    )
    heavy = sorted({module for module in listing if module.split(".")[0] in HEAVY_MODULES})
    unifydb_modules = [module for module in listing if module.startswith("unifydb")]
    modules = Row(
        key="1b",
        what="modules loaded by 'import unifydb'",
        unifydb=f"{len(heavy)} heavy" if heavy else "no heavy module",
        baseline=f"{len(listing)} modules in all",
        target="none of them",
        passed=not heavy,
    )
    modules.notes.append(
        "checked: " + ", ".join(HEAVY_MODULES) + f"; unifydb modules: {', '.join(unifydb_modules)}"
    )
    if heavy:
        modules.notes.append("LOADED: " + ", ".join(heavy[:40]))
    return [row, modules]


# ----------------------------------------------------------------------------- 2


def unifydb_list(config: Config) -> list[Row]:
    """2. unifydb list"""
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
        cwd = Path(folder)
        shutil.copy(REPO / "settings.toml", cwd / "settings.toml")
        listed = run_process([UNIFYDB_SCRIPT, "list"], cwd=cwd).stdout
        if "postgres" not in listed or "milvus" not in listed:
            raise BenchError(f"unexpected `unifydb list` output: {listed[:300]!r}")
        samples = interleave(
            {
                UNIFYDB: lambda: run_process([UNIFYDB_SCRIPT, "list"], cwd=cwd).wall,
                RAW: lambda: run_process(python_c("import sqlalchemy"), cwd=cwd).wall,
                RAW2: lambda: run_process(python_c("import sqlalchemy"), cwd=cwd).wall,
            },
            config.startup_rounds,
        )
    comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
    row = ratio_row(
        "2",
        "`unifydb list` vs python -c 'import sqlalchemy'",
        comparison,
        target=LIST_TARGET,
        unit=ms,
    )
    row.notes.append(f"the console script {UNIFYDB_SCRIPT}, stdout piped (plain-text table)")
    return [row]


# ----------------------------------------------------------------------------- 6

_UNIFYDB_FIRST_QUERY = """\
import time
_t0 = time.perf_counter()
import unifydb
from sqlalchemy import text
with unifydb.get_engine("bench").connect() as _connection:
    _value = _connection.execute(text("SELECT 1")).scalar_one()
_elapsed = time.perf_counter() - _t0
assert _value == 1
print(_elapsed)
"""

_RAW_FIRST_QUERY = """\
import time
_t0 = time.perf_counter()
from sqlalchemy import create_engine, text
_engine = create_engine({url!r}, **{kwargs!r})
with _engine.connect() as _connection:
    _value = _connection.execute(text("SELECT 1")).scalar_one()
_elapsed = time.perf_counter() - _t0
assert _value == 1
print(_elapsed)
"""


def first_query(config: Config) -> list[Row]:
    """6. first query after process start (PostgreSQL)"""
    import unifydb

    with pg_database() as database, tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
        cwd = Path(folder)
        settings = pg_settings(database)
        lines = ["[datasources.bench]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        (cwd / "settings.toml").write_text("\n".join(lines) + "\n")
        # the raw script gets exactly the URL and create_engine arguments unifydb uses
        with unifydb.Registry(cwd / "settings.toml") as registry:
            datasource = sql_datasource(registry, "bench")
            url = datasource.url().render_as_string(hide_password=False)
            kwargs = engine_arguments(datasource)
        raw_code = _RAW_FIRST_QUERY.format(url=url, kwargs=kwargs)

        def arm(code: str) -> tuple[float, float]:
            finished = run_process(python_c(code), cwd=cwd)
            return finished.wall, float(finished.stdout.strip().splitlines()[-1])

        samples = interleave(
            {
                UNIFYDB: lambda: arm(_UNIFYDB_FIRST_QUERY),
                RAW: lambda: arm(raw_code),
                RAW2: lambda: arm(raw_code),
            },
            config.startup_rounds,
        )
    rows = []
    for index, (key, label) in enumerate((("6a", "process wall"), ("6b", "in-process"))):
        comparison = compare(
            *([sample[index] for sample in samples[arm_name]] for arm_name in (UNIFYDB, RAW, RAW2))
        )
        rows.append(
            ratio_row(
                key,
                f"PG first query, get_engine vs create_engine: {label}",
                comparison,
                target=FIRST_QUERY_TARGET,
                unit=ms,
            )
        )
    rows[0].notes.append(
        "one fresh `python -c` per measurement; unifydb reads settings.toml in the cwd, the raw "
        f"script calls create_engine(url, **{kwargs!r})"
    )
    return rows


# ----------------------------------------------------------------------------- memory

#: VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's RSS at fork time and
#: survives exec, so it would report the (large) benchmark process instead
_PEAK = """\
import json, resource, sys


def peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


"""

_UNIFYDB_EMBEDDED = (
    _PEAK
    + """\
import unifydb
folder = sys.argv[1]
# a health check never creates a SQLite file (the application's first connect does)
import sqlite3
sqlite3.connect(folder + "/sqlite.db").close()
registry = unifydb.Registry(settings={"datasources": {
    "sqlite": {"type": "sqlite", "database": folder + "/sqlite.db"},
    "chroma": {"type": "chroma", "path": folder + "/chroma"},
    "milvus": {"type": "milvus", "uri": folder + "/milvus.db"},
}})
with registry.get_engine("sqlite").connect():  # creates the file, as the raw side does
    pass
for name in ("sqlite", "chroma", "milvus"):
    registry.get_client(name)
    registry.get_datasource(name).health_check().raise_for_status()
print(json.dumps({"peak_kib": peak_kib()}))
registry.close_all()
"""
)

_RAW_EMBEDDED = (
    _PEAK
    + """\
folder = sys.argv[1]
from sqlalchemy import create_engine, text
engine = create_engine("sqlite:///" + folder + "/sqlite.db")
with engine.connect() as connection:
    connection.execute(text("SELECT sqlite_version()")).scalar_one()
import chromadb
from chromadb.config import Settings
chroma = chromadb.PersistentClient(
    path=folder + "/chroma", settings=Settings(anonymized_telemetry=False)
)
chroma.heartbeat()
chroma.get_version()
from pymilvus import MilvusClient
milvus = MilvusClient(uri=folder + "/milvus.db")
milvus.get_server_version()
print(json.dumps({"peak_kib": peak_kib()}))
milvus.close()
engine.dispose()
"""
)


def embedded_memory(config: Config) -> list[Row]:
    """M. peak RSS with every embedded datasource initialized"""

    def arm(code: str) -> float:
        with tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
            code_file = Path(folder) / "embedded.py"
            code_file.write_text(textwrap.dedent(code))
            data = Path(folder) / "data"
            data.mkdir()
            finished = run_process([PYTHON, str(code_file), str(data)], cwd=Path(folder))
            return float(json.loads(finished.stdout.strip().splitlines()[-1])["peak_kib"])

    samples = interleave(
        {
            UNIFYDB: lambda: arm(_UNIFYDB_EMBEDDED),
            RAW: lambda: arm(_RAW_EMBEDDED),
            RAW2: lambda: arm(_RAW_EMBEDDED),
        },
        config.memory_rounds,
        warmup=False,
    )
    comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
    row = ratio_row(
        "M",
        "peak RSS, sqlite + chroma + milvus lite initialized",
        comparison,
        target=None,
        unit=mib,
    )
    row.notes.append(
        "VmHWM of the subprocess; Milvus Lite 3 serves in-process (threads), so it is "
        "included; unifydb: get_client + health_check per datasource, raw: the clients' own "
        "connect + heartbeat/version calls"
    )
    return [row]


BENCHMARKS = (
    ("1", "import unifydb", import_unifydb),
    ("2", "unifydb list", unifydb_list),
    ("6", "first query after process start", first_query),
    ("M", "peak RSS, embedded datasources", embedded_memory),
)
