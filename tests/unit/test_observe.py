"""Operating unifydb: /livez, /readyz and /metrics (a real HTTP server, the WSGI
and ASGI apps), per-datasource figures, and OpenTelemetry through the SDK's
in-memory reader and exporter."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import (
    NASTY_PASSWORD,
    PG_HOST,
    PG_PORT,
    assert_no_secret,
    clean_environment,
    pg_fields,
    registry_for,
    sqlite_file,
)
from unifydb.errors import DatasourceTimeoutError, UnifyDBError
from unifydb.observe import HealthApp, asgi_app, instrument
from unifydb.telemetry import failure_reason, set_observer


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wsgi_get(app: HealthApp, path: str, method: str = "GET") -> tuple[int, str]:
    started: list[str] = []
    body = b"".join(
        app(
            {"REQUEST_METHOD": method, "PATH_INFO": path},
            lambda status, headers: started.append(status),
        )
    )
    return int(started[0].split()[0]), body.decode()


def metric(body: str, name: str, **labels: str) -> float:
    """The value of one sample of ``name`` whose labels include ``labels``."""
    for line in body.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{labels} in:\n{body}")


# ----------------------------------------------------------------------------- serve


@pytest.fixture
def served(tmp_path: Path, closed_port: int) -> Iterator[str]:
    """``unifydb serve`` on a free port over SQLite, the machine's PostgreSQL and a
    required datasource on a closed port."""
    (tmp_path / "settings.toml").write_text(
        f"""
[datasources.lite]
type = "sqlite"
database = "{sqlite_file(tmp_path / "lite.db")}"

[datasources.pg]
type = "postgres"
host = "{PG_HOST}"
port = {PG_PORT}
database = "test"
username = "postgres"
use_connection_pool = false

[datasources.gone]
type = "postgres"
host = "127.0.0.1"
port = {closed_port}
database = "x"
username = "u"
password = "${{GONE_PASSWORD}}"
timeout = 3

[datasources.optional]
type = "mysql"
host = "127.0.0.1"
port = {closed_port}
database = "x"
username = "u"
required = false
"""
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "unifydb", "serve", "--port", "0", "--cache-seconds", "30"],
        cwd=tmp_path,
        env=clean_environment({"GONE_PASSWORD": NASTY_PASSWORD}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://\S+", line)
        assert match, (line, process.stderr.read() if process.stderr else "")
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.live
def test_serve_answers_livez_readyz_and_metrics(served: str) -> None:
    assert get(f"{served}/livez") == (200, '{"status": "alive"}\n')
    code, body = get(f"{served}/readyz")
    assert code == 503, body
    report = json.loads(body)
    assert report["status"] == "not ready"
    assert report["failing"] == ["gone"]  # optional (required = false) is left out
    assert set(report["datasources"]) == {"lite", "pg", "gone"}
    assert report["datasources"]["pg"]["status"] == "ok"
    assert report["datasources"]["gone"]["status"] == "error"

    code, metrics = get(f"{served}/metrics")
    assert code == 200
    assert metric(metrics, "unifydb_ready") == 0
    assert metric(metrics, "unifydb_health_status", datasource="pg", status="ok") == 1
    assert metric(metrics, "unifydb_health_status", datasource="gone", status="error") == 1
    assert metric(metrics, "unifydb_connects_total", datasource="pg", type="postgres") == 1
    assert (
        metric(metrics, "unifydb_connect_failures_total", datasource="gone", reason="refused") >= 1
    )
    assert metric(metrics, "unifydb_connect_seconds_count", datasource="pg") == 1
    assert metric(metrics, "unifydb_connect_seconds_bucket", datasource="pg", le="+Inf") == 1
    assert "# TYPE unifydb_connect_seconds histogram" in metrics
    for text_ in (body, metrics):
        assert_no_secret(text_, NASTY_PASSWORD)
    assert get(f"{served}/nope")[0] == 404


@pytest.mark.live
def test_a_probe_storm_costs_one_round_of_checks(served: str) -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(get(f"{served}/readyz")[0]))
        for _ in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [503] * 40
    # pg has no pool (use_connection_pool = false): one connection per check round
    metrics = get(f"{served}/metrics")[1]
    assert metric(metrics, "unifydb_connects_total", datasource="pg") == 1


# ----------------------------------------------------------------------------- the apps in-process


@pytest.mark.live
def test_pool_gauges_follow_a_load_test(pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg={**pg_settings, "pool_size": 3, "max_overflow": 2})
    app = HealthApp(registry)
    engine = registry.get_engine("pg")
    stop = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        while not stop.is_set():
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT pg_sleep(0.01)"))
            except BaseException as error:
                errors.append(error)
                return

    workers = [threading.Thread(target=load) for _ in range(8)]
    for worker in workers:
        worker.start()
    seen_out = []
    try:
        for _ in range(40):
            code, body = wsgi_get(app, "/metrics")
            assert code == 200
            seen_out.append(metric(body, "unifydb_pool_checked_out", datasource="pg"))
            assert metric(body, "unifydb_pool_size", datasource="pg") == 3
            assert 0 <= metric(body, "unifydb_pool_overflow", datasource="pg") <= 2
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert errors == []
    assert max(seen_out) >= 1 and max(seen_out) <= 5
    body = wsgi_get(app, "/metrics")[1]
    assert metric(body, "unifydb_connects_total", datasource="pg") == 5  # pool 3 + overflow 2
    registry.close_all()


def test_the_asgi_app_answers_without_blocking_the_loop(tmp_path: Path) -> None:
    registry = registry_for(lite={"type": "sqlite", "database": sqlite_file(tmp_path / "a.db")})
    app = asgi_app(registry)

    async def call(path: str, method: str = "GET") -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": method, "path": path}, receive, send)
        return sent[0]["status"], sent[1]["body"]

    async def main() -> list[tuple[int, bytes]]:
        return list(await asyncio.gather(call("/readyz"), call("/livez"), call("/metrics", "HEAD")))

    (ready, ready_body), (live, _), (head, head_body) = asyncio.run(main())
    assert (ready, live, head, head_body) == (200, 200, 200, b"")
    assert json.loads(ready_body)["datasources"]["lite"]["status"] == "ok"
    assert wsgi_get(HealthApp(registry), "/readyz", method="POST")[0] == 405
    registry.close_all()


def test_a_datasource_whose_variables_are_unset_does_not_hold_readiness(tmp_path: Path) -> None:
    registry = registry_for(
        lite={"type": "sqlite", "database": sqlite_file(tmp_path / "a.db")},
        later={"type": "postgres", "host": "${NOT_SET_ANYWHERE}"},
        must={"type": "postgres", "host": "${NOT_SET_EITHER}", "required": True},
    )
    code, body = wsgi_get(HealthApp(registry), "/readyz")
    report = json.loads(body)
    assert code == 503 and report["failing"] == ["must"]
    assert report["datasources"]["must"]["status"] == "not_configured"
    registry.close_all()


# ----------------------------------------------------------------------------- OpenTelemetry


@pytest.fixture
def otel() -> Iterator[tuple[Any, Any, Any, Any]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    yield reader, exporter, meter_provider, tracer_provider
    set_observer(None)


def points(reader: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for item in scope.metrics:
                found.setdefault(item.name, []).extend(item.data.data_points)
    return found


@pytest.mark.live
def test_open_telemetry_gets_metrics_and_spans_without_secrets(
    tmp_path: Path, otel: tuple[Any, Any, Any, Any], scram_postgres: Any, closed_port: int
) -> None:
    reader, exporter, meter_provider, tracer_provider = otel
    registry = registry_for(
        pg=pg_fields(scram_postgres, type="postgres", pool_size=2),
        wrong=pg_fields(scram_postgres, type="postgres", password="not-the-password-1"),
        gone={**pg_fields(scram_postgres, type="postgres"), "port": closed_port},
        lite={"type": "sqlite", "database": str(tmp_path / "m.db")},
    )
    instrument(registry, meter_provider=meter_provider, tracer_provider=tracer_provider)
    with registry.get_engine("pg").connect() as connection:
        connection.execute(text("SELECT 1"))
    for name in ("wrong", "gone"):
        with pytest.raises(UnifyDBError):
            registry.get_engine(name).connect()
    registry.health_check(["pg"])
    from unifydb.migrations import migrate

    repo = Path(__file__).resolve().parents[2]
    (result,) = migrate(
        ["lite"], ["upgrade", "head"], directory=repo / "migrations", registry=registry,
        echo=lambda _: None,
    )  # fmt: skip
    assert result.status == "ok", result.error

    found = points(reader)
    connects = {p.attributes["datasource"]: p.value for p in found["unifydb.connects"]}
    assert connects["pg"] >= 1
    reasons = {
        (p.attributes["datasource"], p.attributes["reason"])
        for p in found["unifydb.connect_failures"]
    }
    assert ("wrong", "auth") in reasons and ("gone", "refused") in reasons
    (size,) = [p for p in found["unifydb.pool.size"] if p.attributes["datasource"] == "pg"]
    assert size.value == 2
    checks = [p for p in found["unifydb.health_check.duration"] if p.attributes["status"] == "ok"]
    assert checks and checks[0].count == 1

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"unifydb.connect", "unifydb.health_check", "unifydb.migrate"} <= names
    migrate_span = next(span for span in spans if span.name == "unifydb.migrate")
    assert migrate_span.attributes["unifydb.datasource"] == "lite"
    everything = repr([(s.name, dict(s.attributes or {}), s.events, s.status) for s in spans])
    everything += repr(found)
    assert_no_secret(everything, NASTY_PASSWORD)
    assert "not-the-password-1" not in everything
    registry.close_all()


def test_instrument_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(UnifyDBError, match=r"unifydb\[otel\]"):
        instrument(registry_for())


# ----------------------------------------------------------------------------- reasons


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DatasourceTimeoutError("connect timed out"), "timeout"),
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (UnifyDBError("authentication failed", key="password"), "auth"),
        (RuntimeError('FATAL:  password authentication failed for user "u"'), "auth"),
        (RuntimeError("(1045, \"Access denied for user 'u'@'h'\")"), "auth"),
        (RuntimeError("something else"), "other"),
    ],
)
def test_failure_reasons(error: BaseException, reason: str) -> None:
    assert failure_reason(error) == reason
