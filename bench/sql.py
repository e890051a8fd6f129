"""Relational work through unifydb against raw SQLAlchemy with the same URL and pool settings.

4. ``SELECT 1`` round trips, each one ``with get_engine(name).connect() as c:
   c.execute(SELECT 1)`` (a pool checkout with unifydb's default
   ``pool_pre_ping=True``, the statement, the checkin), on PostgreSQL (psycopg),
   MariaDB through type ``mariadb`` (MariaDB Connector/Python) and MariaDB
   through type ``mysql`` (mysqlclient); the raw engine is
   ``create_engine(ds.url(), **the same kwargs)``. An extra row compares with the
   bare driver: one autocommit connection, ``cursor.execute`` + ``fetchone`` in
   a loop.
5. ORM: insert rows with ``Session.add_all`` + commit, then read them all back,
   through ``unifydb.session(name)`` against ``Session(raw_engine)`` (PostgreSQL).
9. 32 threads sharing one engine (pool_size 10, max_overflow 0), each running
   its queries like 4 (PostgreSQL).

Each arm has its own engine; the arms run in a database created for the
benchmark and dropped afterwards (tables included).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench.core import (
    RAW,
    RAW2,
    UNIFYDB,
    BenchError,
    Comparison,
    Config,
    Row,
    compare,
    error_row,
    interleave,
    ms,
    ratio_row,
    seconds,
    us,
)
from bench.env import (
    MARIADB,
    POSTGRES,
    default_registry,
    mariadb_database,
    mariadb_settings,
    pg_database,
    pg_settings,
    raw_engine,
    sql_datasource,
)

ROUND_TRIP_TARGET = 1.02
ORM_TARGET = 1.03
THREADS_TARGET = 1.03
DRIVER = "driver"
SELECT_1 = text("SELECT 1")


def round_trips(config: Config) -> list[Row]:
    """4a-4d, each on its own: one failing server does not hide the others' figures."""
    rows: list[Row] = []
    for key, what, benchmark in (
        ("4a", "SELECT 1 round trips, PostgreSQL", pg_round_trips),
        ("4b", "SELECT 1 round trips, MariaDB (mariadb)", mariadb_round_trips),
        ("4c", "SELECT 1 round trips, MariaDB (mysql)", mysql_round_trips),
        ("4d", "SELECT 1 round trips, PostgreSQL, password_file", pg_password_file_round_trips),
    ):
        try:
            rows += benchmark(config)
        except Exception as error:
            rows.append(error_row(key, what, error))
    return rows


# ----------------------------------------------------------------------------- 4


def _sqlalchemy_loop(get_engine: Callable[[], Engine], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with get_engine().connect() as connection:
            connection.execute(SELECT_1).scalar_one()
    return time.perf_counter() - start


def _driver_loop(cursor: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return time.perf_counter() - start


def _round_trip_rows(
    config: Config,
    *,
    key: str,
    label: str,
    settings: dict[str, Any],
    connect_driver: Callable[[], Any],
    driver_name: str,
    raw_password: str | None = None,
) -> list[Row]:
    import unifydb

    per_round = max(1, config.round_trips // config.round_trip_rounds)
    with default_registry({"bench": settings}) as registry:
        datasource = sql_datasource(registry, "bench")
        raw = raw_engine(datasource, password=raw_password)
        raw2 = raw_engine(datasource, password=raw_password)
        driver_connection = connect_driver()
        try:
            cursor = driver_connection.cursor()
            samples = interleave(
                {
                    UNIFYDB: lambda: _sqlalchemy_loop(
                        lambda: unifydb.get_engine("bench"), per_round
                    ),
                    RAW: lambda: _sqlalchemy_loop(lambda: raw, per_round),
                    RAW2: lambda: _sqlalchemy_loop(lambda: raw2, per_round),
                    DRIVER: lambda: _driver_loop(cursor, per_round),
                },
                config.round_trip_rounds,
            )
            cursor.close()
        finally:
            driver_connection.close()
            raw.dispose()
            raw2.dispose()
    per_trip = {arm: [value / per_round for value in values] for arm, values in samples.items()}
    comparison = compare(per_trip[UNIFYDB], per_trip[RAW], per_trip[RAW2])
    total = per_round * config.round_trip_rounds
    row = ratio_row(
        key,
        f"{label}: SELECT 1, get_engine vs raw engine",
        comparison,
        target=ROUND_TRIP_TARGET,
        unit=us,
    )
    row.notes.append(
        f"{total:,} trips per arm in {config.round_trip_rounds} rounds of {per_round:,}; "
        f"url {datasource.url().render_as_string(hide_password=True)}, "
        f"engine kwargs {datasource.engine_kwargs()}"
    )
    driver = Comparison(
        unifydb=comparison.unifydb,
        baseline=statistics.median(per_trip[DRIVER]),
        ratio=statistics.median(
            u / d for u, d in zip(per_trip[UNIFYDB], per_trip[DRIVER], strict=True)
        ),
        noise=comparison.noise,
        spread=comparison.spread,
    )
    driver_row = ratio_row(
        f"{key}+",
        f"{label}: SELECT 1, get_engine vs bare {driver_name}",
        driver,
        target=None,
        unit=us,
    )
    sqlalchemy_over_driver = statistics.median(
        r / d for r, d in zip(per_trip[RAW], per_trip[DRIVER], strict=True)
    )
    driver_row.notes.append(
        f"raw SQLAlchemy itself is {sqlalchemy_over_driver:.2f}x the bare driver (pool checkout, "
        "pre-ping, transaction); noise floor column: raw/raw SQLAlchemy"
    )
    return [row, driver_row]


def pg_round_trips(config: Config) -> list[Row]:
    import psycopg

    with pg_database() as database:

        def connect() -> Any:
            return psycopg.connect(
                host=POSTGRES.host,
                port=POSTGRES.port,
                user=POSTGRES.user,
                dbname=database,
                autocommit=True,
            )

        return _round_trip_rows(
            config,
            key="4a",
            label="PG",
            settings=pg_settings(database),
            connect_driver=connect,
            driver_name="psycopg",
        )


def pg_password_file_round_trips(config: Config) -> list[Row]:
    """4d: the password in a ``password_file`` (resolved per new connection, so a
    pooled checkout resolves nothing) against a raw engine with it in the URL."""
    import tempfile

    import psycopg

    password = "bench-Passw0rd"
    with pg_database() as database, tempfile.TemporaryDirectory() as folder:
        secret = Path(folder) / "pg-password"
        secret.write_text(password + "\n")

        def connect() -> Any:
            return psycopg.connect(
                host=POSTGRES.host,
                port=POSTGRES.port,
                user=POSTGRES.user,
                dbname=database,
                password=password,
                autocommit=True,
            )

        return _round_trip_rows(
            config,
            key="4d",
            label="PG, password_file",
            settings=pg_settings(database, password_file=str(secret)),
            connect_driver=connect,
            driver_name="psycopg",
            raw_password=password,
        )


def mariadb_round_trips(config: Config) -> list[Row]:
    import mariadb

    with mariadb_database() as database:

        def connect() -> Any:
            return mariadb.connect(
                host=MARIADB.host,
                port=MARIADB.port,
                user=MARIADB.user,
                password="",
                database=database,
                autocommit=True,
            )

        return _round_trip_rows(
            config,
            key="4b",
            label="MariaDB (type mariadb)",
            settings=mariadb_settings(database, "mariadb"),
            connect_driver=connect,
            driver_name="mariadb",
        )


def mysql_round_trips(config: Config) -> list[Row]:
    import MySQLdb

    with mariadb_database() as database:

        def connect() -> Any:
            connection = MySQLdb.connect(
                host=MARIADB.host, port=MARIADB.port, user=MARIADB.user, passwd="", db=database
            )
            connection.autocommit(True)
            return connection

        return _round_trip_rows(
            config,
            key="4c",
            label="MariaDB (type mysql)",
            settings=mariadb_settings(database, "mysql"),
            connect_driver=connect,
            driver_name="MySQLdb",
        )


# ----------------------------------------------------------------------------- 5


class _Base(DeclarativeBase):
    pass


class _Columns:
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    amount: Mapped[float]
    note: Mapped[str | None] = mapped_column(String(200))


class UnifyDBItem(_Columns, _Base):
    __tablename__ = "bench_orm_unifydb"


class RawItem(_Columns, _Base):
    __tablename__ = "bench_orm_raw"


class RawItem2(_Columns, _Base):
    __tablename__ = "bench_orm_raw2"


def _items(model: type[_Columns], count: int) -> list[Any]:
    return [
        model(name=f"item {index}", amount=index * 0.25, note=None if index % 3 else "every third")  # type: ignore[call-arg]
        for index in range(count)
    ]


@contextmanager
def _raw_session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
        session.commit()


def orm(config: Config) -> list[Row]:
    import unifydb

    rows_count = config.orm_rows
    with pg_database() as database, default_registry({"bench": pg_settings(database)}) as registry:
        datasource = sql_datasource(registry, "bench")
        raw, raw2 = raw_engine(datasource), raw_engine(datasource)
        try:
            _Base.metadata.create_all(raw)

            def work(
                model: type[_Columns], open_session: Callable[[], Any], truncate_with: Engine
            ) -> float:
                with truncate_with.begin() as connection:
                    connection.execute(text(f"TRUNCATE {model.__tablename__} RESTART IDENTITY"))  # type: ignore[attr-defined]
                start = time.perf_counter()
                with open_session() as session:
                    session.add_all(_items(model, rows_count))
                with open_session() as session:
                    loaded = session.scalars(select(model)).all()
                elapsed = time.perf_counter() - start
                if len(loaded) != rows_count:
                    raise BenchError(f"read back {len(loaded)} rows, not {rows_count}")
                return elapsed

            samples = interleave(
                {
                    UNIFYDB: lambda: work(UnifyDBItem, lambda: unifydb.session("bench"), raw),
                    RAW: lambda: work(RawItem, lambda: _raw_session(raw), raw),
                    RAW2: lambda: work(RawItem2, lambda: _raw_session(raw2), raw2),
                },
                config.orm_rounds,
            )
            _Base.metadata.drop_all(raw)
        finally:
            raw.dispose()
            raw2.dispose()
    comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
    row = ratio_row(
        "5",
        f"PG ORM insert {rows_count:,} + read back: unifydb.session vs Session",
        comparison,
        target=ORM_TARGET,
        unit=ms,
    )
    row.notes.append(
        "add_all + commit in one session, select all in a second; each arm its own identical "
        f"table, truncated (untimed) before each run; {config.orm_rounds} rounds"
    )
    return [row]


# ----------------------------------------------------------------------------- 9


def _threaded(get_engine: Callable[[], Engine], threads: int, per_thread: int) -> tuple[float, int]:
    """Seconds until every thread ran its queries, and how many queries raised."""
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            try:
                with get_engine().connect() as connection:
                    connection.execute(SELECT_1).scalar_one()
            except Exception as error:
                with lock:
                    errors.append(error)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in workers:
        thread.join()
    return time.perf_counter() - start, len(errors)


def threads(config: Config) -> list[Row]:
    import unifydb

    per_thread = max(1, config.thread_queries // config.thread_rounds)
    pool = {"pool_size": 10, "max_overflow": 0, "pool_timeout": 60}
    with (
        pg_database() as database,
        default_registry({"bench": pg_settings(database, **pool)}) as registry,
    ):
        datasource = sql_datasource(registry, "bench")
        raw, raw2 = raw_engine(datasource), raw_engine(datasource)
        if raw.pool.size() != unifydb.get_engine("bench").pool.size():  # type: ignore[attr-defined]
            raise BenchError("the raw engine's pool differs from unifydb's")
        try:
            samples = interleave(
                {
                    UNIFYDB: lambda: _threaded(
                        lambda: unifydb.get_engine("bench"), config.threads, per_thread
                    ),
                    RAW: lambda: _threaded(lambda: raw, config.threads, per_thread),
                    RAW2: lambda: _threaded(lambda: raw2, config.threads, per_thread),
                },
                config.thread_rounds,
            )
        finally:
            raw.dispose()
            raw2.dispose()
    walls = {arm: [wall for wall, _ in values] for arm, values in samples.items()}
    errors = {arm: sum(count for _, count in values) for arm, values in samples.items()}
    comparison = compare(walls[UNIFYDB], walls[RAW], walls[RAW2])
    row = ratio_row(
        "9",
        f"PG {config.threads} threads x {per_thread * config.thread_rounds} queries, pool 10",
        comparison,
        target=THREADS_TARGET,
        unit=seconds,
        passed=None,
    )
    row.passed = comparison.ratio <= THREADS_TARGET and errors[UNIFYDB] == 0
    row.maybe_noise = (
        not row.passed and errors[UNIFYDB] == 0 and comparison.within_noise(THREADS_TARGET)
    )
    row.target = f"<= {THREADS_TARGET:g}x, 0 errors"
    queries = config.threads * per_thread * config.thread_rounds
    row.notes.append(
        f"errors: unifydb {errors[UNIFYDB]}, raw {errors[RAW]}, raw2 {errors[RAW2]} "
        f"(of {queries:,} queries each); {config.thread_rounds} rounds of {config.threads} "
        f"threads x {per_thread}; pool_size 10, max_overflow 0; per-query "
        f"{comparison.unifydb / (config.threads * per_thread) * 1e6:.0f} µs (unifydb) vs "
        f"{comparison.baseline / (config.threads * per_thread) * 1e6:.0f} µs"
    )
    return [row]


BENCHMARKS = (
    ("4", "SELECT 1 round trips", round_trips),
    ("5", "ORM insert + read back", orm),
    ("9", "32 threads through one engine", threads),
)
