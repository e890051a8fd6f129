"""What each datasource counts about itself, and the hook OpenTelemetry plugs into.

Every datasource keeps a :class:`DatasourceMetrics`: new connections (and how
long each took), failed ones by reason, and its last health check. They cost
a few attribute updates per *new* connection and nothing per pooled checkout.
``unifydb serve`` renders them as Prometheus text; :func:`unifydb.instrument`
forwards the same events to OpenTelemetry.

Only a datasource's name and type ever label a figure: no URL, host, user or
error text, so no secret can reach a metric.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from .errors import DatasourceTimeoutError, UnifyDBError

#: upper bounds (seconds) of the connect-latency histogram's buckets
CONNECT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: why a connect failed: the label values of ``connect_failures``
REASONS = ("timeout", "refused", "auth", "other")

_AUTH_WORDS = ("password", "authentication", "access denied", "login failed", "not authorized")


def failure_reason(error: BaseException) -> str:
    """``timeout``, ``refused``, ``auth`` or ``other``, from the error and its causes."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DatasourceTimeoutError, TimeoutError)):
            return "timeout"
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, UnifyDBError) and current.key == "password":
            return "auth"
        text = str(current).lower()
        if "refused" in text:
            return "refused"
        if "timed out" in text or "timeout" in text:
            return "timeout"
        if any(word in text for word in _AUTH_WORDS):
            return "auth"
        current = current.__cause__ or current.__context__
    return "other"


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics)."""

    __slots__ = ("buckets", "count", "counts", "sum")

    def __init__(self, buckets: tuple[float, ...] = CONNECT_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
        self.count += 1
        self.sum += value


class DatasourceMetrics:
    """The figures of one datasource; updated under a lock, read as a snapshot."""

    def __init__(self) -> None:
        self.connects = 0
        self.connect_failures: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.connect_seconds = Histogram()
        self.health_status: str | None = None
        self.health_latency_seconds: float | None = None
        self._lock = threading.Lock()

    def record_connect(self, seconds: float, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.connects += 1
                self.connect_seconds.observe(seconds)
            else:
                self.connect_failures[failure_reason(error)] += 1

    def record_health(self, status: str, latency_ms: float | None) -> None:
        with self._lock:
            self.health_status = status
            self.health_latency_seconds = None if latency_ms is None else latency_ms / 1000

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connects": self.connects,
                "connect_failures": dict(self.connect_failures),
                "connect_buckets": list(
                    zip(self.connect_seconds.buckets, self.connect_seconds.counts, strict=True)
                ),
                "connect_count": self.connect_seconds.count,
                "connect_sum": self.connect_seconds.sum,
                "health_status": self.health_status,
                "health_latency_seconds": self.health_latency_seconds,
            }


class Observer(Protocol):
    """What :func:`set_observer` accepts (the OpenTelemetry bridge is one)."""

    def connected(
        self, datasource: str, type_name: str, seconds: float, error: BaseException | None
    ) -> None: ...

    def checked(self, datasource: str, type_name: str, status: str, seconds: float) -> None: ...

    def span(
        self, name: str, attributes: Mapping[str, str]
    ) -> contextlib.AbstractContextManager[Any]: ...


_observer: Observer | None = None


def set_observer(observer: Observer | None) -> Observer | None:
    """Send connects, checks and spans to ``observer`` too; returns the previous one."""
    global _observer
    previous, _observer = _observer, observer
    return previous


def observer() -> Observer | None:
    return _observer


@contextlib.contextmanager
def span(name: str, **attributes: str) -> Iterator[None]:
    """A span around an operation when an observer is set; nothing otherwise."""
    current = _observer
    if current is None:
        yield
        return
    with current.span(name, attributes):
        yield


def connected(
    metrics: DatasourceMetrics,
    datasource: str,
    type_name: str,
    seconds: float,
    error: BaseException | None,
) -> None:
    metrics.record_connect(seconds, error)
    current = _observer
    if current is not None:
        current.connected(datasource, type_name, seconds, error)
