"""Property-based tests over settings: whatever a settings mapping, file or
environment holds, unifydb builds a valid datasource or raises a
:class:`unifydb.errors.UnifyDBError` that names the datasource and the key --
never a bare KeyError/TypeError/ValueError/RecursionError, never a hang, and
never a password in a message.

Every run is derandomized (``derandomize=True``, ``database=None``), so CI sees
the same examples each time. The example budget is the sum of the
``max_examples`` below (2,650); the module prints how many really ran
("fuzz examples run: ...") at its end. Bugs the fuzzing found elsewhere have
regression tests at the bottom.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import unifydb
from tests.figures import record
from tests.helpers import registry_for
from unifydb.catalog import ALIASES as TYPE_ALIASES
from unifydb.catalog import BUILTIN as BUILTIN_TYPES
from unifydb.errors import (
    ConfigurationError,
    NotConfiguredError,
    SettingsFileError,
    UnifyDBError,
)
from unifydb.registry import load_type
from unifydb.settings import (
    MAX_DEPTH,
    PlaceholderError,
    apply_env_overrides,
    missing_variables,
    placeholder_variables,
    resolve_placeholders,
)

TYPES = sorted(BUILTIN_TYPES)
MODELS = {name: load_type(name).options_model for name in TYPES}
FIELDS = sorted({field for model in MODELS.values() for field in model.fields()})
SECRET_FILE_KEYS = sorted(
    {f"{secret}_file" for model in MODELS.values() for secret in model.secret_fields}
)

#: every password the fuzzer writes starts with this; no message may contain it
MARKER = "Zq9FuzzPw"

#: per-test example budgets; their sum is the run's minimum
BUDGET = {
    "placeholders": 500,
    "garbage_entries": 700,
    "valid_ish_entries": 650,
    "settings_files": 400,
    "env_overrides": 400,
    "hostile": 500,
}
RAN: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()


def fuzz(budget: str) -> settings:
    return settings(
        max_examples=BUDGET[budget],
        derandomize=True,
        database=None,
        # one example is milliseconds; a second means something started to hang
        deadline=timedelta(seconds=2),
        print_blob=False,
        suppress_health_check=[
            # `isolated` is autouse; the examples set their own environment
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    # every backend imported before the first example, so its deadline is fair
    for name in TYPES:
        load_type(name)
    yield
    record("hypothesis examples run over settings", sum(RAN.values()))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and reporter is not None and RAN:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nfuzz examples run: {sum(RAN.values())} "
                f"({', '.join(f'{k} {v}' for k, v in sorted(RAN.items()))}); "
                f"outcomes: {dict(sorted(OUTCOMES.items()))}"
            )


# ----------------------------------------------------------------------------- strategies

#: text without lone surrogates (which no file or environment can hold)
text = st.text(st.characters(codec="utf-8"), max_size=16)
#: text an environment variable can hold
env_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=16)

PLACEHOLDERS = [
    "${UNIFYDB_FUZZ_A}",
    "${UNIFYDB_FUZZ_B:-fallback}",
    "${UNIFYDB_FUZZ_UNSET}",
    "${UNIFYDB_FUZZ_UNSET:-}",
    "${UNIFYDB_FUZZ_UNSET:-5432}",
    "${UNIFYDB_FUZZ_EMPTY}",
    "${UNIFYDB_FUZZ_EMPTY:-d}",
    "$${UNIFYDB_FUZZ_A}",
    "$${UNIFYDB_FUZZ_UNSET}",
    "${UNIFYDB_FUZZ_A:-${UNIFYDB_FUZZ_B}}",
    "${",
    "${}",
    "${1BAD}",
    "${A-B}",
    "${ UNIFYDB_FUZZ_A }",
    "${UNIFYDB_FUZZ_A",
    "$UNIFYDB_FUZZ_A",
    "$",
    "$$",
    "}",
    "{",
]
placeholder_text = st.lists(
    st.one_of(st.sampled_from(PLACEHOLDERS), text), min_size=1, max_size=4
).map("".join)

INTERESTING = [
    "",
    " ",
    "\t",
    "0",
    "-1",
    "5432",
    "65536",
    "1e5",
    "nan",
    "inf",
    "-inf",
    "true",
    "false",
    "yes",
    "null",
    ":memory:",
    "x.db",
    "data/m.db",
    "localhost",
    "127.0.0.1",
    "::1",
    "[::1]",
    "h:1",
    "a, b,,c",
    "debug",
    "strict",
    "require",
    "READ_COMMITTED",
    "postgresql://u@db/app",
    "postgresql+psycopg://u:pw%40x@db:5433/app?sslmode=require&timeout=3",
    "postgres://[::1",
    "postgresql://u@h:notaport/db",
    "mysql://u@h/db?charset=latin1",
    "mariadb+mariadbconnector://h/db",
    "sqlite:///x.db",
    "sqlite://",
    "oracle+oracledb://u@h:1521/?service_name=S",
    "mssql+pyodbc://u@h/db?driver=FreeTDS",
    "mongodb://h",
    "mongodb://u@h1,h2:27018/db?replicaSet=rs&authSource=admin",
    "mongodb+srv://",
    "mongodb://u:p/x@h",
    "http://127.0.0.1:19530",
    "https://h",
    "ftp://h",
    "unix:/tmp/milvus.sock",
    "@int 5",
    "@json {",
    "x" * 300,
    "é\u200b\ufeff",
    "\x00",
]

numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63, -(2**63), 10**30, 10**400]),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e-300, 1e300, 5432.0, 5432.5]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    text,
    placeholder_text,
    st.sampled_from(INTERESTING),
)
key_names = st.one_of(
    st.sampled_from(FIELDS),
    st.sampled_from(["TYPE", "Host", "hots", "host ", "passwd", "", "url", "dsn", "5"]),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
type_values = st.one_of(
    st.sampled_from(TYPES),
    st.sampled_from(sorted(TYPE_ALIASES)),
    st.sampled_from(["POSTGRES", " sqlite ", "redis", "", " ", "sql lite", "postgress"]),
    st.sampled_from(
        [
            "${UNIFYDB_FUZZ_TYPE}",
            "${UNIFYDB_FUZZ_UNSET:-sqlite}",
            "${UNIFYDB_FUZZ_UNSET:-}",
            "$${x}",
        ]
    ),
    text,
    st.integers(),
    st.lists(st.sampled_from(TYPES), max_size=2),
    st.none(),
)
names = st.one_of(
    st.sampled_from([*TYPES, "db", "Orders", "x.y", "a b", "ñame", "1", "DB"]),
    text.filter(lambda s: bool(s.strip())),
)
password = text.map(lambda s: MARKER + s)


@st.composite
def placeholder_env(draw: st.DrawFn) -> dict[str, str]:
    env = {"UNIFYDB_FUZZ_EMPTY": ""}
    for name in ("UNIFYDB_FUZZ_A", "UNIFYDB_FUZZ_B", "UNIFYDB_FUZZ_TYPE"):
        value = draw(st.one_of(st.none(), env_text, st.sampled_from(TYPES)))
        if value is not None:
            env[name] = value
    return env


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield


# ----------------------------------------------------------------------------- the property


def assert_no_password(*outputs: object) -> None:
    for output in outputs:
        assert MARKER.casefold() not in str(output).casefold(), output


def check_error(error: UnifyDBError, name: str | None, entry: Any = None) -> None:
    """A unifydb error names its datasource and key, says how to fix it, echoes no password."""
    message = str(error)
    if name is not None and error.datasource is not None:
        assert error.datasource == name, (error.datasource, name, message)
    if error.datasource:
        assert f"datasource {error.datasource!r}" in message, message
    if error.key:
        assert f"key {error.key!r}" in message, message
    assert error.fix, message
    assert_no_password(message, repr(error), error.fix)
    if isinstance(error, NotConfiguredError):
        assert error.missing, message
    if error.key and name is not None and isinstance(entry, Mapping):
        type_name = None
        with contextlib.suppress(Exception):
            type_name = unifydb.Registry({"datasources": {name: entry}}).type_of(name)
        model = MODELS.get(type_name or "")
        allowed = {"type", "timeout", *(str(k).lower() for k in entry)}
        if model is not None:
            allowed |= set(model.fields())
        key = error.key
        assert key.startswith("UNIFYDB_") or any(
            key == known or key.startswith(f"{known}.") for known in allowed
        ), (key, sorted(allowed))


def exercise(registry: unifydb.Registry, name: str, entry: Any = None) -> str:
    """Inspect, build and describe one datasource; return what happened."""
    try:
        info = registry.inspect(name)
    except UnifyDBError as error:
        check_error(error, name, entry)
        return "inspect-error"
    assert info.name == name
    try:
        datasource = registry.build(name)
    except UnifyDBError as error:
        check_error(error, name, entry)
        if isinstance(error, NotConfiguredError):  # `unifydb list` told the same story
            assert set(error.missing) <= set(info.missing_variables), (error, info)
        return f"error:{type(error).__name__}"
    try:
        described = datasource.describe()
        target = datasource.target()
    except UnifyDBError as error:  # pragma: no cover - would be a bug of its own
        check_error(error, name, entry)
        return "describe-error"
    assert isinstance(target, str)
    assert described["name"] == name
    json.dumps(described, default=str)
    assert_no_password(described, target, repr(datasource), repr(datasource.config))
    assert_no_password(str(datasource.config), datasource.config.redacted())
    assert info.known_type and info.problem is None, info
    return "built"


def outcome(result: str) -> None:
    OUTCOMES[result.split(":", maxsplit=1)[0]] += 1
    event(result)


# ----------------------------------------------------------------------------- placeholders


@fuzz("placeholders")
@given(
    value=st.recursive(
        st.one_of(placeholder_text, text, numbers, st.none()),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=6,
    ),
    env=placeholder_env(),
)
def test_placeholders_resolve_or_report_missing_variables(value: Any, env: dict[str, str]) -> None:
    RAN["placeholders"] += 1
    try:
        resolved, missing = resolve_placeholders(value, env)
    except PlaceholderError as error:
        # malformed, nested, or a variable holding a placeholder itself; the
        # message quotes nothing of the value
        for text in strings(value):
            if len(text) >= 3:
                assert text not in str(error)
        outcome("placeholder-error")
        return
    referenced = placeholder_variables(value)
    assert set(missing) <= set(referenced)
    assert missing == missing_variables(value, env)
    assert all(name not in env for name in missing)
    assert len(missing) == len(set(missing))
    assert same_shape(value, resolved)
    if isinstance(value, str) and "$$" not in value and not any("$" in v for v in env.values()):
        for name in referenced:  # every placeholder of a set variable was replaced
            if env.get(name):
                assert "${" + name + "}" not in resolved, (value, resolved)
                assert "${" + name + ":-" not in resolved, (value, resolved)
    if not any("$" in text for text in strings(value)):
        assert resolved is value or resolved == value
    outcome("resolved")


def same_shape(before: Any, after: Any) -> bool:
    if isinstance(before, str):
        return isinstance(after, str)
    if isinstance(before, Mapping):
        return (
            isinstance(after, Mapping)
            and list(before) == list(after)
            and all(same_shape(before[key], after[key]) for key in before)
        )
    if isinstance(before, (list, tuple)):
        return (
            isinstance(after, list)
            and len(before) == len(after)
            and all(same_shape(a, b) for a, b in zip(before, after, strict=True))
        )
    return after is before


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


# ----------------------------------------------------------------------------- mappings


@st.composite
def garbage_entry(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:  # now and then, not a table at all
        return draw(scalars)
    entry: dict[str, Any] = draw(st.dictionaries(key_names, values, max_size=6))
    declared = draw(type_values)
    if declared is not None:
        entry["type"] = declared
    if draw(st.booleans()):
        entry["password"] = draw(password)
    if draw(st.integers(0, 4)) == 0:
        entry["url"] = draw(
            st.sampled_from(
                [
                    f"postgresql://u:{MARKER}x@h/db",
                    f"mysql://u:{MARKER}x@h:3306/db",
                    f"mongodb://u:{MARKER}x@h:27017/db",
                    f"http://root:{MARKER}x@h:19530",
                    "sqlite:///fuzz.db",  # a file path, not a secret: no marker
                ]
            )
        )
    return entry


@fuzz("garbage_entries")
@given(
    entries=st.dictionaries(names, garbage_entry(), min_size=1, max_size=3),
    env=placeholder_env(),
)
def test_any_entry_builds_or_fails_with_a_unifydb_error(
    entries: dict[str, Any], env: dict[str, str]
) -> None:
    RAN["garbage_entries"] += 1
    with environment(env):
        registry = registry_for(**entries)
        try:
            listed = registry.names()
        except UnifyDBError as error:
            check_error(error, None)
            outcome("names-error")
            return
        assert set(listed) == {str(name).lower() for name in entries}
        for name in listed:
            outcome(exercise(registry, name, registry.entries[name]))


# ----------------------------------------------------------------------------- valid-ish, per type


def _annotation_values(annotation: Any, constraints: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values for a field, from its annotation and constraints."""
    import types
    import typing

    from unifydb.options import Secret

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return st.one_of([_annotation_values(member, constraints) for member in members])
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    if annotation is bool:
        return st.one_of(st.booleans(), st.sampled_from(["true", "false", "0", "1", "yes", "off"]))
    if annotation in (int, float):
        low = constraints.get("ge")
        low = constraints.get("gt", low)
        high = constraints.get("le")
        low = 1 if low is None else low
        high = 10**6 if high is None else high
        if annotation is int:
            number: st.SearchStrategy[Any] = st.integers(math.ceil(low), math.floor(high))
        else:
            number = st.floats(max(low, 0.001), high, allow_nan=False, allow_infinity=False)
        return st.one_of(number, number.map(str))
    if annotation in (str, Secret):
        return st.one_of(st.sampled_from(["app", "db.example", "x-1", "é"]), text)
    if origin is list:
        return st.lists(st.sampled_from(["a", "b.example", "10.0.0.1"]), min_size=1, max_size=3)
    if origin is dict:
        return st.dictionaries(
            st.sampled_from(["a", "B", "x_y"]), st.sampled_from(["1", "v"]), max_size=2
        )
    return scalars


#: per field, values that are valid for every type having it and safe to initialize
#: (relative paths only; no thick-mode Oracle, no echo handlers, no unknown engine kwargs)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "host": st.sampled_from(["db.example", "127.0.0.1", "localhost", "::1", "h1,h2"]),
    "database": st.sampled_from([":memory:", "", "app", "data/fuzz.db", "fuzz.sqlite"]),
    "path": st.sampled_from(["chroma-data", "./x/y"]),
    "uri": st.sampled_from(
        ["http://127.0.0.1:19530", "https://h:443", "tcp://h:1", "m.db", "data/m.db"]
    ),
    "url": st.sampled_from(["__typed_url__"]),
    "dsn": st.sampled_from(["ora.example:1521/FREEPDB1", "tnsalias"]),
    "contact_points": st.one_of(
        st.sampled_from(["cass", "a, b", "10.0.0.1"]),
        st.lists(st.sampled_from(["a", "b"]), min_size=1),
    ),
    "consistency": st.sampled_from(["one", "LOCAL_QUORUM", "quorum", "bogus"]),
    "isolation_level": st.sampled_from(
        ["READ COMMITTED", "serializable", "AUTOCOMMIT", "read_committed"]
    ),
    "engine_options": st.sampled_from([{}, {"logging_name": "fuzz"}]),
    "connect_args": st.sampled_from(
        [{}, {"application_name": "fuzz"}, {"password": MARKER + "ca"}]
    ),
    "replicas": st.sampled_from(
        [[], [{"host": "replica-1"}], [f"postgresql://u:{MARKER}r@replica/db"]]
    ),
    "query": st.sampled_from([{}, {"application_name": "fuzz"}]),
    "odbc_options": st.sampled_from([{}, {"APP": "fuzz"}]),
    "client_options": st.sampled_from([{}, {"retryWrites": False}]),
    "cluster_options": st.sampled_from([{}, {"idle_heartbeat_interval": 5}]),
    "headers": st.sampled_from([{}, {"X-Trace": "1"}, {"X-Api-Key": MARKER + "h"}]),
    "nodes": st.sampled_from(
        ["http://es.example:9200", "http://a:9200, https://b:9243", "es.example:9200"]
    ),
    "region": st.sampled_from(["us-east-1", "eu-west-1", "nowhere"]),
    "s3_staging_dir": st.sampled_from(["s3://bucket/results/", "/local/results"]),
    "endpoint_url": st.sampled_from(["http://127.0.0.1:4566", "athena.example"]),
    "unix_socket_path": st.sampled_from(["/run/redis.sock"]),
    "thick_mode": st.just(False),
    "thick_lib_dir": st.just(None),
    # a command is run at connect time, a provider asked: never a random one
    "password_command": st.just(None),
    "auth": st.just(None),
    "echo": st.sampled_from([False, "false"]),
    "echo_pool": st.sampled_from([False, "false"]),
    "driver": st.sampled_from(["FreeTDS"]),
    "project_ref": st.sampled_from(["abcd1234"]),
    "password": password,
    "sslpassword": password,
    "wallet_password": password,
    "token": password,
    "create_dirs": st.booleans(),
    "unix_socket": st.sampled_from(["/run/mysqld/mysqld.sock"]),
}
#: fields that initialize() acts on outside this test: folders it creates, Oracle's
#: process-wide thick mode, logging handlers SQLAlchemy adds for echo
UNSAFE_TO_BREAK = {
    "database",
    "path",
    "uri",
    "create_dirs",
    "thick_mode",
    "thick_lib_dir",
    "echo",
    "echo_pool",
    "engine_options",
    "password_command",
    "auth",
}
TYPED_URLS = {
    "postgres": f"postgresql://u:{MARKER}u@db.example:5433/app?sslmode=require",
    "supabase": f"postgresql://postgres:{MARKER}u@db.abc.supabase.co:6543/postgres",
    "pgvector": f"postgresql://u:{MARKER}u@db.example:5432/app",
    "sqlite": "sqlite:///data/fuzz-url.db",
    "mysql": f"mysql+mysqldb://u:{MARKER}u@db.example/app?charset=utf8",
    "mariadb": f"mariadb://u:{MARKER}u@db.example/app",
    "oracle": f"oracle+oracledb://u:{MARKER}u@ora.example:1521/?service_name=FREEPDB1",
    "sqlserver": f"mssql+pyodbc://u:{MARKER}u@mssql.example/app?driver=FreeTDS",
    "mongodb": f"mongodb://u:{MARKER}u@mongo.example:27017/app?authSource=admin",
    "duckdb": "duckdb:///data/fuzz-url.duckdb",
    "athena": f"awsathena+rest://AKIAFUZZ:{MARKER}u@athena.us-east-1.amazonaws.com:443/default"
    "?s3_staging_dir=s3%3A%2F%2Fbucket%2Fresults%2F",
    "elasticsearch": f"https://elastic:{MARKER}u@es.example:9200",
    "redis": f"redis://:{MARKER}u@redis.example:6379/1",
}
BASE_ENTRIES: dict[str, dict[str, Any]] = {
    "postgres": {"host": "db.example"},
    "supabase": {"host": "db.abc.supabase.co"},
    "sqlite": {},
    "mysql": {"host": "db.example"},
    "mariadb": {"host": "db.example"},
    "oracle": {"host": "ora.example", "service_name": "FREEPDB1"},
    "sqlserver": {"host": "mssql.example", "driver": "FreeTDS"},
    "mongodb": {"host": "mongo.example"},
    "cassandra": {"contact_points": "cass.example"},
    "chroma": {},
    "milvus": {"uri": "http://127.0.0.1:19530"},
    "qdrant": {"path": ":memory:"},
    "pgvector": {"host": "db.example"},
    "pinecone": {"api_key": "pc-key"},
    "duckdb": {},
    "athena": {"work_group": "primary"},
    "elasticsearch": {"nodes": ["http://es.example:9200"]},
    "redis": {"host": "redis.example"},
}


def field_values(type_name: str, field: str) -> st.SearchStrategy[Any]:
    info = MODELS[type_name].fields()[field]
    if field == "url":
        return st.just(TYPED_URLS.get(type_name, "mongodb://h"))
    if field == "host" and type_name != "mongodb":
        return st.sampled_from(["db.example", "127.0.0.1", "localhost", "::1"])
    strategy = (
        FIELD_VALUES[field]
        if field in FIELD_VALUES
        else _annotation_values(info.annotation, info.constraints)
    )
    return strategy


@st.composite
def valid_ish_entry(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    type_name = draw(st.sampled_from(TYPES))
    optional = {
        field: field_values(type_name, field)
        for field in MODELS[type_name].fields()
        if field != "type"
    }
    extra = draw(st.fixed_dictionaries({}, optional=optional))
    if draw(st.integers(0, 3)) == 0:  # now and then one value that is plainly wrong
        extra[draw(st.sampled_from(sorted(set(optional) - UNSAFE_TO_BREAK)))] = draw(scalars)
    return type_name, {**BASE_ENTRIES[type_name], **extra, "type": type_name}


def as_environment(name: str, type_name: str, entry: Mapping[str, Any]) -> dict[str, str] | None:
    """The entry as UNIFYDB_DATASOURCES__ variables, or None when it has no plain form."""
    env = {}
    fields = MODELS[type_name].fields()
    for key, value in entry.items():
        field = fields.get(key)
        if isinstance(value, float) and field is not None and "bool" in str(field.annotation):
            return None  # pydantic reads 0.0 as false, but not "0.0"
        if isinstance(value, bool):
            text_value = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            text_value = str(value)
        else:
            return None
        if not text_value or text_value.strip()[:1] in ("[", "{", "@") or "\x00" in text_value:
            return None
        env[f"UNIFYDB_DATASOURCES__{name.upper()}__{key.upper()}"] = text_value
    return env


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # pysqlite ignores URL queries
def test_valid_ish_entries_of_every_type() -> None:
    built: Counter[str] = Counter()

    @fuzz("valid_ish_entries")
    @given(case=valid_ish_entry(), env=placeholder_env())
    def run(case: tuple[str, dict[str, Any]], env: dict[str, str]) -> None:
        RAN["valid_ish_entries"] += 1
        type_name, entry = case
        with environment(env):
            registry = registry_for(db=entry)
            result = exercise(registry, "db", entry)
            outcome(result)
            if result != "built":
                return
            built[type_name] += 1
            datasource = registry.build("db")
            try:
                datasource.initialize()  # engines are created, nothing connects
            except UnifyDBError as error:
                check_error(error, "db", entry)
                event(f"initialize error: {type(error).__name__}")
            finally:
                datasource.close()
            # the same values, as the strings environment variables hold, type the same
            variables = as_environment("db", type_name, entry)
            if variables is not None:
                with environment(variables):
                    again = unifydb.Registry().build("db")
                assert again.config == datasource.config

    run()
    # the valid path really is exercised, for every type
    assert set(built) == set(TYPES), built
    assert sum(built.values()) >= BUDGET["valid_ish_entries"] // 3, built


# ----------------------------------------------------------------------------- files


def toml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        items = [item for item in map(toml_value, value) if item is not None]
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        pairs = [
            f"{json.dumps(str(k))} = {v}"
            for k, v in ((k, toml_value(v)) for k, v in value.items())
            if v is not None
        ]
        return "{" + ", ".join(pairs) + "}"
    return json.dumps(str(value))


def toml_document(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, entries in sections.items():
        for name, entry in entries.items():
            prefix = "datasources" if section == "" else f"{json.dumps(section)}.datasources"
            if isinstance(entry, dict):
                lines.append(f"[{prefix}.{json.dumps(name)}]")
                for key, value in entry.items():
                    rendered = toml_value(value)
                    if rendered is not None:
                        lines.append(f"{json.dumps(str(key))} = {rendered}")
            else:
                rendered = toml_value(entry)
                if rendered is not None:
                    lines.append(f"[{prefix}]\n{json.dumps(name)} = {rendered}")
    return "\n".join(lines) + "\n"


def json_document(sections: dict[str, dict[str, Any]]) -> str:
    tree: dict[str, Any] = {}
    for section, entries in sections.items():
        if section == "":
            tree["datasources"] = entries
        else:
            tree[section] = {"datasources": entries}
    return json.dumps(tree, default=str)


YAML_SNIPPETS = [
    "datasources:\n  a: &base {type: sqlite}\n  b: *base\n",
    "datasources:\n  a: &x [*x]\n",
    "datasources:\n  pg:\n    type: postgres\n    host: h\n    password: "
    + MARKER
    + "1\n    password: "
    + MARKER
    + "2\n",
    "datasources:\n  s:\n    type: !!python/name:os.system sqlite\n",
    "datasources:\n  s: {type: sqlite, database: !!binary aGVsbG8=}\n",
    "datasources:\n  s:\n    type: sqlite\n---\ndatasources:\n  t: {type: sqlite}\n",
    "datasources:\n  ? [a, b]\n  : {type: sqlite}\n",
    "datasources:\n  s:\n\ttype: sqlite\n",
    "datasources: !!set {a, b}\n",
    "datasources:\n  s: {type: sqlite, timeout: .nan}\n",
    "datasources:\n  s: {type: sqlite, timeout: .inf, port: 0x10}\n",
    "%YAML 9.9\n---\na: 1\n",
    "datasources:\n  s: {type: sqlite, database: 2020-01-01}\n",
    "datasources:\n  pg: {type: postgres, host: h, password: '@int " + MARKER + "'}\n",
    "datasources:\n  pg: {type: postgres, host: h, password: '@json " + MARKER + "'}\n",
    "datasources:\n  pg: {type: postgres, host: h, password: '@format {this.NOPE}'}\n",
    "datasources:\n  s: {type: sqlite, database: '@merge a=1'}\n",
    "datasources:\n  s: {type: sqlite, database: '@del'}\n",
    "datasources:\n  s: {type: sqlite, database: '@empty'}\n",
    "datasources:\n  '': {type: sqlite}\n",
]


#: a garbage entry or one that (mostly) builds
any_entry = st.one_of(garbage_entry(), st.deferred(lambda: valid_ish_entry().map(lambda c: c[1])))


@st.composite
def settings_file(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".toml", ".json", ".yaml", ".yml"]))
    if suffix in (".yaml", ".yml") and draw(st.booleans()):
        content = draw(st.sampled_from(YAML_SNIPPETS))
    else:
        sections = draw(
            st.dictionaries(
                st.sampled_from(
                    ["", "", "default", "development", "production", "global", "DEVELOPMENT"]
                ),
                st.dictionaries(names, any_entry, max_size=3),
                max_size=3,
            )
        )
        content = toml_document(sections) if suffix == ".toml" else json_document(sections)
    data = content.encode("utf-8", "surrogatepass")
    mutation = draw(st.integers(0, 5))
    if mutation == 1 and data:  # truncated
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == 2:  # garbage bytes somewhere
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=8)) + data[position:]
    elif mutation == 3:  # nothing but garbage
        data = draw(st.binary(max_size=64))
    return suffix, data


def test_settings_files_load_or_fail_with_a_unifydb_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("fuzz-files")
    counter = iter(range(10**9))

    @fuzz("settings_files")
    @given(document=settings_file(), env=placeholder_env())
    def run(document: tuple[str, bytes], env: dict[str, str]) -> None:
        RAN["settings_files"] += 1
        suffix, data = document
        path = folder / f"settings-{next(counter)}{suffix}"
        path.write_bytes(data)
        with environment(env):
            registry = unifydb.Registry(path)
            try:
                listed = registry.names()
            except UnifyDBError as error:
                check_error(error, None)
                outcome(f"file-error:{type(error).__name__}")
                return
            assert all(isinstance(name, str) and name == name.lower() for name in listed)
            for name in listed:
                entry = registry.entries[name]
                outcome(exercise(registry, name, entry))

    run()


# ----------------------------------------------------------------------------- environment


ENV_VALUES = [
    "sqlite",
    "postgres",
    "{type='sqlite'}",
    "{type = 'postgres', host = 'h'}",
    '{"type": "mongodb", "host": "h"}',
    "{type='sqlite'",
    "[1, 2]",
    '["a", "b"]',
    "[not, toml",
    "{brace",
    "@int 5",
    "@int x",
    "@float nan",
    "@bool yes",
    '@json {"a": 1}',
    "@json [1",
    "@none",
    "@empty",
    "@str 5",
    "@format {env[UNIFYDB_FUZZ_A]}",
    "@format {this.NOPE}",
    "@jinja {{ 1 }}",
    "@get nope",
    "@read_file /nonexistent",
    "@merge a=1",
    "@del",
    "@insert 0 x",
    "@upper x",
    "@note x",
    "${UNIFYDB_FUZZ_A}",
    "${UNIFYDB_FUZZ_UNSET}",
    "5432",
    "true",
    "",
    " ",
]
env_parts = st.one_of(
    st.sampled_from(["DB", "db", "Orders", "SQLITE", "pg", "x"]),
    st.sampled_from(
        [field.upper() for field in FIELDS]
        + [
            "CONNECT_ARGS__application_name",
            "QUERY__a",
            # mixed-case nested keys: matched against the file's keys case-insensitively
            "QUERY__Application_Name",
            "connect_args__READ_TIMEOUT",
            "Engine_Options__POOL_SIZE",
            "CLIENT_OPTIONS__retryWrites",
        ]
    ),
    st.text(alphabet="abXY_-.é 0", min_size=1, max_size=6),
)


@st.composite
def env_override(draw: st.DrawFn) -> tuple[str, str]:
    parts = draw(st.lists(env_parts, min_size=0, max_size=4))
    prefix = draw(
        st.sampled_from(
            ["UNIFYDB_DATASOURCES__", "unifydb_datasources__", "UNIFYDB_DATASOURCES___"]
        )
    )
    values = [st.sampled_from(ENV_VALUES), env_text]
    if parts and _holds_secrets(parts[-1]):
        # the password marker goes where a secret goes: anywhere else (an
        # application_name, say) it is no secret and is rightly shown
        values.append(env_text.map(lambda s: MARKER + s))
    return prefix + "__".join(parts), draw(st.one_of(*values))


def _holds_secrets(key: str) -> bool:
    from unifydb.redaction import SENSITIVE_KEY

    key = key.rsplit("__", 1)[-1].lower()
    secret_keys = {name for model in MODELS.values() for name in model.secret_fields}
    return key in secret_keys or bool(SENSITIVE_KEY.search(key))


@st.composite
def entry_as_variables(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A (mostly) valid entry, each key as its own UNIFYDB_DATASOURCES__ variable."""
    type_name, entry = draw(valid_ish_entry())
    name = draw(st.sampled_from(["DB", "Orders", "x"]))
    return sorted((as_environment(name, type_name, entry) or {}).items())


@fuzz("env_overrides")
@given(
    overrides=st.one_of(
        st.lists(env_override(), max_size=5),
        st.tuples(entry_as_variables(), st.lists(env_override(), max_size=2)).map(
            lambda pair: pair[0] + pair[1]
        ),
    ),
    base=st.one_of(st.none(), st.dictionaries(names, garbage_entry(), max_size=2)),
    env=placeholder_env(),
)
def test_environment_overrides_apply_or_fail_with_a_unifydb_error(
    overrides: list[tuple[str, str]], base: dict[str, Any] | None, env: dict[str, str]
) -> None:
    RAN["env_overrides"] += 1
    variables = {**env, **dict(overrides)}
    with environment(variables):
        if base is not None:
            # the overrides apply on top of whatever a file held
            try:
                tree = apply_env_overrides(
                    {str(k).lower(): v for k, v in base.items() if str(k).strip()}
                )
            except UnifyDBError as error:
                check_error(error, None)
                outcome("override-error")
                return
            assert isinstance(tree, dict)
        registry = unifydb.Registry()  # no files in the (empty) working directory: env only
        try:
            listed = registry.names()
        except UnifyDBError as error:
            check_error(error, None)
            assert error.key is None or error.key.upper().startswith("UNIFYDB_DATASOURCES__")
            outcome("override-error")
            return
        for name in listed:
            outcome(exercise(registry, name, registry.entries[name]))


# ----------------------------------------------------------------------------- hostile input
# The classes of the hostile review (issue "Hardening"): NUL and other control
# characters, unescaped delimiters in URLs, ';'-separated URI options,
# credentials inside free-form strings, non-finite numbers.

CONTROL = ["\x00", "\x01", "\x1f", "\x7f", "\n", "\r", "\t", "\x00\x00"]
secret = password.filter(lambda s: "\x00" not in s and "\n" not in s and "\r" not in s)


def hostile_url(pw: str) -> st.SearchStrategy[str]:
    at = pw.replace("@", "") + "@tail"
    return st.sampled_from(
        [
            f"postgresql://app:{at}@db.example/app",
            f"postgresql://app:{pw}%00x@db.example/app",
            f"mysql://app:{at}@db.example:3306/app",
            f"mariadb://app:{at}@db.example/app",
            f"oracle+oracledb://app:{at}@db.example:1521/?service_name=S",
            f"mssql+pyodbc://app:{at}@db.example/app?driver=FreeTDS",
            f"mongodb://db.example/app?authSource=admin;authMechanismProperties=TOKEN:{pw}",
            f"mongodb://db.example/app?authMechanismProperties=AWS_SESSION_TOKEN:{pw}&w=1",
            f"mongodb://app:{at}@db.example/app",
            f"http://app:{at}@127.0.0.1:19530",
            f"postgresql://app@db.example/app?sslmode=require%00&password={pw}",
        ]
    )


def embedded_credentials(pw: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f"Server=h;UID=app;PWD={pw}",
            f"Server=h;UID=app;PWD={{{pw}}};Encrypt=yes",
            f"scott/{pw}@db.example/orclpdb",
            f"host=h password={pw} dbname=x",
            f"host=h password='{pw}' dbname=x",
            f"Password={pw};Host=h",
        ]
    )


@st.composite
def hostile_entry(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(type, entry, the password hidden somewhere in it)."""
    type_name = draw(st.sampled_from(TYPES))
    pw = draw(secret)
    fields = sorted(set(MODELS[type_name].fields()) - {"type"} - UNSAFE_TO_BREAK)
    entry = dict(BASE_ENTRIES[type_name])
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(fields))
        value = draw(
            st.one_of(
                hostile_url(pw),
                embedded_credentials(pw),
                st.tuples(text, st.sampled_from(CONTROL), text).map("".join),
                st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
                st.dictionaries(
                    st.sampled_from(["odbc_connect", "dsn", "options", "Password", "a"]),
                    st.one_of(embedded_credentials(pw), st.just("x\x00y")),
                    max_size=2,
                ),
            )
        )
        entry[field] = value
    return type_name, {**entry, "type": type_name}, pw


@fuzz("hostile")
@given(case=hostile_entry())
def test_hostile_values_are_refused_or_never_shown(case: tuple[str, dict[str, Any], str]) -> None:
    """Whatever hostile value an entry holds: a unifydb error naming the key, or a
    datasource whose displays hide the password and whose URL holds no NUL."""
    RAN["hostile"] += 1
    type_name, entry, pw = case
    registry = registry_for(x=entry)
    try:
        datasource = registry.build("x")
    except UnifyDBError as error:
        check_error(error, "x", entry)
        outcome(f"error:{type(error).__name__}")
        return
    shown = [
        datasource.target(),
        repr(datasource),
        repr(datasource.config),
        json.dumps(datasource.describe(), default=str),
    ]
    for output in shown:
        assert pw not in output, (type_name, output)
    url = getattr(datasource, "url", None)
    if callable(url):
        with contextlib.suppress(UnifyDBError):
            rendered = url().render_as_string(hide_password=False)
            assert "\x00" not in rendered, rendered
    outcome("built")


def test_example_budget_was_spent() -> None:
    """Runs last in this module: the examples above add up to at least 2,000."""
    if set(RAN) >= set(BUDGET):  # (only when every fuzz test above was selected)
        assert sum(RAN.values()) >= 2000, RAN
        for name, budget in BUDGET.items():
            assert RAN[name] >= budget * 0.8, (name, RAN[name], budget)


# ----------------------------------------------------------------------------- fixed here
# Regression tests for what the fuzzing found in settings.py and options.py.


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["datasources:", "  s:", "    type: sqlite", "    l0: &l0 [x,x,x,x,x,x,x,x,x,x]"]
    for level in range(1, 8):  # 10**8 values once expanded
        lines.append(f"    l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SettingsFileError, match="anchors and aliases"):
        unifydb.Registry(path).names()


@pytest.mark.parametrize("source", ["deep", "cycle"])
def test_deep_or_self_containing_mappings_are_refused(source: str) -> None:
    value: Any
    if source == "deep":
        value = "x"
        for _ in range(5000):
            value = [value]
    else:
        value = []
        value.append(value)
    with pytest.raises(SettingsFileError, match=f"nest more than {MAX_DEPTH} levels"):
        registry_for(pg={"type": "postgres", "connect_args": {"x": value}}).names()


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_deeply_nested_files_are_a_settings_error(tmp_path: Path, suffix: str) -> None:
    # deeper than MAX_DEPTH; JSON deep enough to hit the parser's RecursionError too
    depth = 5000 if suffix == ".json" else 200
    deep = "[" * depth + "]" * depth
    content = {
        ".toml": f"[datasources.s]\nx = {deep}\n",
        ".json": f'{{"datasources": {{"s": {{"x": {deep}}}}}}}',
        ".yaml": f"datasources:\n  s:\n    x: {deep}\n",
    }[suffix]
    path = tmp_path / f"deep{suffix}"
    path.write_text(content)
    with pytest.raises(SettingsFileError, match="nest more than"):
        unifydb.Registry(path).names()


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".yaml", f"datasources:\n  pg:\n    password: {MARKER}1\n    password: {MARKER}2\n"),
        (".toml", f"[datasources.pg]\npassword = '@int {MARKER}'\n"),
        (".toml", f"[datasources.pg]\npassword = '@json {MARKER}'\n"),
        (".yaml", f"datasources:\n  pg:\n    password: '@float {MARKER}'\n"),
    ],
    ids=["yaml-duplicate-key", "toml-at-int", "toml-at-json", "yaml-at-float"],
)
def test_file_errors_do_not_quote_values(tmp_path: Path, suffix: str, content: str) -> None:
    path = tmp_path / f"settings{suffix}"
    path.write_text(content)
    with pytest.raises(SettingsFileError) as caught:
        unifydb.Registry(path).names()
    error: BaseException | None = caught.value
    assert "could not read settings" in str(caught.value)
    while error is not None:  # nor does anything it was raised from
        assert_no_password(str(error), repr(error))
        error = error.__cause__ or error.__context__
    if "duplicate" in caught.value.message:
        assert "line 4, column 5" in caught.value.message


def test_top_level_that_is_not_a_table_says_so(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(SettingsFileError, match="top level is not a table"):
        unifydb.Registry(path).names()


def test_settings_path_with_a_nul_byte_is_a_settings_error() -> None:
    with pytest.raises(SettingsFileError, match="cannot read settings file"):
        unifydb.Registry("bad\x00name.toml").names()


def test_empty_datasource_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[datasources.""]\ntype = "sqlite"\n')
    with pytest.raises(SettingsFileError, match="empty name") as caught:
        unifydb.Registry(path).names()
    assert caught.value.key == "datasources"


def test_env_format_token_is_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFYDB_FUZZ_DIR", "/srv/data")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__LITE__TYPE", "sqlite")
    monkeypatch.setenv(
        "UNIFYDB_DATASOURCES__LITE__DATABASE", "@format {env[UNIFYDB_FUZZ_DIR]}/x.db"
    )
    assert unifydb.Registry().build("lite").config.database == "/srv/data/x.db"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["@merge a=1", "@del", "@empty", "@format {this.NOPE}", "@get x"])
def test_env_tokens_without_meaning_there_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("UNIFYDB_DATASOURCES__LITE__TYPE", "sqlite")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__LITE__DATABASE", value)
    with pytest.raises(SettingsFileError) as caught:
        unifydb.Registry().names()
    assert caught.value.datasource == "lite"
    assert caught.value.key == "UNIFYDB_DATASOURCES__LITE__DATABASE"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("port", True, "not true/false"),
        ("timeout", False, "not true/false"),
        ("timeout", math.nan, "finite"),
        ("pool_timeout", math.inf, "finite"),
        ("pool_size", "inf", "integer"),
    ],
)
def test_booleans_and_non_finite_numbers_are_refused(
    key: str, value: object, fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(pg={"type": "postgres", "host": "h", key: value}).build("pg")
    assert (caught.value.datasource, caught.value.key) == ("pg", key)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "key", "fix"),
    [
        (
            {"type": "postgres", "host": "h", "echo": "loud"},
            "echo",
            "true or false or one of 'debug'",
        ),
        ({"type": "sqlserver", "host": "h", "encrypt": "x"}, "encrypt", "one of 'strict'"),
        ({"type": "postgres", "host": "h", "replicas": [[1]]}, "replicas.0", "mapping or a string"),
        ({"type": "chroma", "headers": {"a": [1]}}, "headers.a", "a string"),
    ],
)
def test_union_errors_name_the_key_not_pydantic_tags(
    entry: dict[str, Any], key: str, fix: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(x=entry).build("x")
    assert caught.value.key == key
    assert fix in (caught.value.fix or "")


def test_checks_across_keys_have_no_made_up_key() -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(o={"type": "oracle"}).build("o")
    assert caught.value.key is None
    assert str(caught.value).startswith("datasource 'o': host (with service_name or sid)")
    assert "value error" not in str(caught.value)


def test_validator_messages_do_not_quote_url_passwords() -> None:
    # urllib quotes the whole netloc of a URL it refuses
    uri = f"http://root:{MARKER}\uff03x@h:19530"
    with pytest.raises(ConfigurationError) as caught:
        registry_for(mv={"type": "milvus", "uri": uri}).build("mv")
    assert caught.value.key == "uri"
    assert caught.value.__context__ is None  # the ValidationError is not kept either
    assert_no_password(str(caught.value))


# ----------------------------------------------------------------------- found here, elsewhere
# Regression tests for bugs the fuzzing found outside settings.py/options.py.


def test_password_file_with_a_nul_byte() -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(pg={"type": "postgres", "host": "h", "password_file": "pw\x00"}).build("pg")
    assert caught.value.key == "password_file"


def test_password_file_that_never_ends(tmp_path: Path) -> None:
    fifo = tmp_path / "pw.fifo"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            registry_for(pg={"type": "postgres", "host": "h", "password_file": str(fifo)}).build(
                "pg"
            )
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(3)
    finished = not worker.is_alive()
    if not finished:  # unblock the reader, so no thread is left behind
        with open(fifo, "wb"):
            pass
        worker.join(5)
    assert finished, "build() still reading the FIFO after 3 s"
    assert errors and isinstance(errors[0], ConfigurationError)


@pytest.mark.parametrize("query", [None, "a=1", [1]])
def test_sql_url_with_a_query_that_is_not_a_table(query: object) -> None:
    registry = registry_for(pg={"type": "postgres", "url": "postgresql://h/db", "query": query})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("pg")
    assert caught.value.key == "query"


def test_oracle_database_and_service_name_together() -> None:
    registry = registry_for(o={"type": "oracle", "host": "h", "service_name": "S", "database": "D"})
    with pytest.raises(ConfigurationError):
        registry.get_datasource("o")


@pytest.mark.parametrize("engine_options", [{"nope": 1}, {"pool_size": "x"}])
def test_bad_engine_options_at_initialize(engine_options: dict[str, Any]) -> None:
    registry = registry_for(pg={"type": "postgres", "host": "h", "engine_options": engine_options})
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("pg")
    assert caught.value.key == "engine_options"


@pytest.mark.parametrize("database", ["/dev/null/sub/x.db", "bad\x00dir/x.db"])
def test_sqlite_folder_that_cannot_be_created(database: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(s={"type": "sqlite", "database": database}).get_datasource("s")
    assert caught.value.key == "database"


def test_oracle_thick_mode_with_a_missing_client_library() -> None:
    # in a subprocess: oracledb's thick/thin choice is process-wide
    code = (
        "import unifydb\n"
        "from unifydb.errors import UnifyDBError\n"
        "r = unifydb.Registry({'datasources': {'o': {'type': 'oracle', 'host': 'h', "
        "'service_name': 's', 'thick_mode': True, 'thick_lib_dir': '/nonexistent'}}})\n"
        "try:\n    r.get_datasource('o')\n"
        "except UnifyDBError as e:\n    print('UNIFYDB', e.key)\n"
        "except Exception as e:\n    print('BARE', type(e).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.startswith("UNIFYDB"), result.stdout + result.stderr


def test_milvus_uri_with_a_bad_port() -> None:
    registry = registry_for(mv={"type": "milvus", "uri": "http://h:notaport"})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("mv").describe()
    assert caught.value.key == "uri"


@pytest.mark.parametrize("timeout", ["inf", 1e300])
def test_health_check_with_a_bad_timeout_reports_the_setting(timeout: object) -> None:
    statuses = registry_for(s={"type": "sqlite", "timeout": timeout}).health_check()
    assert statuses["s"].status == "error"
    assert statuses["s"].error is not None
    assert statuses["s"].error.key == "timeout"


def test_type_placeholder_that_resolves_empty_falls_back_to_the_name() -> None:
    registry = registry_for(sqlite={"type": "${UNIFYDB_FUZZ_UNSET:-}"})
    assert registry.type_of("sqlite") == "sqlite"
    assert registry.inspect("sqlite").configured


def test_inspect_agrees_with_build_about_covered_placeholders() -> None:
    registry = registry_for(
        pg={"type": "postgres", "url": "postgresql://u@db/app", "host": "${UNIFYDB_FUZZ_UNSET}"}
    )
    registry.build("pg")  # works: the url gives the host
    assert registry.inspect("pg").configured
