"""Is the application ready? Every required datasource answers its health check.

A datasource is required when its settings say ``required = true``; without
the key, when it is configured (its ``${VAR}`` placeholders are set), so the
shipped defaults' unconfigured server types never hold readiness back.
``required = false`` leaves one out (an optional cache, say).

Results are kept for ``cache_seconds``: a probe storm costs one round of
checks per interval, and probes arriving while a round runs wait for it
instead of starting their own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unifydb.errors import UnifyDBError
from unifydb.registry.entries import registry_flag

if TYPE_CHECKING:
    from unifydb.registry import Registry
    from unifydb.status import HealthStatus

#: seconds a round of checks is reused for
DEFAULT_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    statuses: dict[str, HealthStatus]
    #: ``time.time()`` of the round of checks
    checked_at: float
    #: datasources whose settings could not be read (never ready)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return [name for name, status in self.statuses.items() if not status.ok] + list(
            self.problems
        )

    def as_dict(self) -> dict[str, Any]:
        datasources: dict[str, Any] = {
            name: {
                key: value
                for key, value in status.as_dict().items()
                if key in ("type", "status", "latency_ms", "detail")
            }
            for name, status in self.statuses.items()
        }
        for name, problem in self.problems.items():
            datasources[name] = {"status": "error", "detail": problem}
        return {
            "status": "ready" if self.ready else "not ready",
            "checked_at": round(self.checked_at, 3),
            "failing": self.failing,
            "datasources": datasources,
        }


class Readiness:
    """Cached readiness of one registry."""

    def __init__(
        self,
        registry: Registry,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        timeout: float | None = None,
    ) -> None:
        self.registry = registry
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._report: ReadinessReport | None = None
        self._fresh_until = 0.0
        self._round = threading.Lock()

    def required(self) -> tuple[list[str], dict[str, str]]:
        """The required datasources, and those whose ``required`` key is unreadable."""
        names: list[str] = []
        problems: dict[str, str] = {}
        for name in self.registry.names():
            try:
                entry = self.registry.entry(name)
                explicit = (
                    registry_flag(name, entry, "required", True) if "required" in entry else None
                )
                if explicit is None:
                    explicit = (
                        self.registry.inspect(name, validate=False).status != "not_configured"
                    )
            except UnifyDBError as error:
                problems[name] = str(error)
                continue
            if explicit:
                names.append(name)
        return names, problems

    def report(self) -> ReadinessReport:
        """The latest round's report, checking anew when it is older than ``cache_seconds``."""
        report = self._report
        if report is not None and time.monotonic() < self._fresh_until:
            return report
        with self._round:
            report = self._report
            if report is not None and time.monotonic() < self._fresh_until:
                return report  # a round finished while this probe waited for it
            names, problems = self.required()
            statuses = self.registry.health_check(names, timeout=self.timeout) if names else {}
            ready = not problems and all(status.ok for status in statuses.values())
            report = ReadinessReport(ready, statuses, time.time(), problems)
            self._report = report
            self._fresh_until = time.monotonic() + self.cache_seconds
            return report

    def latest(self) -> ReadinessReport | None:
        """The last report, however old (``/metrics`` shows it without checking)."""
        return self._report
