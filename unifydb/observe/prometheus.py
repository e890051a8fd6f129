"""Every datasource's figures in the Prometheus text format (version 0.0.4).

No dependency: the format is a few lines per metric. Labels are the
datasource's name and type (and a failure's reason, a health status, a
bucket's bound): never a URL, host or error text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from unifydb.status import Status
from unifydb.telemetry import REASONS

if TYPE_CHECKING:
    from unifydb.base import Datasource
    from unifydb.registry import Registry

    from .readiness import ReadinessReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[str] = []

    def add(self, value: float, suffix: str = "", **labels: str) -> None:
        self.samples.append(f"{self.name}{suffix}{_labels(**labels)} {_number(value)}")

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(sample + "\n" for sample in self.samples)


def built_datasources(registry: Registry) -> list[Datasource[Any]]:
    """Every datasource the registry has built, tenants included, each once."""
    found: dict[int, Datasource[Any]] = {}
    for datasource in registry.datasources().values():
        found[id(datasource)] = datasource
    for template in registry.templates():
        for datasource in registry.open_tenants(template):
            found[id(datasource)] = datasource
    return list(found.values())


def render(registry: Registry, readiness: ReadinessReport | None = None) -> str:
    families = {
        name: _Family(name, kind, help_text)
        for name, kind, help_text in (
            ("unifydb_pool_size", "gauge", "Connections the pool keeps (SQL datasources)."),
            ("unifydb_pool_checked_out", "gauge", "Pooled connections in use."),
            ("unifydb_pool_overflow", "gauge", "Connections open beyond pool_size."),
            ("unifydb_connects_total", "counter", "New connections made."),
            ("unifydb_connect_failures_total", "counter", "Connections that failed, by reason."),
            ("unifydb_connect_seconds", "histogram", "Seconds each new connection took."),
            ("unifydb_health_status", "gauge", "1 for the status of the last health check."),
            ("unifydb_health_latency_seconds", "gauge", "Seconds the last health check took."),
            ("unifydb_ready", "gauge", "1 when every required datasource is healthy."),
        )
    }
    for datasource in sorted(built_datasources(registry), key=lambda ds: ds.name):
        _datasource_samples(families, datasource)
    if readiness is not None:
        families["unifydb_ready"].add(1 if readiness.ready else 0)
    return "".join(family.render() for family in families.values() if family.samples)


def _datasource_samples(families: dict[str, _Family], datasource: Datasource[Any]) -> None:
    ident = {"datasource": datasource.name, "type": datasource.type_name}
    for pool in _pools(datasource):
        for family, reading in (
            ("unifydb_pool_size", "size"),
            ("unifydb_pool_checked_out", "checkedout"),
            ("unifydb_pool_overflow", "overflow"),
        ):
            value = getattr(pool, reading, None)
            if callable(value):
                families[family].add(max(int(value()), 0), **ident)
    figures = datasource.metrics.snapshot()
    families["unifydb_connects_total"].add(figures["connects"], "", **ident)
    for reason in REASONS:
        count = figures["connect_failures"][reason]
        families["unifydb_connect_failures_total"].add(count, **ident, reason=reason)
    histogram = families["unifydb_connect_seconds"]
    for bound, count in figures["connect_buckets"]:
        histogram.add(count, "_bucket", **ident, le=_number(bound))
    histogram.add(figures["connect_count"], "_bucket", **ident, le="+Inf")
    histogram.add(figures["connect_sum"], "_sum", **ident)
    histogram.add(figures["connect_count"], "_count", **ident)
    status = figures["health_status"]
    if status is not None:
        for candidate in STATUSES:
            families["unifydb_health_status"].add(
                1 if candidate == status else 0, **ident, status=candidate
            )
        latency = figures["health_latency_seconds"]
        if latency is not None:
            families["unifydb_health_latency_seconds"].add(latency, **ident)


def _pools(datasource: Datasource[Any]) -> Iterable[Any]:
    """The sync pool of a SQL datasource (one figure per datasource: the first)."""
    return datasource.pools()[:1]
