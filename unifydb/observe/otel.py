"""OpenTelemetry: the figures ``/metrics`` shows, as OTel meters, and spans for
connect, health check and migrate (``pip install 'unifydb[otel]'``).

Only ``opentelemetry-api`` is needed: the application's SDK (or none, and then
nothing is recorded) decides where they go. Attributes are the datasource's
name and type, a failure's reason and a check's status: never a secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from unifydb import telemetry
from unifydb.errors import DriverNotInstalledError

from .prometheus import built_datasources

if TYPE_CHECKING:
    from unifydb.registry import Registry


class OpenTelemetryObserver:
    """Forwards unifydb's events to OpenTelemetry instruments and spans."""

    def __init__(self, meter: Any, tracer: Any, registry: Registry | None) -> None:
        from opentelemetry.metrics import CallbackOptions, Observation

        self._tracer = tracer
        self._registry = registry
        self._connects = meter.create_counter(
            "unifydb.connects", unit="{connection}", description="New connections made."
        )
        self._failures = meter.create_counter(
            "unifydb.connect_failures", unit="{connection}", description="Failed connects."
        )
        self._connect_duration = meter.create_histogram(
            "unifydb.connect.duration", unit="s", description="Seconds each new connection took."
        )
        self._check_duration = meter.create_histogram(
            "unifydb.health_check.duration", unit="s", description="Seconds each check took."
        )

        def pool_reading(reading: str) -> Any:
            def observe(options: CallbackOptions) -> Iterator[Observation]:
                if self._registry is None:
                    return
                for datasource in built_datasources(self._registry):
                    for pool in datasource.pools()[:1]:
                        value = getattr(pool, reading, None)
                        if callable(value):
                            yield Observation(
                                max(int(value()), 0),
                                {"datasource": datasource.name, "type": datasource.type_name},
                            )

            return observe

        for name, reading, description in (
            ("unifydb.pool.size", "size", "Connections the pool keeps."),
            ("unifydb.pool.checked_out", "checkedout", "Pooled connections in use."),
            ("unifydb.pool.overflow", "overflow", "Connections beyond pool_size."),
        ):
            meter.create_observable_gauge(
                name, callbacks=[pool_reading(reading)], description=description
            )

    def connected(
        self, datasource: str, type_name: str, seconds: float, error: BaseException | None
    ) -> None:
        attributes = {"datasource": datasource, "type": type_name}
        if error is None:
            self._connects.add(1, attributes)
            self._connect_duration.record(seconds, attributes)
        else:
            self._failures.add(1, {**attributes, "reason": telemetry.failure_reason(error)})

    def checked(self, datasource: str, type_name: str, status: str, seconds: float) -> None:
        self._check_duration.record(
            seconds, {"datasource": datasource, "type": type_name, "status": status}
        )

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, str]) -> Iterator[Any]:
        with self._tracer.start_as_current_span(
            name, attributes={f"unifydb.{key}": value for key, value in attributes.items()}
        ) as current:
            yield current


def instrument(
    registry: Registry | None = None,
    *,
    meter_provider: Any = None,
    tracer_provider: Any = None,
) -> OpenTelemetryObserver:
    """Send unifydb's metrics and spans to OpenTelemetry (the global providers
    unless given); pool gauges read ``registry`` (default: the default one)."""
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise DriverNotInstalledError(
            "OpenTelemetry is not installed",
            extra="otel",
            fix="pip install 'unifydb[otel]'",
        ) from None
    from unifydb import __version__

    if registry is None:
        from unifydb.registry import default_registry

        registry = default_registry()
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("unifydb", __version__)
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("unifydb", __version__)
    observer = OpenTelemetryObserver(meter, tracer, registry)
    telemetry.set_observer(observer)
    return observer
