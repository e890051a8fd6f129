"""Health status of a datasource, and running many checks at once in threads.

Below the registry and the datasource base classes: both report through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import (
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    UnifyDBError,
)

Status = Literal["ok", "degraded", "error", "timeout", "not_configured", "driver_missing"]

#: statuses that mean "configured but not healthy": these fail `unifydb check`.
#: "degraded" (a cluster answered, but some of its nodes or replicas did not)
#: is not among them: the datasource works, so `unifydb check` exits 0.
FAILING: frozenset[str] = frozenset({"error", "timeout"})


@dataclass(frozen=True)
class NodeStatus:
    """One node of a cluster (a Cassandra node, a primary or replica of a SQL datasource)."""

    address: str
    #: "unknown": the client never connected to it (e.g. a node its policy ignores)
    state: Literal["up", "down", "unknown"]
    role: str = ""
    version: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "state": self.state,
            "role": self.role,
            "version": self.version,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeStatus:
        return cls(
            address=str(data["address"]),
            state=data["state"] if data["state"] in ("up", "unknown") else "down",
            role=str(data.get("role", "")),
            version=data.get("version"),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class HealthStatus:
    """What one health check found. ``ok`` is True only when the server (and, for a
    cluster, every node of it) answered; ``degraded`` means the datasource works
    but some node or replica is down (``nodes`` says which), and is neither
    ``ok`` nor ``failed``."""

    name: str
    type: str
    status: Status
    latency_ms: float | None = None
    server_version: str | None = None
    detail: str = ""
    error: UnifyDBError | None = field(default=None, repr=False, compare=False)
    #: per node, for clusters and datasources with replicas (empty otherwise)
    nodes: tuple[NodeStatus, ...] = ()

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
            "nodes": [node.as_dict() for node in self.nodes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthStatus:
        """The status :meth:`as_dict` described (without the error object)."""
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            status=data["status"],
            latency_ms=data["latency_ms"],
            server_version=data["server_version"],
            detail=str(data["detail"]),
            nodes=tuple(NodeStatus.from_dict(node) for node in data.get("nodes", ())),
        )


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


class CheckRun:
    """Health checks running in threads, each started as soon as its datasource is built.

    Threads, not a pool: a check stuck in a C call cannot be cancelled, and an
    executor would wait for it on shutdown. Each check bounds itself by its
    datasource's timeout; :meth:`wait` is only a backstop for one that
    misbehaves, which is then reported as timed out rather than waited for.
    ``on_result`` sees every status as it arrives (from the checks' threads).
    """

    def __init__(self, on_result: Callable[[HealthStatus], None] | None = None) -> None:
        self._on_result = on_result
        self._results: dict[str, HealthStatus] = {}
        self._threads: list[tuple[str, str, threading.Thread]] = []
        self._lock = threading.Lock()

    def start(self, name: str, type_name: str, check: Callable[[], HealthStatus]) -> None:
        thread = threading.Thread(
            target=self._run, args=(name, check), name=f"unifydb:check:{name}", daemon=True
        )
        self._threads.append((name, type_name, thread))
        thread.start()

    def add(self, status: HealthStatus) -> None:
        """A status known without checking (a datasource that could not be built)."""
        self._record(status.name, status)

    def _run(self, name: str, check: Callable[[], HealthStatus]) -> None:
        self._record(name, check())

    def _record(self, name: str, status: HealthStatus) -> None:
        with self._lock:
            if name in self._results:
                return
            self._results[name] = status
        if self._on_result is not None:
            self._on_result(status)

    def wait(self, deadline: float) -> dict[str, HealthStatus]:
        """Every status, once all checks ended or ``deadline`` (``time.monotonic()``) passed."""
        for _, _, thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for name, type_name, _ in self._threads:
            self._record(
                name,
                HealthStatus(
                    name=name,
                    type=type_name,
                    status="timeout",
                    detail="no answer within the check's time limit",
                ),
            )
        with self._lock:
            return dict(self._results)


def check_all(
    checks: Iterable[tuple[str, Callable[[], HealthStatus]]], *, grace: float
) -> dict[str, HealthStatus]:
    """Run every check in its own thread and wait up to ``grace`` seconds for all."""
    run = CheckRun()
    names = []
    for name, check in checks:
        run.start(name, "?", check)
        names.append(name)
    results = run.wait(time.monotonic() + grace)
    return {name: results[name] for name in names}
