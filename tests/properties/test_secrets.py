"""Secrets never leak: not in reprs, configs, URLs, engines, ``describe()``,
``target()``, DEBUG logs (unifydb's and the drivers'), exception messages and
their whole chains, nor in ``unifydb list/show/check`` output.

Every datasource type gets a distinctive password ("Sup3r-Secret-<type>-Zq9"),
Chroma and Milvus tokens, a Chroma header, and URL forms carry the password
with every URL-special character (SPECIAL, percent-escaped). Each output is
searched for every secret in raw, percent-encoded (quote, quote_plus),
repr-escaped and JSON-escaped form, case-insensitively; the module prints how
many (secret, output) pairs it checked ("secrets searched: ...").

Servers: PostgreSQL (throwaway scram cluster, and the TLS one for Supabase),
MariaDB on 127.0.0.1:3306 (for mysql and mariadb), a MongoDB-wire server with
--auth, one Cassandra node with PasswordAuthenticator, a Chroma HTTP server, a
redis-server with ``requirepass`` set to SPECIAL, and moto's AWS double for
Athena (it checks request signatures); Oracle, SQL Server, Milvus and
Elasticsearch are checked against a closed port and a hanging listener only,
DuckDB's MotherDuck token offline only (no MotherDuck is reachable here).
"""

from __future__ import annotations

import contextlib
import json
import logging
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.figures import record as record_figure
from tests.helpers import (
    MARIADB_HOST,
    MARIADB_PORT,
    NASTY_PASSWORD,
    mariadb_admin,
    registry_for,
    run_cli,
    sqlite_file,
    unique,
)
from tests.servers.faults import closed_port, hanging_listener
from unifydb.base import Datasource, SQLDatasource
from unifydb.catalog import BUILTIN as BUILTIN_TYPES
from unifydb.errors import ConfigurationError, UnifyDBError

TYPES = sorted(BUILTIN_TYPES)

#: in a secret, a type's name stands for it; one of WINDOW characters or more would
#: match the type's own name in every repr ("elasticsea"), so those are shortened
_SHORT = {"elasticsearch": "es"}
SECRETS = {kind: f"Sup3r-Secret-{_SHORT.get(kind, kind)}-Zq9" for kind in TYPES}
TOKENS = {
    kind: f"Sup3r-Token-{_SHORT.get(kind, kind)}-Zq9"
    for kind in ("chroma", "milvus", "athena", "elasticsearch")
}
HEADER = "Sup3r-Header-chroma-Zq9"
REPLICA = "Sup3r-Replica-postgres-Zq9"
CONNECT_ARG = "Sup3r-ConnectArg-postgres-Zq9"
WALLET = "Sup3r-Wallet-oracle-Zq9"
SSLKEY = "Sup3r-SslKey-postgres-Zq9"
#: rotating credentials: a ${secret:...} value, a password file, a command's output,
#: a token provider's token (a plugin of the unifydb.credentials group)
SECRET_REF = "Sup3r-SecretRef-Zq9"
PASSWORD_FILE = "Sup3r-PasswordFile-Zq9"
COMMAND = "Sup3r-Command-Zq9"
PROVIDER_TOKEN = "Sup3r-ProviderToken-Zq9"
#: every character that URLs, DSNs and connection strings treat specially
SPECIAL = "p@ss:w/o?r#d%&=+;{}'\"é"
#: the same without the 'é', for Chroma, whose token goes into an HTTP header (see
#: test_chroma_token_that_is_not_ascii)
SPECIAL_ASCII = "p@ss:w/o?r#d%&=+;{}'\"e-ascii"
#: name -> secret; the names are what a failure prints (never the secret itself)
LABELS = {
    **{f"password:{kind}": secret for kind, secret in SECRETS.items()},
    **{f"token:{kind}": secret for kind, secret in TOKENS.items()},
    "header:chroma": HEADER,
    "replica:postgres": REPLICA,
    "connect_args:postgres": CONNECT_ARG,
    "wallet:oracle": WALLET,
    "sslpassword:postgres": SSLKEY,
    "secret-ref": SECRET_REF,
    "password-file": PASSWORD_FILE,
    "password-command": COMMAND,
    "provider-token": PROVIDER_TOKEN,
    "special": SPECIAL,
    "special-ascii": SPECIAL_ASCII,
    "nasty": NASTY_PASSWORD,
}
#: a secret counts as shown when any 10 consecutive characters of it are
#: (a password cut at its first '@' and printed from there on is still a leak)
WINDOW = 10
TIMEOUT = 2.0
SEARCHED: Counter[str] = Counter()

#: loggers of unifydb and of every driver it uses, all captured at DEBUG
LOGGERS = (
    "unifydb",
    "sqlalchemy",
    "psycopg",
    "MySQLdb",
    "mariadb",
    "oracledb",
    "pyodbc",
    "pymssql",
    "pymongo",
    "cassandra",
    "chromadb",
    "pymilvus",
    "qdrant_client",
    "pinecone",
    "grpc",
    "redis",
    "elasticsearch",
    "elastic_transport",
    "botocore",
    "boto3",
    "pyathena",
    "httpx",
    "httpcore",
    "urllib3",
    "asyncio",
)


def forms(secret: str) -> set[str]:
    """The ways a secret can show up in text."""
    return {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def pieces(secret: str) -> set[str]:
    """The secret's forms, and every WINDOW-long piece of its raw form."""
    found = {form.casefold() for form in forms(secret)}
    found |= {secret[i : i + WINDOW].casefold() for i in range(len(secret) - WINDOW + 1)}
    return found


FORMS = {label: sorted(pieces(secret)) for label, secret in LABELS.items()}


def leaks(output: object) -> list[str]:
    """Labels of the secrets found in ``output`` (str, or its repr)."""
    text = (output if isinstance(output, str) else repr(output)).casefold()
    found = []
    for label, variants in FORMS.items():
        SEARCHED["pairs"] += 1
        if any(variant in text for variant in variants):
            found.append(label)
    return found


def assert_clean(where: str, *outputs: object) -> None:
    for index, output in enumerate(outputs):
        found = leaks(output)
        SEARCHED["outputs"] += 1
        assert not found, f"{where} (output {index}) shows {found}"


def exception_texts(error: BaseException | None) -> Iterator[str]:
    """Message, repr, args and traceback of an error and of everything in its chain
    (``__cause__`` and ``__context__``, suppressed or not)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield "".join(traceback.format_exception_only(type(current), current))
        for note in getattr(current, "__notes__", ()):
            yield str(note)
        pending += [current.__cause__, current.__context__]
        grouped = getattr(current, "exceptions", None)  # an ExceptionGroup
        if isinstance(grouped, (list, tuple)):
            pending += [item for item in grouped if isinstance(item, BaseException)]


def assert_error_clean(where: str, error: BaseException | None) -> None:
    assert_clean(where, *exception_texts(error))


def log_texts(records: Iterable[logging.LogRecord]) -> Iterator[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(threadName)s %(message)s")
    for record in records:
        yield formatter.format(record)  # with the traceback of exc_info, if any
        yield repr(record.args)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    record_figure("secrets searched: (secret, output) pairs", SEARCHED["pairs"])
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and reporter is not None and SEARCHED:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nsecrets searched: {SEARCHED['pairs']} (secret, output) pairs "
                f"({SEARCHED['outputs']} outputs x {len(LABELS)} secrets)"
            )


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged at DEBUG by unifydb and the drivers, propagating or not."""
    caplog.set_level(logging.DEBUG)
    attached = []
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        if not logger.propagate:  # pymilvus logs to its own stderr handler only
            logger.addHandler(caplog.handler)
            attached.append(logger)
    yield caplog
    for logger in attached:
        logger.removeHandler(caplog.handler)


def assert_logs_clean(where: str, caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, f"{where}: nothing was logged at DEBUG"
    assert_clean(f"{where}: DEBUG logs", *log_texts(caplog.records))


# ----------------------------------------------------------------------------- settings


def field_settings(kind: str, host: str, port: int, password: str | None = None) -> dict[str, Any]:
    """Settings of ``kind`` for a server at host:port, secrets in fields."""
    secret = password if password is not None else SECRETS[kind]
    server = {"host": host, "port": port, "username": "app", "password": secret}
    common = {"type": kind, "timeout": TIMEOUT}
    return {
        "postgres": {**common, **server, "database": "app"},
        "supabase": {**common, **server, "database": "app", "sslmode": "require"},
        "mysql": {**common, **server, "database": "app"},
        "mariadb": {**common, **server, "database": "app"},
        "oracle": {
            **common,
            **server,
            "service_name": "FREEPDB1",
            "wallet_password": WALLET,
        },
        "sqlserver": {**common, **server, "database": "app", "driver": "FreeTDS"},
        "mongodb": {
            **common,
            **server,
            "host": [host],
            "auth_source": "admin",
            "direct_connection": True,
        },
        "cassandra": {
            **common,
            "contact_points": host,
            "port": port,
            "username": "app",
            "password": secret,
            "protocol_version": 3,
        },
        "chroma": {
            **common,
            "host": host,
            "port": port,
            "token": TOKENS["chroma"] if password is None else secret,
            "headers": {"X-Api-Key": HEADER, "X-Trace": "1"},
        },
        "milvus": {
            **common,
            "uri": f"http://{host}:{port}",
            "user": "root",
            "password": secret,
        },
        "qdrant": {**common, "host": host, "port": port, "api_key": secret},
        "pgvector": {**common, **server, "database": "app", "distance": "cosine"},
        # the index host (HTTPS); the control plane is never reached with a host
        "pinecone": {**common, "host": f"{host}:{port}", "api_key": secret},
        # SQLite has no credentials: a password given anyway must be refused unechoed
        "sqlite": {**common, "database": "secrets.db", "password": secret},
        # DuckDB's one secret: the MotherDuck token (no MotherDuck is reachable here)
        "duckdb": {**common, "database": "md:secrets", "motherduck_token": secret},
        "athena": {
            **common,
            "region": "us-east-1",
            "work_group": "primary",
            "endpoint_url": f"http://{host}:{port}",
            "aws_access_key_id": "AKIAUNIFYDBTEST",
            "aws_secret_access_key": secret,
            "aws_session_token": TOKENS["athena"],
        },
        "elasticsearch": {
            **common,
            "node": f"http://{host}:{port}",
            "auth": {"username": "app", "password": secret},
        },
        "redis": {**common, "host": host, "port": port, "password": secret},
    }[kind]


def url_settings(kind: str, host: str, port: int, password: str = SPECIAL) -> dict[str, Any] | None:
    """Settings of ``kind`` with the password inside a URL (percent-escaped)."""
    escaped = quote(password, safe="")
    common = {"type": kind, "timeout": TIMEOUT}
    urls = {
        "postgres": f"postgresql://app:{escaped}@{host}:{port}/app",
        "pgvector": f"postgresql://app:{escaped}@{host}:{port}/app",
        "supabase": f"postgresql://app:{escaped}@{host}:{port}/app?sslmode=require",
        "mysql": f"mysql://app:{escaped}@{host}:{port}/app",
        "mariadb": f"mariadb://app:{escaped}@{host}:{port}/app",
        "oracle": f"oracle+oracledb://app:{escaped}@{host}:{port}/?service_name=FREEPDB1",
        "sqlserver": f"mssql+pyodbc://app:{escaped}@{host}:{port}/app?driver=FreeTDS",
        "mongodb": f"mongodb://app:{quote_plus(password)}@{host}:{port}/app"
        "?authSource=admin&directConnection=true",
    }
    if kind in urls:
        return {**common, "url": urls[kind]}
    if kind == "milvus":
        return {**common, "uri": f"http://root:{escaped}@{host}:{port}"}
    if kind == "redis":
        return {**common, "url": f"redis://:{escaped}@{host}:{port}/0"}
    if kind == "elasticsearch":
        return {**common, "url": f"http://app:{escaped}@{host}:{port}"}
    if kind == "elasticsearch-apikey":
        return {
            **common,
            "type": "elasticsearch",
            "node": f"http://{host}:{port}",
            "api_key": TOKENS["elasticsearch"],
        }
    if kind == "athena":
        return {
            **common,
            "url": f"awsathena+rest://AKIAUNIFYDBTEST:{escaped}@athena.us-east-1.amazonaws.com:443"
            f"/default?work_group=primary&endpoint_url=http%3A%2F%2F{host}%3A{port}",
        }
    if kind == "milvus-token":
        return {
            **common,
            "type": "milvus",
            "uri": f"http://{host}:{port}",
            "token": TOKENS["milvus"],
        }
    if kind == "cassandra":
        return field_settings(kind, host, port, password)
    header_safe = SPECIAL_ASCII if password == SPECIAL else password  # sent in a header
    if kind == "qdrant":
        return {**common, "url": f"http://{host}:{port}", "api_key": header_safe}
    if kind == "pinecone":
        return {**common, "controller_host": f"http://{host}:{port}", "api_key": header_safe}
    if kind == "chroma":
        token = SPECIAL_ASCII if password == SPECIAL else password
        return {**field_settings(kind, host, port, token), "token_header": "X-Chroma-Token"}
    return None


def url_entry(kind: str, host: str, port: int, password: str = SPECIAL) -> dict[str, Any]:
    entry = url_settings(kind, host, port, password)
    assert entry is not None, kind
    return entry


def every_form(host: str, port: int) -> dict[str, dict[str, Any]]:
    """Each type with secrets in fields, and in a URL where it has one."""
    entries = {f"{kind}_fields": field_settings(kind, host, port) for kind in TYPES}
    for kind in [*TYPES, "milvus-token", "elasticsearch-apikey"]:
        entry = url_settings(kind, host, port)
        if entry is not None:
            entries[f"{kind.replace('-', '_')}_url"] = entry
    del entries["sqlite_fields"]  # refused: see test_secret_given_to_a_type_without_one
    del entries["duckdb_fields"]  # MotherDuck: offline only (see the module's docstring)
    return entries


def sql_outputs(datasource: SQLDatasource) -> list[object]:
    """What a SQL datasource shows of its URL and engines."""
    engine = datasource.get_engine()
    url = datasource.url()
    outputs: list[object] = [
        repr(url),
        str(url),
        url.render_as_string(hide_password=True),
        repr(engine),
        str(engine.url),
        engine.url.render_as_string(hide_password=True),
        repr(engine.pool),
        engine.pool.status(),
    ]
    if datasource.async_drivername:
        with contextlib.suppress(UnifyDBError):
            async_engine = datasource.get_async_engine()
            outputs += [
                repr(async_engine),
                str(async_engine.url),
                async_engine.url.render_as_string(hide_password=True),
            ]
    return outputs


def object_outputs(datasource: Datasource) -> list[object]:
    """Everything a datasource object shows about itself."""
    config = datasource.config
    outputs: list[object] = [
        repr(datasource),
        str(datasource),
        repr(config),
        str(config),
        config.redacted(),
        datasource.describe(),
        json.dumps(datasource.describe(), default=str),
        datasource.target(),
    ]
    if isinstance(datasource, SQLDatasource):
        outputs += sql_outputs(datasource)
    return outputs


# ----------------------------------------------------------------------------- offline


def offline_entry(kind: str) -> dict[str, Any]:
    """Settings of ``kind`` with every secret it can hold, pointing nowhere."""
    entry = field_settings(kind, "db.example", 5999)
    if kind == "postgres":
        entry |= {
            "sslpassword": SSLKEY,
            "connect_args": {"password": CONNECT_ARG, "application_name": "app"},
            "replicas": [
                f"postgresql://app:{REPLICA}@replica-1:5432/app",
                {"host": "replica-2", "password": REPLICA},
            ],
        }
    if kind == "sqlite":
        entry = {"type": "sqlite", "database": "secrets.db"}
    return entry


OFFLINE = [
    *[pytest.param(kind, offline_entry(kind), id=f"{kind}-fields") for kind in TYPES],
    *[
        pytest.param(kind.split("-")[0], entry, id=f"{kind}-url")
        for kind in [*TYPES, "milvus-token", "elasticsearch-apikey"]
        if (entry := url_settings(kind, "db.example", 5999)) is not None
    ],
]


@pytest.mark.parametrize(("kind", "entry"), OFFLINE)
def test_datasource_objects_and_engines_show_no_secret(
    kind: str, entry: dict[str, Any], debug_logs: pytest.LogCaptureFixture
) -> None:
    form = "url" if "url" in entry or "uri" in entry or "api_key" in entry else "fields"
    registry = registry_for(ds=entry)
    datasource = registry.get_datasource("ds")  # built and initialized: engines exist
    try:
        assert_clean(f"{kind}/{form}", *object_outputs(datasource))
        assert_clean(f"{kind}/{form} registry", repr(registry), registry.inspect("ds"))
        if isinstance(datasource, SQLDatasource):
            for replica in datasource.replicas():
                assert_clean(f"{kind}/{form} replica", *object_outputs(replica))
    finally:
        registry.close_all()
    assert_logs_clean(f"{kind}/{form}", debug_logs)


def test_secret_given_to_a_type_without_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(lite=field_settings("sqlite", "h", 1)).build("lite")
    assert caught.value.key == "password"
    assert_error_clean("sqlite with a password", caught.value)


def _bad_option_cases() -> Iterator[Any]:
    """Settings that hold a secret and are wrong in some other way."""
    for kind in TYPES:
        base = field_settings(kind, "db.example", 5999)
        yield pytest.param(kind, {**base, "port": "not-a-port"}, id=f"{kind}-bad-port")
        yield pytest.param(kind, {**base, "timeout": -1}, id=f"{kind}-bad-timeout")
        yield pytest.param(kind, {**base, "pasword": SECRETS[kind]}, id=f"{kind}-unknown-key")
        yield pytest.param(kind, {**base, "password": [SECRETS[kind]]}, id=f"{kind}-password-list")
        yield pytest.param(
            kind, {**base, "password_file": "/nonexistent/pw"}, id=f"{kind}-password-and-file"
        )
    sql_schemes = {
        "postgres": "postgresql",
        "supabase": "postgresql",
        "pgvector": "postgresql",
        "mysql": "mysql",
        "mariadb": "mariadb",
        "oracle": "oracle+oracledb",
        "sqlserver": "mssql+pyodbc",
        "sqlite": "sqlite",
    }
    for kind, scheme in sql_schemes.items():
        secret = SECRETS[kind]
        for label, url in {
            "wrong-scheme": f"redis://app:{secret}@h/app",
            "not-a-url": f"{secret}@h",
            "unescaped-special": f"{scheme}://app:{SPECIAL}@h:5432/app",
            "bad-query": f"{scheme}://app:{secret}@h/app?timeout=-{secret}",
        }.items():
            yield pytest.param(kind, {"type": kind, "url": url}, id=f"{kind}-url-{label}")
    secret = SECRETS["mongodb"]
    for label, value in {
        "unescaped-at": f"mongodb://app:{secret}@x@h/app",
        "wrong-scheme": f"postgresql://app:{secret}@h/app",
        "unescaped-slash": f"mongodb://app:{secret}/x@h/app",
    }.items():
        yield pytest.param("mongodb", {"type": "mongodb", "url": value}, id=f"mongodb-url-{label}")
    yield pytest.param(
        "mongodb", {"type": "mongodb", "host": f"app:{secret}@h"}, id="mongodb-host-with-login"
    )
    secret = SECRETS["milvus"]
    for label, value in {
        "wrong-scheme": f"ftp://root:{secret}@h",
        "nfkc": f"http://root:{secret}\uff03x@h:19530",
        "bad-ipv6": f"http://root:{secret}@[::1:19530",
    }.items():
        yield pytest.param("milvus", {"type": "milvus", "uri": value}, id=f"milvus-uri-{label}")
    yield pytest.param(
        "milvus",
        {"type": "milvus", "uri": "http://h:19530", "token": TOKENS["milvus"], "user": "root"},
        id="milvus-token-and-user",
    )
    yield pytest.param(
        "chroma",
        {"type": "chroma", "host": "h", "token": TOKENS["chroma"], "token_header": "Cookie"},
        id="chroma-bad-token-header",
    )
    yield pytest.param(
        "chroma",
        {"type": "chroma", "host": "h", "headers": {"Authorization": [HEADER]}},
        id="chroma-header-not-text",
    )
    yield pytest.param(
        "cassandra",
        {
            "type": "cassandra",
            "contact_points": "h",
            "password": SECRETS["cassandra"],
            "consistency": "most",
        },
        id="cassandra-bad-consistency",
    )
    secret = SECRETS["redis"]
    for label, value in {
        "wrong-scheme": f"http://:{secret}@h:6379/0",
        "unescaped-at": f"redis://:{secret}@x@h:6379/0",
        "bad-port": f"redis://:{secret}@h:port/0",
        "unknown-option": f"redis://:{secret}@h:6379/0?{secret}=1",
    }.items():
        yield pytest.param("redis", {"type": "redis", "url": value}, id=f"redis-url-{label}")
    secret = SECRETS["elasticsearch"]
    for label, entry in {
        "node-with-login": {"node": f"http://app:{secret}@h:9200"},
        "url-wrong-scheme": {"url": f"ftp://app:{secret}@h"},
        "auth-not-a-table": {"node": "http://h:9200", "auth": f"app:{secret}"},
        "auth-unknown-key": {"node": "http://h:9200", "auth": {"pasword": secret}},
        "api-key-and-password": {
            "node": "http://h:9200",
            "api_key": TOKENS["elasticsearch"],
            "auth": {"username": "app", "password": secret},
        },
    }.items():
        yield pytest.param(
            "elasticsearch", {"type": "elasticsearch", **entry}, id=f"elasticsearch-{label}"
        )
    secret = SECRETS["athena"]
    for label, entry in {
        "url-wrong-host": {"url": f"awsathena+rest://AKIA:{secret}@example.com:443/default"},
        "secret-without-key": {"aws_secret_access_key": secret},
        "bad-region": {"region": secret, "aws_session_token": TOKENS["athena"]},
    }.items():
        yield pytest.param("athena", {"type": "athena", **entry}, id=f"athena-{label}")
    yield pytest.param(
        "duckdb",
        {"type": "duckdb", "database": "local.duckdb", "motherduck_token": SECRETS["duckdb"]},
        id="duckdb-token-for-a-local-file",
    )


@pytest.mark.parametrize(("kind", "entry"), list(_bad_option_cases()))
def test_errors_about_bad_options_show_no_secret(
    kind: str, entry: dict[str, Any], debug_logs: pytest.LogCaptureFixture
) -> None:
    registry = registry_for(ds=entry)
    with pytest.raises(UnifyDBError) as caught:
        registry.get_datasource("ds")
    assert caught.value.datasource == "ds"
    assert_error_clean(f"{kind} error", caught.value)
    status = registry.health_check(["ds"])["ds"]
    assert status.status == "error"
    assert_clean(f"{kind} status", status.detail, repr(status), status.as_dict())
    assert_error_clean(f"{kind} status error", status.error)
    assert_clean(f"{kind} logs", *log_texts(debug_logs.records))


# ----------------------------------------------------------------------------- faults


def failures(entries: dict[str, dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    """Health-check every entry (in parallel, as `unifydb check` does) and get each
    one's client/connection directly; nothing shown may hold a secret."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from unifydb.observe import HealthApp, instrument
    from unifydb.telemetry import set_observer

    reader, exporter, tracer_provider = (
        InMemoryMetricReader(),
        InMemorySpanExporter(),
        TracerProvider(),
    )
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = registry_for(**entries)
    instrument(
        registry,
        meter_provider=MeterProvider(metric_readers=[reader]),
        tracer_provider=tracer_provider,
    )
    try:
        # built one after the other first: see test_check_builds_every_datasource
        for name in registry.names():
            registry.get_datasource(name)
        statuses = registry.health_check()
        # what operators see: the HTTP endpoints and OpenTelemetry
        app = HealthApp(registry)
        for path in ("/readyz", "/metrics"):
            code, _, body = app.respond("GET", path)
            assert code in (200, 503)
            assert_clean(f"serve {path}", body.decode())
        spans = exporter.get_finished_spans()
        assert spans, "the checks were traced"
        assert_clean(
            "OpenTelemetry",
            repr([(span.name, dict(span.attributes or {}), span.events) for span in spans]),
            repr(reader.get_metrics_data().to_json()),
        )
        for name, status in statuses.items():
            assert not status.ok, (name, status)
            assert_clean(f"{name} status", status.detail, repr(status), status.as_dict())
            assert_error_clean(f"{name} status error", status.error)
            with contextlib.suppress(UnifyDBError):
                status.raise_for_status()

        def direct(name: str) -> list[str]:
            datasource = registry.get_datasource(name)
            try:
                if isinstance(datasource, SQLDatasource):
                    with datasource.get_engine().connect():
                        pass
                else:
                    datasource.get_client()
            except Exception as error:
                return list(exception_texts(error))
            return []

        with ThreadPoolExecutor(max_workers=len(entries)) as pool:
            for name, texts in zip(entries, pool.map(direct, entries), strict=True):
                assert_clean(f"{name} direct error", *texts)
    finally:
        set_observer(None)
        registry.close_all()
    assert_logs_clean("faults", caplog)


def test_unreachable_servers_show_no_secret(debug_logs: pytest.LogCaptureFixture) -> None:
    failures(every_form("127.0.0.1", closed_port()), debug_logs)


def test_hanging_servers_show_no_secret(debug_logs: pytest.LogCaptureFixture) -> None:
    with hanging_listener() as (host, port):
        entries = every_form(str(host), int(port))
        registry = registry_for(**entries)
        try:
            for name in registry.names():
                registry.get_datasource(name)
            statuses = registry.health_check()
            for name, status in statuses.items():
                assert status.status in ("timeout", "error"), (name, status)
                assert_clean(f"{name} status", status.detail, repr(status), status.as_dict())
                assert_error_clean(f"{name} status error", status.error)
        finally:
            registry.close_all()
    assert_logs_clean("hanging", debug_logs)


# ----------------------------------------------------------------------------- live servers


def check_login(
    where: str,
    entry: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    *,
    works: bool,
) -> None:
    """Health-check (and use) one datasource; whatever it shows holds no secret."""
    registry = registry_for(ds=entry)
    try:
        datasource = registry.get_datasource("ds")
        status = registry.health_check()["ds"]
        assert status.ok == works, status
        assert_clean(f"{where} status", status.detail, repr(status), status.as_dict())
        assert_error_clean(f"{where} status error", status.error)
        if works:
            if isinstance(datasource, SQLDatasource):
                from sqlalchemy import text

                with datasource.get_engine().connect() as connection:
                    connection.execute(text("SELECT 1")).scalar()
            else:
                datasource.get_client()
        else:
            try:
                if isinstance(datasource, SQLDatasource):
                    with datasource.get_engine().connect():
                        pass
                else:
                    datasource.get_client()
                    datasource.health_check().raise_for_status()
            except Exception as error:
                assert_error_clean(f"{where} direct error", error)
            else:
                raise AssertionError(f"{where}: logging in with a wrong password worked")
        assert_clean(f"{where} objects", *object_outputs(datasource))
    finally:
        registry.close_all()
    assert_logs_clean(where, caplog)


@pytest.fixture(scope="module")
def pg_special(scram_postgres: Any) -> str:
    """A role on the scram cluster whose password is SPECIAL; returns its name."""
    import psycopg
    from psycopg import sql

    user = unique("special")
    with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(SPECIAL)
            )
        )
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(scram_postgres.database), sql.Identifier(user)
            )
        )
    return user


@pytest.mark.live
@pytest.mark.parametrize("form", ["fields", "url"])
def test_postgres_logins(
    scram_postgres: Any, pg_special: str, form: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    host, port, database = scram_postgres.host, scram_postgres.port, scram_postgres.database
    if form == "fields":
        right = {**field_settings("postgres", host, port, SPECIAL), "username": pg_special}
        wrong = field_settings("postgres", host, port)
    else:
        right = {
            "type": "postgres",
            "url": f"postgresql://{pg_special}:{quote(SPECIAL, safe='')}@{host}:{port}/{database}",
        }
        wrong = url_entry("postgres", host, port, SECRETS["postgres"])
    right["database"] = database
    wrong["database"] = database
    check_login(f"postgres/{form} right password", right, debug_logs, works=True)
    check_login(f"postgres/{form} wrong password", wrong, debug_logs, works=False)


@pytest.mark.live
def test_supabase_login_over_tls(tls_server: Any, debug_logs: pytest.LogCaptureFixture) -> None:
    entry = {
        **field_settings("supabase", tls_server.host, tls_server.port),
        "database": tls_server.database,
        "username": tls_server.user,
    }
    check_login("supabase wrong password", entry, debug_logs, works=False)
    entry |= {
        "password": tls_server.password,  # NASTY_PASSWORD
        "sslmode": "verify-full",
        "sslrootcert": str(tls_server.ca_cert),
    }
    check_login("supabase right password", entry, debug_logs, works=True)


@pytest.fixture(scope="module")
def mariadb_special() -> Iterator[str]:
    """A MariaDB user (on 127.0.0.1:3306) whose password is SPECIAL."""
    user = unique("special")
    admin = mariadb_admin()
    cursor = admin.cursor()
    try:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, SPECIAL))
        yield user
    finally:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
        admin.close()


@pytest.mark.live
@pytest.mark.parametrize("kind", ["mysql", "mariadb"])
@pytest.mark.parametrize("form", ["fields", "url"])
def test_mysql_and_mariadb_logins(
    mariadb_special: str, kind: str, form: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    host, port = MARIADB_HOST, MARIADB_PORT
    if form == "fields":
        right = {**field_settings(kind, host, port, SPECIAL), "username": mariadb_special}
        wrong = {**field_settings(kind, host, port), "username": mariadb_special}
    else:
        scheme = {"mysql": "mysql", "mariadb": "mariadb"}[kind]
        right = {
            "type": kind,
            "url": f"{scheme}://{mariadb_special}:{quote(SPECIAL, safe='')}@{host}:{port}/",
        }
        wrong = {
            "type": kind,
            "url": f"{scheme}://{mariadb_special}:{quote(SECRETS[kind], safe='')}@{host}:{port}/",
        }
    for entry in (right, wrong):
        entry.pop("database", None)
    check_login(f"{kind}/{form} right password", right, debug_logs, works=True)
    check_login(f"{kind}/{form} wrong password", wrong, debug_logs, works=False)


@pytest.fixture(scope="module")
def mongo_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo-secrets"), auth=True) as server:
        server.create_user("special", SPECIAL, roles=["root"])
        yield server


@pytest.mark.live
@pytest.mark.parametrize("form", ["fields", "url"])
def test_mongodb_logins(mongo_auth: Any, form: str, debug_logs: pytest.LogCaptureFixture) -> None:
    host, port = mongo_auth.host, mongo_auth.port
    if form == "fields":
        right = {**field_settings("mongodb", host, port, SPECIAL), "username": "special"}
        wrong = {**field_settings("mongodb", host, port), "username": "special"}
    else:
        right = {**url_entry("mongodb", host, port), "database": "app"}
        right["url"] = right["url"].replace("//app:", "//special:")
        wrong = url_entry("mongodb", host, port, SECRETS["mongodb"])
        wrong["url"] = wrong["url"].replace("//app:", "//special:")
    check_login(f"mongodb/{form} right password", right, debug_logs, works=True)
    check_login(f"mongodb/{form} wrong password", wrong, debug_logs, works=False)


@pytest.fixture(scope="module")
def cassandra_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The one Cassandra node of this module, with PasswordAuthenticator."""
    from tests.servers.cassandra import PASSWORD_AUTH, cassandra

    with cassandra(
        tmp_path_factory.mktemp("cassandra-secrets"), authenticator=PASSWORD_AUTH
    ) as server:
        server.create_user("special", SPECIAL)
        yield server


@pytest.mark.live
@pytest.mark.slow
def test_cassandra_logins(cassandra_auth: Any, debug_logs: pytest.LogCaptureFixture) -> None:
    host, port = cassandra_auth.host, cassandra_auth.port
    right = {**field_settings("cassandra", host, port, SPECIAL), "username": "special"}
    wrong = {**field_settings("cassandra", host, port), "username": "special"}
    check_login("cassandra right password", right, debug_logs, works=True)
    check_login("cassandra wrong password", wrong, debug_logs, works=False)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.chroma_http import chroma_http

    with chroma_http(tmp_path_factory.mktemp("chroma-secrets")) as server:
        yield server


@pytest.mark.live
@pytest.mark.parametrize("token_header", ["Authorization", "X-Chroma-Token"])
def test_chroma_with_a_token(
    chroma_server: Any, token_header: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    # the test server has no auth: the token and headers are sent, and must not be shown
    entry = {
        **field_settings("chroma", chroma_server.host, chroma_server.port),
        "token_header": token_header,
    }
    check_login(f"chroma/{token_header}", entry, debug_logs, works=True)


@pytest.fixture(scope="module")
def redis_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server whose requirepass is SPECIAL."""
    from tests.servers.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis-secrets"), password=SPECIAL) as server:
        yield server


@pytest.mark.live
@pytest.mark.parametrize("form", ["fields", "url"])
def test_redis_logins(redis_auth: Any, form: str, debug_logs: pytest.LogCaptureFixture) -> None:
    host, port = redis_auth.host, redis_auth.port
    if form == "fields":
        right = field_settings("redis", host, port, SPECIAL)
        wrong = field_settings("redis", host, port)
    else:
        right = url_entry("redis", host, port)
        wrong = url_entry("redis", host, port, SECRETS["redis"])
    check_login(f"redis/{form} right password", right, debug_logs, works=True)
    check_login(f"redis/{form} wrong password", wrong, debug_logs, works=False)


@pytest.fixture(scope="module")
def moto_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    """moto's AWS double with one IAM user: (server, access key id, secret key)."""
    from tests.servers.moto_aws import moto_aws

    with moto_aws(tmp_path_factory.mktemp("moto-secrets")) as server:
        key, secret = server.create_user()
        yield server, key, secret


@pytest.mark.live
def test_athena_credentials(
    moto_user: tuple[Any, str, str], debug_logs: pytest.LogCaptureFixture
) -> None:
    server, key, secret = moto_user
    endpoint = {"endpoint_url": server.endpoint_url, "aws_access_key_id": key, "timeout": 5}
    wrong = {**field_settings("athena", "127.0.0.1", 1), **endpoint}
    right = {**wrong, "aws_secret_access_key": secret}
    del right["aws_session_token"]
    check_login("athena right secret key", right, debug_logs, works=True)
    check_login("athena wrong secret key", wrong, debug_logs, works=False)
    # moto's secret key is random, so not among the module's labels: searched on its own
    registry = registry_for(ds=right)
    try:
        shown = [*object_outputs(registry.get_datasource("ds")), registry.health_check()["ds"]]
    finally:
        registry.close_all()
    for output in [*shown, *log_texts(debug_logs.records)]:
        assert secret not in (output if isinstance(output, str) else repr(output))


# ----------------------------------------------------------------------------- the CLI


def toml_entry(name: str, entry: dict[str, Any], variables: dict[str, str]) -> str:
    """A [datasources.<name>] table; secrets become ${VAR} placeholders in ``variables``."""

    def placeholder(path: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: placeholder(f"{path}_{k}", v) for k, v in value.items()}
        if isinstance(value, str) and (value in LABELS.values() or "://" in value):
            variable = f"SECRET_{path.upper().replace('-', '_')}"
            variables[variable] = value
            return "${" + variable + "}"
        return value

    def render(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {render(v)}" for k, v in value.items()) + "}"
        return json.dumps(value)

    lines = [f"[datasources.{name}]"]
    for key, value in entry.items():
        lines.append(f"{key} = {render(placeholder(f'{name}_{key}', value))}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def live(
    scram_postgres: Any,
    mariadb_special: str,
    mongo_auth: Any,
    cassandra_auth: Any,
    chroma_server: Any,
) -> dict[str, Any]:
    """Every server of this module, running."""
    return {
        "pg": scram_postgres,
        "maria_user": mariadb_special,
        "mongo": mongo_auth,
        "cassandra": cassandra_auth,
        "chroma": chroma_server,
    }


def cli_outputs_are_clean(folder: Path, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``unifydb list/show/check`` (text and JSON) on ``entries``, secrets passed as
    ${VAR} placeholders; no output holds a secret. Returns check's statuses by name."""
    variables: dict[str, str] = {}
    (folder / "settings.toml").write_text(
        "\n\n".join(toml_entry(name, entry, variables) for name, entry in entries.items()) + "\n"
    )
    assert variables, "the secrets are passed as ${VAR} placeholders"
    # a long timeout: with --processes it counts from the command's start, and the
    # first check of a fresh process imports chromadb, pymilvus and the other drivers
    # within it (test_first_check_counts_driver_imports_against_the_timeout); on a
    # loaded machine that took more than 8 s. The unreachable ones fail fast anyway.
    commands = [["list"], ["list", "--json"], ["check", "--timeout", "30"]]
    commands += [["check", "--json", "--timeout", "30"]]
    for name in entries:
        commands += [["show", name], ["show", "--json", name]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: run_cli(*args, cwd=folder, env=variables), commands))
    for args, result in zip(commands, results, strict=True):
        where = "unifydb " + " ".join(args)
        assert_clean(f"{where} stdout", result.stdout)
        assert_clean(f"{where} stderr", result.stderr)
        if args[0] == "show":
            expected = 1 if args[-1] == "broken" else 0
            assert result.returncode == expected, (where, result.stderr[-2000:])
    return {item["name"]: item for item in json.loads(results[3].stdout)}


@pytest.mark.live
def test_cli_of_duckdb_athena_elasticsearch_redis_shows_no_secret(
    tmp_path: Path, redis_auth: Any
) -> None:
    """The same for the later types, in a settings file of their own (each driver
    imported counts against --timeout, and the first file's check is full)."""
    port = closed_port()
    host = (redis_auth.host, redis_auth.port)
    entries = {
        "redis": field_settings("redis", *host),
        "redis_url": url_entry("redis", *host, SECRETS["redis"]),
        "es": field_settings("elasticsearch", "127.0.0.1", port),
        "es_url": url_entry("elasticsearch", "127.0.0.1", port),
        "es_key": url_entry("elasticsearch-apikey", "127.0.0.1", port),
        "athena": field_settings("athena", "127.0.0.1", port),
        "athena_url": url_entry("athena", "127.0.0.1", port),
        "duck": {**field_settings("duckdb", "127.0.0.1", port), "timeout": 2},
    }
    checked = cli_outputs_are_clean(tmp_path, entries)
    for name in ("redis", "redis_url"):
        assert checked[name]["status"] == "error", checked[name]  # wrong passwords
    # a closed port: refused at once, but building boto3's clients and importing the
    # drivers count against the 2 s each has, which a loaded machine can exceed; the
    # point here is what the output holds
    for name in ("es", "es_url", "es_key", "athena", "athena_url", "duck"):
        assert checked[name]["status"] in ("error", "timeout"), checked[name]


@pytest.mark.live
@pytest.mark.slow
def test_cli_list_show_check_show_no_secret(tmp_path: Path, live: dict[str, Any]) -> None:
    scram_postgres, mariadb_special = live["pg"], live["maria_user"]
    mongo_auth, cassandra_auth, chroma_server = live["mongo"], live["cassandra"], live["chroma"]
    port = closed_port()
    pg = (scram_postgres.host, scram_postgres.port)
    entries = {
        "pg": {**field_settings("postgres", *pg), "database": scram_postgres.database},
        "pg_url": url_entry("postgres", *pg, SECRETS["postgres"]),
        "supabase": field_settings("supabase", "127.0.0.1", port),
        "lite": {"type": "sqlite", "database": sqlite_file(tmp_path / "cli.db")},
        "my": {**field_settings("mysql", MARIADB_HOST, MARIADB_PORT), "username": mariadb_special},
        "maria_url": url_entry("mariadb", MARIADB_HOST, MARIADB_PORT, SECRETS["mariadb"]),
        "ora": field_settings("oracle", "127.0.0.1", port),
        "mssql": field_settings("sqlserver", "127.0.0.1", port),
        "mongo": {
            **field_settings("mongodb", mongo_auth.host, mongo_auth.port),
            "username": "special",
        },
        "mongo_url": url_entry("mongodb", mongo_auth.host, mongo_auth.port, SECRETS["mongodb"]),
        "cass": {
            **field_settings("cassandra", cassandra_auth.host, cassandra_auth.port),
            "username": "special",
        },
        # connecting is bounded by the datasource's own timeout, not by --timeout
        "chroma": {
            **field_settings("chroma", chroma_server.host, chroma_server.port),
            "timeout": 10,
        },
        "milvus": field_settings("milvus", "127.0.0.1", port),
        "milvus_url": url_entry("milvus", "127.0.0.1", port),
        "qdrant": field_settings("qdrant", "127.0.0.1", port),
        "qdrant_url": url_entry("qdrant", "127.0.0.1", port, SECRETS["qdrant"]),
        "pgvector_url": url_entry("pgvector", "127.0.0.1", port, SECRETS["pgvector"]),
        "pinecone": field_settings("pinecone", "127.0.0.1", port),
        "broken": {**field_settings("postgres", "h", 1), "port": "not-a-port"},
    }
    checked = cli_outputs_are_clean(tmp_path, entries)
    # (a first check in a fresh process may hit the import race pinned by
    # test_check_builds_every_datasource; the output is searched all the same)
    race = "partially initialized module"
    for name in ("chroma", "lite"):
        assert checked[name]["status"] == "ok" or race in checked[name]["detail"], checked[name]
    for name in ("pg", "pg_url", "my", "maria_url", "mongo", "mongo_url"):
        assert checked[name]["status"] == "error", checked[name]  # wrong passwords
    # Cassandra refuses a wrong password after a while; on a loaded machine that can
    # take longer than --timeout. Either failure is right here: the point of this
    # test is what the output holds, not how fast the login is refused.
    assert checked["cass"]["status"] in ("error", "timeout"), checked["cass"]


# ----------------------------------------------------------------------------- fixed here
# Leaks the options models had; these pass now.


def test_option_tables_are_masked_in_repr_and_describe() -> None:
    entry = {
        "type": "postgres",
        "host": "h",
        "connect_args": {
            "password": CONNECT_ARG,
            "sslpassword": CONNECT_ARG,
            "x": {"token": CONNECT_ARG},
        },
        "engine_options": {"pool_pre_ping": True},
        "replicas": [f"postgresql://app:{REPLICA}@r1/app", {"host": "r2", "password": REPLICA}],
    }
    datasource = registry_for(pg=entry).build("pg")
    assert_clean("postgres tables", *object_outputs(datasource))
    described = datasource.describe()["options"]
    assert described["connect_args"]["password"] == "***"
    assert described["replicas"][0] == "postgresql://app:***@r1/app"
    assert described["replicas"][1] == {"host": "r2", "password": "***"}


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        ("chroma", {"type": "chroma", "host": "h", "headers": {"Authorization": HEADER}}),
        (
            "mongodb",
            {
                "type": "mongodb",
                "host": "h",
                "client_options": {"tlsCertificateKeyFilePassword": HEADER},
            },
        ),
        ("milvus", {"type": "milvus", "uri": f"http://root:{SECRETS['milvus']}@h:19530"}),
        (
            "cassandra",
            {"type": "cassandra", "contact_points": "h", "cluster_options": {"password": HEADER}},
        ),
    ],
)
def test_config_repr_matches_redacted(kind: str, entry: dict[str, Any]) -> None:
    config = registry_for(ds=entry).build("ds").config
    assert_clean(f"{kind} config", repr(config), str(config), config.redacted())


# ----------------------------------------------------------------------- found here, elsewhere
# Regression tests for leaks found outside settings.py/options.py.


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "postgres", "url": f"postgresql://app@h/app?password={SECRETS['postgres']}"},
        {
            "type": "sqlserver",
            "host": "h",
            "driver": "FreeTDS",
            "odbc_options": {"PWD": SECRETS["sqlserver"]},
        },
    ],
    ids=["postgres-query-password", "sqlserver-odbc-pwd"],
)
def test_password_in_the_url_query(entry: dict[str, Any]) -> None:
    datasource = registry_for(ds=entry).build("ds")
    assert_clean("query password", datasource.target(), repr(datasource), datasource.describe())


def test_milvus_uri_with_an_unescaped_password() -> None:
    uri = f"http://root:{SECRETS['milvus']}/x@h:19530"
    registry = registry_for(mv={"type": "milvus", "uri": uri})
    try:
        datasource = registry.build("mv")
    except ConfigurationError as error:
        assert_error_clean("milvus uri", error)
        return
    assert_clean("milvus uri", datasource.target(), repr(datasource), datasource.describe())


@pytest.mark.parametrize("kind", ["postgres", "mysql", "sqlserver"])
def test_url_parse_error_keeps_no_piece_of_the_password(kind: str) -> None:
    scheme = {"postgres": "postgresql", "mysql": "mysql", "sqlserver": "mssql+pyodbc"}[kind]
    secret = SECRETS[kind]
    url = f"{scheme}://app:x@{secret}:{secret}@h/app"  # an unescaped '@' and ':' in it
    with pytest.raises(ConfigurationError) as caught:
        registry_for(ds={"type": kind, "url": url}).build("ds")
    assert caught.value.key == "url"
    assert_error_clean(f"{kind} url", caught.value)


def test_mongodb_url_with_an_unescaped_special_password() -> None:
    registry = registry_for(m={"type": "mongodb", "url": f"mongodb://app:{SPECIAL}@h/app"})
    try:
        datasource = registry.build("m")
    except ConfigurationError as error:
        assert_error_clean("mongodb url", error)
        return
    assert_clean("mongodb url", datasource.target(), repr(datasource), datasource.describe())


def test_chroma_token_that_is_not_ascii() -> None:
    port = closed_port()
    entry = {"type": "chroma", "host": "127.0.0.1", "port": port, "token": SPECIAL, "timeout": 2}
    registry = registry_for(c=entry)
    try:
        status = registry.build("c").health_check()
    except ConfigurationError as error:
        assert_error_clean("chroma token", error)
        return
    finally:
        registry.close_all()
    assert_error_clean("chroma token", status.error)


@pytest.mark.live
def test_first_check_counts_driver_imports_against_the_timeout(
    tmp_path: Path, chroma_server: Any
) -> None:
    (tmp_path / "settings.toml").write_text(
        f'[datasources.chroma]\nhost = "{chroma_server.host}"\nport = {chroma_server.port}\n'
    )
    result = run_cli("check", "--json", "--timeout", "0.5", cwd=tmp_path, env={})
    status = json.loads(result.stdout)[0]
    assert status["status"] == "ok", status["detail"]


def test_check_builds_every_datasource(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.a]\ntype = "postgres"\nhost = "127.0.0.1"\nport = 1\n'
        '[datasources.b]\ntype = "mariadb"\nurl = "mariadb://u:x@127.0.0.1:1/d"\n'
        '[datasources.c]\ntype = "mysql"\nurl = "mysql://u:x@127.0.0.1:1/d"\n'
        '[datasources.d]\ntype = "sqlite"\n'
    )
    # a race in a fresh process: a few tries make it show reliably
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(
            pool.map(
                lambda _: run_cli("check", "--json", "--timeout", "2", cwd=tmp_path, env={}),
                range(6),
            )
        )
    details = [item["detail"] for result in results for item in json.loads(result.stdout)]
    assert not [detail for detail in details if "could not be built" in detail], details[:3]


# ----------------------------------------------------------------------------- rotating credentials

ROTATING_TYPES = ["postgres", "mysql", "mariadb", "oracle", "sqlserver", "mongodb", "cassandra"]


@pytest.fixture
def rotating_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The credential keys of each rotating source, each resolving to its own secret."""
    monkeypatch.setenv("LEAK_SUITE_SECRET", json.dumps({"password": SECRET_REF}))
    (tmp_path / "password").write_text(PASSWORD_FILE + "\n")
    (tmp_path / "command-output").write_text(COMMAND + "\n")
    plugin = tmp_path / "leak_tokens"
    plugin.mkdir()
    (plugin / "__init__.py").write_text(
        f"class Provider:\n    def token(self, request):\n        return {PROVIDER_TOKEN!r}\n"
    )
    dist = tmp_path / "leak_tokens-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leak-tokens\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[unifydb.credentials]\nleaky = leak_tokens:Provider\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return {
        "secret-ref": {"password": "${secret:env:LEAK_SUITE_SECRET#password}"},
        "password-file": {"password_file": str(tmp_path / "password")},
        "password-command": {"password_command": ["cat", str(tmp_path / "command-output")]},
        "provider-token": {"auth": "leaky"},
    }


def rotating_entry(kind: str, host: str, port: int, credential: dict[str, Any]) -> dict[str, Any]:
    entry = field_settings(kind, host, port)
    del entry["password"]
    entry.pop("wallet_password", None)
    return {**entry, **credential}


@pytest.mark.parametrize("kind", ROTATING_TYPES)
def test_rotating_credentials_show_no_secret(
    kind: str, rotating_sources: dict[str, dict[str, Any]], debug_logs: pytest.LogCaptureFixture
) -> None:
    """Resolved, used against a closed port and reported: no value shows anywhere."""
    port = closed_port()
    entries = {
        source.replace("-", "_"): rotating_entry(kind, "127.0.0.1", port, credential)
        for source, credential in rotating_sources.items()
    }
    registry = registry_for(**entries)
    try:
        for name in entries:
            datasource = registry.get_datasource(name)
            password = datasource.options.password
            assert password.get_secret_value() in LABELS.values()  # really resolved
            assert_clean(f"{kind}/{name}", *object_outputs(datasource))
            assert_clean(f"{kind}/{name} registry", repr(registry), registry.inspect(name))
            assert datasource.redact(f"x {password.get_secret_value()} y") == "x *** y"
    finally:
        registry.close_all()
    failures(entries, debug_logs)


@pytest.mark.live
def test_rotating_password_rejected_by_the_server_shows_no_secret(
    scram_postgres: Any,
    rotating_sources: dict[str, dict[str, Any]],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """Each wrong password is rejected, retried once after resolving it again,
    rejected again: the error says so without the value."""
    for source, credential in rotating_sources.items():
        entry = {
            **rotating_entry("postgres", scram_postgres.host, scram_postgres.port, credential),
            "database": scram_postgres.database,
        }
        check_login(f"postgres/{source}", entry, debug_logs, works=False)


def test_failing_password_command_shows_no_secret(debug_logs: pytest.LogCaptureFixture) -> None:
    """A secret helper that prints the secret on stderr and fails: the error names
    the exit status, never the output."""
    script = f"echo {COMMAND} >&2; echo {COMMAND}-partial; exit 3"
    registry = registry_for(
        ds={
            **field_settings("postgres", "127.0.0.1", closed_port()),
            "password": None,
            "password_command": ["sh", "-c", script],
        }
    )
    try:
        with pytest.raises(ConfigurationError) as caught:
            with registry.get_engine("ds").connect():
                pass
        assert caught.value.key == "password_command"
        assert "exited with status 3" in str(caught.value)
        assert_error_clean("failing password_command", caught.value)
        status = registry.health_check()["ds"]
        assert_clean("failing password_command status", status.detail, status.as_dict())
    finally:
        registry.close_all()
    assert_logs_clean("failing password_command", debug_logs)


@pytest.mark.live
def test_cli_shows_no_rotating_secret(tmp_path: Path, scram_postgres: Any) -> None:
    (tmp_path / "password").write_text(PASSWORD_FILE + "\n")
    (tmp_path / "command-output").write_text(COMMAND + "\n")
    settings = "\n".join(
        [
            "[datasources.ref]",
            'type = "postgres"',
            f'host = "{scram_postgres.host}"',
            f"port = {scram_postgres.port}",
            'username = "app"',
            'password = "${secret:env:LEAK_CLI_SECRET#password}"',
            "[datasources.file]",
            'type = "postgres"',
            f'host = "{scram_postgres.host}"',
            f"port = {scram_postgres.port}",
            'username = "app"',
            f'password_file = "{tmp_path / "password"}"',
            "[datasources.command]",
            'type = "postgres"',
            f'host = "{scram_postgres.host}"',
            f"port = {scram_postgres.port}",
            'username = "app"',
            f'password_command = ["cat", "{tmp_path / "command-output"}"]',
        ]
    )
    (tmp_path / "settings.toml").write_text(settings + "\n")
    env = {"LEAK_CLI_SECRET": json.dumps({"password": SECRET_REF})}
    for command in (
        ["list"], ["show", "ref"], ["show", "file", "--json"], ["show", "command"],
        ["check", "--json", "--timeout", "10"], ["check", "--threads"],
        ["wait", "--timeout", "2", "--interval", "0.5"],
    ):  # fmt: skip
        result = run_cli(*command, cwd=tmp_path, env=env)
        assert_clean(f"unifydb {' '.join(command)}", result.stdout, result.stderr)
        assert result.stdout.strip(), (command, result.stderr)
