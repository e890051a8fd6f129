"""Figures the reliability tests collect (faults injected, rows checked, examples
fuzzed, secrets searched); printed at the end of every test run so
docs/reliability.md can quote a real run."""

from __future__ import annotations

from collections import defaultdict

FIGURES: defaultdict[str, int] = defaultdict(int)


def record(name: str, amount: int = 1) -> None:
    FIGURES[name] += amount
