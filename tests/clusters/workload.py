"""Loops that keep reading or writing through unifydb while a test breaks a node,
recording every outcome with its time, and the figures they add up to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    at: float
    ok: bool
    #: what the operation returned (e.g. which node served it), or the error
    value: Any


@dataclass
class Loop:
    """Calls ``operation()`` in a thread until stopped; every call's outcome is kept."""

    operation: Callable[[], Any]
    name: str = "loop"
    pause: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Loop:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                value = self.operation()
            except Exception as error:  # every failure is recorded and asserted on
                self.outcomes.append(Outcome(time.monotonic(), False, error))
                time.sleep(0.02)
            else:
                self.outcomes.append(Outcome(time.monotonic(), True, value))
            self.slowest = max(self.slowest, time.monotonic() - started)
            if self.pause:
                time.sleep(self.pause)

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)
        assert not self._thread.is_alive(), f"{self.name} hung"

    def failures(self, since: float = 0.0, until: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and since <= o.at < until]

    def first(self, predicate: Callable[[Any], bool], since: float) -> float | None:
        """When the first successful call after ``since`` returned a value matching."""
        for outcome in list(self.outcomes):
            if outcome.ok and outcome.at >= since and predicate(outcome.value):
                return outcome.at
        return None

    def wait_for(
        self, predicate: Callable[[Any], bool], since: float, timeout: float = 30.0
    ) -> float:
        """Seconds from ``since`` until a successful call matched ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.first(predicate, since)
            if at is not None:
                return at - since
            time.sleep(0.02)
        raise AssertionError(f"{self.name}: nothing matched within {timeout:.0f} s")


def all_failures(loops: list[Loop], since: float = 0.0, until: float = float("inf")) -> list[str]:
    return [
        f"{loop.name} at +{o.at - since:.2f}s: {type(o.value).__name__}: {o.value}"
        for loop in loops
        for o in loop.failures(since, until)
    ]
