"""What a datasource reports about itself: health checks, timed connects, and
driver failures as unifydb errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from unifydb import telemetry
from unifydb._deadline import call_with_deadline, checked_timeout
from unifydb.errors import DatasourceConnectionError, DatasourceTimeoutError, UnifyDBError
from unifydb.status import HealthStatus, status_from_error

if TYPE_CHECKING:
    from .datasource import Datasource

T = TypeVar("T")


def run_health_check(datasource: Datasource[Any], timeout: float | None) -> HealthStatus:
    """One bounded check, traced, counted in the datasource's metrics."""
    name, kind = datasource.name, datasource.type_name
    with telemetry.span("unifydb.health_check", datasource=name, type=kind):
        status = _check(datasource, timeout)
    datasource.metrics.record_health(status.status, status.latency_ms)
    current = telemetry.observer()
    if current is not None:
        current.checked(name, kind, status.status, (status.latency_ms or 0.0) / 1000)
    return status


def _check(datasource: Datasource[Any], timeout: float | None) -> HealthStatus:
    checked = checked_timeout(timeout, datasource=datasource.name)
    limit = datasource.timeout if checked is None else checked
    started = time.perf_counter()
    try:
        datasource.initialize()
        version = call_with_deadline(
            lambda: datasource._probe_within(limit),
            limit,
            datasource=datasource.name,
            action="health check",
            interrupt=datasource._interrupt_probe,
        )
    except UnifyDBError as error:
        return _failed(datasource, error, started)
    except Exception as error:  # a driver's own exception types vary per backend
        return _failed(datasource, datasource.connection_error("health check", error), started)
    return HealthStatus(
        name=datasource.name,
        type=datasource.type_name,
        status="ok",
        latency_ms=(time.perf_counter() - started) * 1000,
        server_version=version,
        detail=datasource.target(),
    )


def _failed(datasource: Datasource[Any], error: UnifyDBError, started: float) -> HealthStatus:
    datasource.logger.debug("health check of %s failed: %s", datasource.name, error)
    return status_from_error(
        datasource.name, datasource.type_name, error, (time.perf_counter() - started) * 1000
    )


def timed_connect(datasource: Datasource[Any], connect: Callable[[], T]) -> T:
    name, kind = datasource.name, datasource.type_name
    started = time.perf_counter()
    with telemetry.span("unifydb.connect", datasource=name, type=kind):
        try:
            connection = connect()
        except BaseException as error:
            seconds = time.perf_counter() - started
            telemetry.connected(datasource.metrics, name, kind, seconds, error)
            raise
    telemetry.connected(datasource.metrics, name, kind, time.perf_counter() - started, None)
    return connection


def connection_error(
    datasource: Datasource[Any], action: str, error: BaseException
) -> DatasourceConnectionError:
    if datasource.is_timeout(error):
        return timeout_error(datasource, action, error)
    message = datasource.redact(f"{action} failed: {type(error).__name__}: {error}".strip())
    return DatasourceConnectionError(
        message,
        datasource=datasource.name,
        fix="check host, port, credentials and that the server is running",
    )


def timeout_error(
    datasource: Datasource[Any], action: str, error: BaseException | None = None
) -> DatasourceTimeoutError:
    cause = f" ({type(error).__name__})" if error is not None else ""
    return DatasourceTimeoutError(
        datasource.redact(f"{action} did not finish within {datasource.timeout:g} s{cause}"),
        datasource=datasource.name,
        key="timeout",
        fix="check that the server is reachable and answering, "
        "or raise this datasource's 'timeout' setting",
    )
