"""11. DuckDB queries through ``get_engine`` against a raw duckdb_engine engine.
12. Redis SET + GET round trips through ``get_client`` against a raw ``redis.Redis``.

11: each arm has its own DuckDB file in a temp directory holding the same
table (10,000 rows); a round trip is ``with engine.connect() as c:
c.execute(<an aggregate over the table>).all()``. The unifydb arm asks
``unifydb.get_engine(name)`` every time; the raw engine is
``create_engine("duckdb:///<file>", **the same kwargs)`` (pool settings,
``pool_pre_ping``, connect arguments), as in benchmark 4.

12: the machine's Redis (``UNIFYDB_TEST_REDIS_*``; database 13 by default,
never 0), one key per arm; a round trip is ``SET`` then ``GET`` of a 100-byte
value. The unifydb arm asks ``unifydb.get_client(name)`` for each command; the
raw arms are ``redis.Redis(host, port, db)`` built once, with redis-py's
defaults. The noise floor is a second raw engine or client, as everywhere.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import (
    RAW,
    RAW2,
    UNIFYDB,
    BenchError,
    Config,
    Row,
    compare,
    interleave,
    ratio_row,
    us,
)
from bench.env import REDIS, REDIS_DB, default_registry, engine_arguments, sql_datasource

TARGET = 1.02
DUCKDB_ROWS = 10_000
DUCKDB_QUERY = "SELECT count(*), sum(x), max(label) FROM t WHERE x % 7 = 3"
VALUE = b"v" * 100


def _fill(engine: Any) -> None:
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE t AS SELECT range AS x, 'label-' || range AS label "
                f"FROM range({DUCKDB_ROWS})"
            )
        )


def _query_loop(get_engine: Callable[[], Any], count: int) -> float:
    from sqlalchemy import text

    query = text(DUCKDB_QUERY)
    start = time.perf_counter()
    for _ in range(count):
        with get_engine().connect() as connection:
            connection.execute(query).all()
    return time.perf_counter() - start


def duckdb_queries(config: Config) -> list[Row]:
    from sqlalchemy import create_engine

    import unifydb

    per_round = max(1, config.round_trips // config.round_trip_rounds)
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-duckdb-") as folder:
        files = {arm: Path(folder) / f"{arm}.duckdb" for arm in (UNIFYDB, RAW, RAW2)}
        settings = {"bench": {"type": "duckdb", "database": str(files[UNIFYDB])}}
        with default_registry(settings) as registry:
            datasource = sql_datasource(registry, "bench")
            arguments = engine_arguments(datasource)
            raw = create_engine(f"duckdb:///{files[RAW]}", **arguments)
            raw2 = create_engine(f"duckdb:///{files[RAW2]}", **arguments)
            try:
                for engine in (unifydb.get_engine("bench"), raw, raw2):
                    _fill(engine)
                samples = interleave(
                    {
                        UNIFYDB: lambda: _query_loop(
                            lambda: unifydb.get_engine("bench"), per_round
                        ),
                        RAW: lambda: _query_loop(lambda: raw, per_round),
                        RAW2: lambda: _query_loop(lambda: raw2, per_round),
                    },
                    config.round_trip_rounds,
                )
            finally:
                raw.dispose()
                raw2.dispose()
    per_trip = {arm: [value / per_round for value in values] for arm, values in samples.items()}
    comparison = compare(per_trip[UNIFYDB], per_trip[RAW], per_trip[RAW2])
    row = ratio_row(
        "11",
        "DuckDB query, get_engine vs raw duckdb_engine engine",
        comparison,
        target=TARGET,
        unit=us,
    )
    row.notes.append(
        f"{per_round * config.round_trip_rounds:,} queries per arm in {config.round_trip_rounds} "
        f"rounds; {DUCKDB_QUERY!r} over {DUCKDB_ROWS:,} rows, a file per arm; engine kwargs "
        f"{datasource.engine_kwargs()}"
    )
    return [row]


def _redis_loop(get_client: Callable[[], Any], key: str, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        get_client().set(key, VALUE)
        if get_client().get(key) != VALUE:
            raise BenchError("Redis returned another value than was set")
    return time.perf_counter() - start


def redis_round_trips(config: Config) -> list[Row]:
    import redis

    import unifydb

    REDIS.require()
    per_round = max(1, config.round_trips // config.round_trip_rounds)
    settings = {"bench": {"type": "redis", "host": REDIS.host, "port": REDIS.port, "db": REDIS_DB}}
    keys = {arm: f"unifydb-bench:{arm}" for arm in (UNIFYDB, RAW, RAW2)}
    raw = redis.Redis(host=REDIS.host, port=REDIS.port, db=REDIS_DB)
    raw2 = redis.Redis(host=REDIS.host, port=REDIS.port, db=REDIS_DB)
    try:
        with default_registry(settings):
            samples = interleave(
                {
                    UNIFYDB: lambda: _redis_loop(
                        lambda: unifydb.get_client("bench"), keys[UNIFYDB], per_round
                    ),
                    RAW: lambda: _redis_loop(lambda: raw, keys[RAW], per_round),
                    RAW2: lambda: _redis_loop(lambda: raw2, keys[RAW2], per_round),
                },
                config.round_trip_rounds,
            )
    finally:
        raw.delete(*keys.values())
        raw.close()
        raw2.close()
    per_trip = {arm: [value / per_round for value in values] for arm, values in samples.items()}
    comparison = compare(per_trip[UNIFYDB], per_trip[RAW], per_trip[RAW2])
    row = ratio_row(
        "12",
        "Redis SET + GET, get_client vs raw redis.Redis",
        comparison,
        target=TARGET,
        unit=us,
    )
    row.notes.append(
        f"{per_round * config.round_trip_rounds:,} SET+GET pairs per arm in "
        f"{config.round_trip_rounds} rounds; {REDIS.host}:{REDIS.port} db {REDIS_DB}, "
        f"{len(VALUE)}-byte values"
    )
    return [row]


BENCHMARKS = (
    ("11", "DuckDB queries", duckdb_queries),
    ("12", "Redis SET + GET round trips", redis_round_trips),
)
