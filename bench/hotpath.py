"""3. ``get_engine(name)`` on a warm registry against a plain dict lookup.

Each arm is a callable called ``hot_calls`` times in a tight loop
(``for _ in itertools.repeat(None, n): fn("bench")``), per round; the figure is
nanoseconds per call including the loop, so the *difference* to the plain
function is what unifydb adds. The baseline is ``def lookup(name): return
engines[name]``; its twin with a second dict is the noise floor. The target is
on unifydb's own figure: at most 1 µs per call.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from bench.core import RAW, RAW2, UNIFYDB, Config, Row, compare, interleave, ns, ratio_row
from bench.env import default_registry

TARGET_SECONDS = 1e-6


def _per_call(fn: Callable[[str], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, calls):
        fn("bench")
    return (time.perf_counter() - start) / calls


def get_engine_hot_path(config: Config) -> list[Row]:
    import unifydb

    rows: list[Row] = []
    with default_registry({"bench": {"type": "sqlite", "database": ":memory:"}}) as registry:
        engine = unifydb.get_engine("bench")
        if registry.get_engine("bench") is not engine:
            raise RuntimeError("the default registry and unifydb.get_engine disagree")
        engines = {"bench": engine}
        engines2 = {"bench": engine}

        def lookup(name: str) -> Any:
            return engines[name]

        def lookup2(name: str) -> Any:
            return engines2[name]

        calls = config.hot_calls
        for key, label, fn in (
            ("3a", "unifydb.get_engine(name), warm", unifydb.get_engine),
            ("3b", "Registry.get_engine(name), warm", registry.get_engine),
        ):
            samples = interleave(
                {
                    UNIFYDB: lambda fn=fn: _per_call(fn, calls),  # type: ignore[misc]
                    RAW: lambda: _per_call(lookup, calls),
                    RAW2: lambda: _per_call(lookup2, calls),
                },
                config.hot_rounds,
            )
            comparison = compare(samples[UNIFYDB], samples[RAW], samples[RAW2])
            row = ratio_row(
                key,
                f"{label} vs dict-lookup function",
                comparison,
                target=None,
                unit=ns,
                passed=comparison.unifydb <= TARGET_SECONDS,
            )
            row.target = "<= 1 µs/call"
            row.notes.append(
                f"{comparison.unifydb * 1e9:.0f} ns vs {comparison.baseline * 1e9:.0f} ns "
                f"per call: unifydb adds {comparison.difference * 1e9:+.0f} ns "
                f"({calls:,} calls x {config.hot_rounds} rounds, loop included in both)"
            )
            rows.append(row)
    return rows


BENCHMARKS = (("3", "get_engine hot path", get_engine_hot_path),)
