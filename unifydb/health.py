"""Health status of a datasource, and checking many datasources at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import (
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    UnifyDBError,
)

Status = Literal["ok", "error", "timeout", "not_configured", "driver_missing"]

#: statuses that mean "configured but not healthy": these fail `unifydb check`
FAILING: frozenset[str] = frozenset({"error", "timeout"})


@dataclass(frozen=True)
class HealthStatus:
    """What one health check found. ``ok`` is True only when the server answered."""

    name: str
    type: str
    status: Status
    latency_ms: float | None = None
    server_version: str | None = None
    detail: str = ""
    error: UnifyDBError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        """Configured, installed, and still not healthy."""
        return self.status in FAILING

    def raise_for_status(self) -> HealthStatus:
        """Raise the unifydb error behind a failed check; return self when healthy."""
        if self.error is not None and not self.ok:
            raise self.error
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "ok": self.ok,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "server_version": self.server_version,
            "detail": self.detail,
        }


def status_from_error(
    name: str, type_name: str, error: UnifyDBError, latency_ms: float | None = None
) -> HealthStatus:
    """The status a unifydb error stands for, with a short detail for tables."""
    status: Status
    if isinstance(error, NotConfiguredError):
        status, detail = "not_configured", "set " + ", ".join(error.missing)
    elif isinstance(error, DriverNotInstalledError):
        status, detail = "driver_missing", error.fix or str(error)
    elif isinstance(error, DatasourceTimeoutError):
        status, detail = "timeout", str(error)
    else:
        status, detail = "error", str(error)
    return HealthStatus(
        name=name,
        type=type_name,
        status=status,
        latency_ms=latency_ms,
        detail=detail,
        error=error,
    )


def check_all(
    checks: Iterable[tuple[str, Callable[[], HealthStatus]]], *, grace: float
) -> dict[str, HealthStatus]:
    """Run every check in its own thread and wait for all of them.

    Each check bounds itself by its datasource's timeout; ``grace`` is only a
    backstop for a check that misbehaves, after which it is reported as timed
    out rather than waited for. Threads, not a pool: a check stuck in a C call
    cannot be cancelled, and an executor would wait for it on shutdown.
    """
    results: dict[str, HealthStatus] = {}
    threads: list[tuple[str, threading.Thread]] = []
    lock = threading.Lock()

    def run(name: str, check: Callable[[], HealthStatus]) -> None:
        status = check()
        with lock:
            results[name] = status

    for name, check in checks:
        thread = threading.Thread(
            target=run, args=(name, check), name=f"unifydb:check:{name}", daemon=True
        )
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + grace
    for _, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name, _ in threads:
            if name not in results:
                results[name] = HealthStatus(
                    name=name,
                    type="?",
                    status="timeout",
                    detail=f"no answer within {grace:g} s",
                )
        return {name: results[name] for name, _ in threads}
