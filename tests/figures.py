"""Figures the reliability tests collect (faults injected, rows checked, examples
fuzzed, secrets searched, seconds to fail over); printed at the end of every
test run so docs/reliability.md can quote a real run."""

from __future__ import annotations

from collections import defaultdict

FIGURES: defaultdict[str, float] = defaultdict(int)


def record(name: str, amount: float = 1) -> None:
    """Add ``amount`` to a count."""
    FIGURES[name] += amount


def measure(name: str, value: float) -> None:
    """Keep a measured value (seconds, say); the largest of several runs is kept."""
    FIGURES[name] = max(FIGURES.get(name, value), value)
