"""How every benchmark measures: interleaved rounds, paired ratios, noise floors.

Each benchmark has *arms*: ``unifydb`` (the library), ``raw`` (the plain library
doing the same work) and ``raw2`` (a second, identical raw setup: its own
engine, client, temp directory or subprocess). One round runs every arm once;
the order rotates and reverses from round to round, so each arm goes first
equally often and a slow drift of the machine hits every arm alike.

From the rounds:

* the **ratio** is the median over rounds of ``unifydb / raw`` (paired: both
  numbers of a ratio come from the same round);
* the **noise floor** is the median over rounds of ``raw2 / raw``: what a ratio
  looks like when there is no difference at all, together with its spread (half
  the interquartile range of the per-round raw2/raw ratios).

A ratio that misses its target by less than the noise floor's deviation from 1
(or its spread) is marked ``FAIL*``: it may be noise. Rerun, or use more rounds.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
#: the console script pip installed next to the interpreter
UNIFYDB_SCRIPT = str(Path(PYTHON).with_name("unifydb"))

T = TypeVar("T")

UNIFYDB, RAW, RAW2 = "unifydb", "raw", "raw2"


class BenchError(RuntimeError):
    """A benchmark could not measure what it should (setup failed, wrong result)."""


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    """Counts for one mode. ``--full`` uses the issue's counts; ``--short`` small ones."""

    name: str
    #: rounds of each subprocess start-up measurement (benchmarks 1, 2, 6)
    startup_rounds: int
    #: calls per round and rounds of the get_engine hot path (benchmark 3)
    hot_calls: int
    hot_rounds: int
    #: SELECT 1 round trips per arm in total, spread over this many rounds (benchmark 4)
    round_trips: int
    round_trip_rounds: int
    #: ORM rows inserted and read back per arm and round (benchmark 5)
    orm_rows: int
    orm_rounds: int
    #: threads x queries per thread in total, spread over rounds (benchmark 9)
    threads: int
    thread_queries: int
    thread_rounds: int
    #: `unifydb check --timeout`, its wall target, and seconds a check process may take to
    #: exit after printing before it counts as hung (benchmark 7)
    check_timeout: float
    check_target: float
    check_rounds: int
    check_exit_grace: float
    #: vectors upserted per arm and round; queries per arm in total, per backend (benchmark 8)
    vectors: int
    chroma_queries: int
    chroma_rounds: int
    milvus_queries: int
    milvus_rounds: int
    #: rounds of the embedded-datasources memory measurement
    memory_rounds: int
    #: SQLite datasources `unifydb check` checks, datasources added at runtime, tenants
    #: touched, and rounds of the first two (benchmarks T1-T3)
    many_datasources: int = 2_000
    many_added: int = 500
    tenant_count: int = 5_000
    many_rounds: int = 3
    #: Qdrant (local) and pgvector (benchmark 10): vectors per arm and round, queries per arm
    backend_vectors: int = 300
    backend_queries: int = 40
    qdrant_rounds: int = 2
    #: PGlite inserts ~200 vectors/s with its HNSW index (WASM): fewer vectors there
    pgvector_vectors: int = 300
    pgvector_rounds: int = 2
    vector_dim: int = 384


FULL = Config(
    name="full",
    startup_rounds=15,
    hot_calls=1_000_000,
    hot_rounds=7,
    round_trips=20_000,
    round_trip_rounds=20,
    orm_rows=10_000,
    orm_rounds=9,
    threads=32,
    thread_queries=500,
    thread_rounds=5,
    check_timeout=2.0,
    check_target=2.5,
    check_rounds=3,
    check_exit_grace=20.0,
    vectors=10_000,
    chroma_queries=1_000,
    chroma_rounds=5,
    # Milvus Lite 3 searches in Python: ~0.5 s per query over 10,000 vectors here, so these
    # 3 x 1,000 queries take ~25 minutes; `--milvus-queries 300` for a quicker full run
    milvus_queries=1_000,
    milvus_rounds=3,
    memory_rounds=3,
    backend_vectors=5_000,
    backend_queries=500,
    qdrant_rounds=5,
    pgvector_vectors=1_000,
    pgvector_rounds=3,
)

SHORT = Config(
    name="short",
    startup_rounds=5,
    hot_calls=100_000,
    hot_rounds=5,
    round_trips=500,
    round_trip_rounds=5,
    orm_rows=300,
    orm_rounds=3,
    threads=32,
    thread_queries=20,
    thread_rounds=2,
    check_timeout=2.0,
    check_target=2.5,
    check_rounds=1,
    check_exit_grace=12.0,
    vectors=300,
    chroma_queries=60,
    chroma_rounds=2,
    milvus_queries=60,
    milvus_rounds=2,
    memory_rounds=1,
    many_datasources=300,
    many_added=50,
    tenant_count=600,
    many_rounds=1,
)


# ----------------------------------------------------------------------------- rounds


def order_of(names: Sequence[str], round_index: int) -> list[str]:
    """The arms' order in one round: rotated every round, reversed every other cycle."""
    count = len(names)
    shift = round_index % count
    rotated = [*names[shift:], *names[:shift]]
    return rotated if (round_index // count) % 2 == 0 else rotated[::-1]


def interleave(
    arms: Mapping[str, Callable[[], T]], rounds: int, *, warmup: bool = True
) -> dict[str, list[T]]:
    """Run every arm once per round, alternating which goes first; samples per arm.

    ``warmup`` runs each arm once, untimed, first (imports, pools, caches, pyc files).
    """
    names = list(arms)
    if warmup:
        for name in names:
            arms[name]()
    samples: dict[str, list[T]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in order_of(names, round_index):
            gc.collect()
            samples[name].append(arms[name]())
    return samples


def split(total: int, rounds: int) -> list[int]:
    """``total`` spread over ``rounds`` as evenly as possible (each at least 1)."""
    base, extra = divmod(total, rounds)
    return [max(1, base + (1 if index < extra else 0)) for index in range(rounds)]


@dataclass(frozen=True)
class Comparison:
    """Medians of two arms, their paired ratio, and the raw-vs-raw noise floor."""

    unifydb: float
    baseline: float
    ratio: float
    noise: float
    spread: float

    @property
    def difference(self) -> float:
        return self.unifydb - self.baseline

    def within_noise(self, target: float) -> bool:
        """Whether a ratio above ``target`` misses it by no more than the noise."""
        return self.ratio / target - 1 <= max(abs(self.noise - 1), self.spread)


def half_iqr(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    if len(values) < 4:
        return (max(values) - min(values)) / 2
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return (quartiles[2] - quartiles[0]) / 2


def compare(unifydb: Sequence[float], raw: Sequence[float], raw2: Sequence[float]) -> Comparison:
    """Paired per-round ratios unifydb/raw and raw2/raw, summarized by their medians."""
    if not (len(unifydb) == len(raw) == len(raw2)) or not raw:
        raise BenchError("every arm needs the same number of rounds")
    ratios = [u / r for u, r in zip(unifydb, raw, strict=True)]
    noise = [r2 / r for r2, r in zip(raw2, raw, strict=True)]
    return Comparison(
        unifydb=statistics.median(unifydb),
        baseline=statistics.median(raw),
        ratio=statistics.median(ratios),
        noise=statistics.median(noise),
        spread=half_iqr(noise),
    )


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- subprocesses

#: variables that would point a subprocess at the machine's own settings
_ISOLATED_PREFIXES = ("UNIFYDB_", "DATASOURCE_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without unifydb settings variables, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_ISOLATED_PREFIXES) or key.startswith("UNIFYDB_TEST_")
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class Finished:
    wall: float
    returncode: int
    stdout: str
    stderr: str


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: Sequence[int] = (0,),
    timeout: float = 300.0,
) -> Finished:
    """Run ``argv`` (stdout and stderr piped) and time it from spawn to exit."""
    start = time.perf_counter()
    process = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    if process.returncode not in ok_codes:
        raise BenchError(
            f"{' '.join(argv)[:120]} exited with {process.returncode}: "
            f"{(process.stderr or process.stdout).strip()[-800:]}"
        )
    return Finished(wall, process.returncode, process.stdout, process.stderr)


def python_c(code: str) -> list[str]:
    return [PYTHON, "-c", code]


# ----------------------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the result table."""

    key: str
    what: str
    unifydb: str = ""
    baseline: str = ""
    ratio: float | None = None
    noise: float | None = None
    spread: float | None = None
    target: str = "-"
    #: None: informational row without a target
    passed: bool | None = None
    #: the miss is no larger than the noise floor
    maybe_noise: bool = False
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.passed is None:
            return "info"
        if self.passed:
            return "PASS"
        return "FAIL*" if self.maybe_noise else "FAIL"

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.3f}x"
        if self.noise is None:
            noise = "-"
        else:
            noise = f"{self.noise:.3f}x"
            if self.spread:
                noise += f" ±{self.spread * 100:.1f}%"
        return [
            self.key,
            self.what,
            self.unifydb,
            self.baseline,
            ratio,
            noise,
            self.target,
            self.verdict,
        ]


def ratio_row(
    key: str,
    what: str,
    comparison: Comparison,
    *,
    target: float | None,
    unit: Callable[[float], str],
    passed: bool | None = None,
) -> Row:
    """A row for a ratio target ("at most ``target`` x"); None: informational."""
    if target is not None and passed is None:
        passed = comparison.ratio <= target
    return Row(
        key=key,
        what=what,
        unifydb=unit(comparison.unifydb),
        baseline=unit(comparison.baseline),
        ratio=comparison.ratio,
        noise=comparison.noise,
        spread=comparison.spread,
        target="-" if target is None else f"<= {target:g}x",
        passed=passed,
        maybe_noise=bool(target is not None and not passed and comparison.within_noise(target)),
    )


def error_row(key: str, what: str, error: BaseException) -> Row:
    message = f"{type(error).__name__}: {error}".strip()
    return Row(key=key, what=what, error=message, notes=[message[:600]])


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def us(seconds_value: float) -> str:
    return f"{seconds_value * 1e6:.1f} µs"


def ns(seconds_value: float) -> str:
    return f"{seconds_value * 1e9:.0f} ns"


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


HEADERS = ["#", "what", "unifydb", "baseline", "ratio", "noise floor", "target", "result"]


def format_table(rows: Sequence[Row]) -> str:
    """Plain aligned text, then the notes of each row."""
    cells = [row.cells() for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row_cells in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row_cells, widths, strict=True)).rstrip())
    notes = [f"  [{row.key}] {note}" for row in rows for note in row.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("*", "\\*")

    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---"] * len(HEADERS)) + "|",
    ]
    for row in rows:
        cells = [escape(cell) for cell in row.cells()]
        if row.verdict.startswith(("FAIL", "ERROR")):
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{row.key}**: {escape(note)}" for row in rows for note in row.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
