"""``${secret:PROVIDER:PATH#KEY}`` and token providers (``auth = ...``).

AWS Secrets Manager is moto's server mode (``moto_server``, a real HTTP
endpoint speaking the AWS API, started once per session); Vault is a silent
listener (and a real Vault when ``UNIFYDB_TEST_VAULT_ADDR`` and
``UNIFYDB_TEST_VAULT_TOKEN`` are set). The database logins are real: the
scram-sha-256 PostgreSQL cluster checks every password. The AWS RDS IAM token
is generated offline (it is signed locally) from fake credentials.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from tests.helpers import NASTY_PASSWORD, registry_for, skip_unless_env, unique
from tests.servers.faults import hanging_listener
from unifydb.errors import (
    ConfigurationError,
    DatasourceTimeoutError,
    NotConfiguredError,
)
from unifydb.settings import secret_refs

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE0000",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-key-for-tests-only",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    secret_refs.forget_cached()
    yield
    secret_refs.forget_cached()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_aws: Any) -> Any:
    """boto3 pointed at moto's server with fake credentials; a Secrets Manager client."""
    import boto3

    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_aws.url)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    return boto3.client("secretsmanager")


def pg_entry(server: Any, **credential: Any) -> dict[str, Any]:
    return {
        "type": "postgres",
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "username": server.user,
        "timeout": 10,
        **credential,
    }


def select_one(registry: Any, name: str = "app") -> int:
    with registry.get_engine(name).connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


# ----------------------------------------------------------------------------- aws (moto)


@pytest.mark.live
def test_aws_secret_logs_in_to_postgres(aws: Any, scram_postgres: Any) -> None:
    name = unique("prod/db")
    aws.create_secret(Name=name, SecretString=json.dumps({"password": scram_postgres.password}))
    registry = registry_for(
        app=pg_entry(scram_postgres, password=f"${{secret:aws:{name}#password}}")
    )
    try:
        assert select_one(registry) == 1
        described = json.dumps(registry.get_datasource("app").describe())
        assert scram_postgres.password not in described
        assert scram_postgres.password not in repr(registry.get_engine("app").url)
    finally:
        registry.close_all()


@pytest.mark.live
def test_aws_secret_rotated_in_the_manager(aws: Any, scram_postgres: Any) -> None:
    """The secret and the role's password change; the cached value (an hour's
    TTL) is rejected once, fetched again, and new connections log in."""
    import psycopg
    from psycopg import sql

    role = unique("rot")
    name = unique("rotating/db")
    with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'first-Passw0rd'").format(sql.Identifier(role))
        )
    aws.create_secret(Name=name, SecretString=json.dumps({"password": "first-Passw0rd"}))
    entry = pg_entry(
        scram_postgres,
        username=role,
        password=f"${{secret:aws:{name}#password}}",
        credential_ttl=3600,
        database="postgres",
    )
    registry = registry_for(app=entry)
    try:
        assert select_one(registry) == 1
        with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD 'second-Passw0rd'").format(sql.Identifier(role))
            )
        aws.put_secret_value(
            SecretId=name, SecretString=json.dumps({"password": "second-Passw0rd"})
        )
        registry.get_engine("app").dispose()
        assert select_one(registry) == 1
        assert registry.get_engine("app").url.password is None
    finally:
        registry.close_all()
        with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.live
def test_missing_aws_secret_names_datasource_key_and_provider(aws: Any) -> None:
    registry = registry_for(
        app={"type": "postgres", "host": "db", "password": "${secret:aws:nope#pw}"}
    )
    with pytest.raises(NotConfiguredError) as caught:
        registry.get_datasource("app")
    error = caught.value
    assert (error.datasource, error.key) == ("app", "password")
    assert "'aws'" in str(error) and "ResourceNotFoundException" in str(error)


@pytest.mark.live
def test_silent_aws_endpoint_times_out_within_timeout(
    monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent_port}")
    registry = registry_for(
        app={"type": "postgres", "host": "db", "timeout": 1, "password": "${secret:aws:db#pw}"}
    )
    started = time.monotonic()
    with pytest.raises(DatasourceTimeoutError) as caught:
        registry.get_datasource("app")
    assert time.monotonic() - started < 1 + 2.0
    assert (caught.value.datasource, caught.value.key) == ("app", "password")
    assert "'aws'" in str(caught.value)


# ----------------------------------------------------------------------------- vault


@pytest.mark.live
def test_silent_vault_times_out_within_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with hanging_listener() as listener:
        monkeypatch.setenv("VAULT_ADDR", f"http://{listener.host}:{listener.port}")
        monkeypatch.setenv("VAULT_TOKEN", "fake-vault-token")
        registry = registry_for(
            app={
                "type": "postgres",
                "host": "db",
                "timeout": 1,
                "password": "${secret:vault:secret/app/db#password}",
            }
        )
        started = time.monotonic()
        with pytest.raises(DatasourceTimeoutError) as caught:
            registry.get_datasource("app")
        assert time.monotonic() - started < 1 + 2.0
    assert (caught.value.datasource, caught.value.key) == ("app", "password")
    assert "'vault'" in str(caught.value)
    assert "fake-vault-token" not in str(caught.value)


@pytest.mark.live
def test_real_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    address = skip_unless_env("UNIFYDB_TEST_VAULT_ADDR")
    token = skip_unless_env("UNIFYDB_TEST_VAULT_TOKEN")
    import hvac

    path = unique("unifydb-test")
    client = hvac.Client(url=address, token=token)
    client.secrets.kv.v2.create_or_update_secret(path=path, secret={"password": "s3cr3t"})
    monkeypatch.setenv("VAULT_ADDR", address)
    monkeypatch.setenv("VAULT_TOKEN", token)
    try:
        registry = registry_for(
            app={"type": "sqlite", "query": {"x": f"${{secret:vault:secret/{path}#password}}"}}
        )
        assert registry.get_datasource("app").options.query == {"x": "s3cr3t"}
    finally:
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=path)


# ----------------------------------------------------------------------------- env, file, plugins


def test_env_and_file_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_DB_SECRET", json.dumps({"password": NASTY_PASSWORD}))
    (tmp_path / "db.json").write_text(json.dumps({"user": "app", "port": 6543}))
    registry = registry_for(
        app={
            "type": "postgres",
            "host": "db",
            "username": f"${{secret:file:{tmp_path / 'db.json'}#user}}",
            "port": f"${{secret:file:{tmp_path / 'db.json'}#port}}",
            "password": "${secret:env:APP_DB_SECRET#password}",
        }
    )
    options = registry.get_datasource("app").options
    assert (options.username, options.port) == ("app", 6543)
    assert options.password.get_secret_value() == NASTY_PASSWORD
    assert NASTY_PASSWORD not in repr(options)


def test_unknown_provider_and_missing_key_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_DB_SECRET", json.dumps({"password": "x"}))
    for reference, words in (
        ("${secret:nowhere:db}", "unknown secret provider 'nowhere'"),
        ("${secret:env:APP_DB_SECRET#pass}", "has no key 'pass'"),
    ):
        registry = registry_for(app={"type": "postgres", "host": "db", "password": reference})
        with pytest.raises(NotConfiguredError) as caught:
            registry.get_datasource("app")
        assert caught.value.key == "password"
        assert words in str(caught.value)


def test_listing_without_validation_does_not_ask_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """inspect(validate=False) is offline; validating asks the provider, and one that
    cannot answer is reported as what is missing."""
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "t")
    registry = registry_for(
        app={"type": "postgres", "host": "db", "password": "${secret:vault:secret/x#pw}"}
    )
    assert registry.inspect("app", validate=False).missing_variables == ()
    assert registry.inspect("app").missing_variables == ("secret:vault",)


def _plugin(tmp_path: Path, group: str, name: str, code: str) -> None:
    package = tmp_path / f"{name}_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(code)
    dist = tmp_path / f"{name}_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = {name}_pkg:provider\n")


def test_secret_and_token_provider_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin(
        tmp_path,
        "unifydb.secrets",
        "vaultish",
        "def provider(path, *, timeout):\n    return {'pw': 'from-' + path}\n",
    )
    _plugin(
        tmp_path,
        "unifydb.credentials",
        "tokenish",
        "class provider:\n"
        "    def __init__(self, prefix='tok'):\n        self.prefix = prefix\n"
        "    def token(self, request):\n"
        "        return f'{self.prefix}-{request.username}@{request.host}:{request.port}'\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = registry_for(
        a={"type": "postgres", "host": "db", "password": "${secret:vaultish:team/db#pw}"},
        b={
            "type": "postgres",
            "host": "db",
            "username": "u",
            "auth": {"provider": "tokenish", "prefix": "t"},
        },
    )
    assert registry.get_datasource("a").options.password.get_secret_value() == "from-team/db"
    assert registry.get_datasource("b").options.password.get_secret_value() == "t-u@db:5432"
    with pytest.raises(ConfigurationError) as caught:
        registry_for(c={"type": "postgres", "host": "db", "auth": "nope"}).get_datasource("c")
    assert caught.value.key == "auth" and "tokenish" in str(caught.value)


def test_credential_keys_conflict_and_need_a_password() -> None:
    for entry, key in (
        ({"type": "postgres", "password": "x", "password_command": "cat pw"}, "password_command"),
        ({"type": "postgres", "auth": "aws_rds_iam", "password_command": ["cat"]}, "auth"),
        ({"type": "sqlite", "password_command": ["cat", "pw"]}, "password_command"),
        ({"type": "oracle", "host": "db", "service_name": "x", "auth": "aws_rds_iam"}, "auth"),
    ):
        with pytest.raises(ConfigurationError) as caught:
            registry_for(app=entry).get_datasource("app")
        assert caught.value.key == key, caught.value


# ----------------------------------------------------------------------------- AWS RDS IAM


def test_aws_rds_iam_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signed locally from fake credentials: no AWS endpoint is contacted."""
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    registry = registry_for(
        app={
            "type": "postgres",
            "host": "mydb.abc123.eu-central-1.rds.amazonaws.com",
            "port": 5433,
            "username": "app_user",
            "sslmode": "require",
            "auth": {"provider": "aws_rds_iam", "region": "eu-central-1"},
        }
    )
    datasource = registry.get_datasource("app")
    token = datasource.options.password.get_secret_value()
    parts = urlsplit("https://" + token)
    assert (parts.hostname, parts.port) == ("mydb.abc123.eu-central-1.rds.amazonaws.com", 5433)
    query = parse_qs(parts.query)
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["app_user"]
    assert "/eu-central-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Credential"][0].startswith(FAKE_AWS["AWS_ACCESS_KEY_ID"])
    # a secret everywhere: the URL, the options, describe(), the engine
    engine = registry.get_engine("app")
    signature = query["X-Amz-Signature"][0]
    for shown in (
        repr(datasource),
        repr(datasource.options),
        json.dumps(datasource.describe()),
        repr(engine),
        str(engine.url),
        datasource.target(),
    ):
        assert signature not in shown and "X-Amz" not in shown
    assert engine.url.password is None
    assert signature not in datasource.redact(f"error quoting {token}")
    # cached: the same token until shortly before it expires
    assert datasource.options.password.get_secret_value() == token
    registry.close_all()


def test_token_provider_without_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """azure-identity made unimportable: the error names the extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "azure.identity", None)
    registry = registry_for(
        app={"type": "postgres", "host": "db", "username": "u", "auth": "azure_entra"}
    )
    from unifydb.errors import DriverNotInstalledError

    with pytest.raises(DriverNotInstalledError) as caught:
        registry.get_datasource("app").options.password.get_secret_value()
    assert caught.value.key == "auth"
    assert "unifydb[azure]" in str(caught.value)
