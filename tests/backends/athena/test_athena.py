"""The athena type. No Athena can run here: URL building, credentials and
offline migrations are checked without a server; health checks against a
silent and a garbage-answering ``endpoint_url``; and, against moto's AWS
double (``moto_server``, which checks request signatures but runs no query),
that the right credentials are accepted and wrong ones refused by "AWS".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.schema import CreateTable

from tests.helpers import REPO, build, opened, registry_for, run_cli
from tests.servers.faults import garbage_listener, hanging_listener
from unifydb.errors import ConfigurationError, DatasourceConnectionError, DatasourceTimeoutError

SECRET = "Athena-S3cret/Key+Value=9"
TOKEN = "Athena-Session-Token-7Q"
BASE = {"region": "eu-west-1", "s3_staging_dir": "s3://results-bucket/athena/"}


def test_url_holds_no_credential() -> None:
    datasource = build(
        "athena",
        **BASE,
        schema_name="sales",
        work_group="analysts",
        catalog_name="awsdatacatalog",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
    )
    url = datasource.url()
    rendered = url.render_as_string(hide_password=False)
    assert rendered == (
        "awsathena+rest://athena.eu-west-1.amazonaws.com:443/sales?"
        "catalog_name=awsdatacatalog&s3_staging_dir=s3%3A%2F%2Fresults-bucket%2Fathena%2F"
        "&work_group=analysts"
    )
    assert url.password is None and url.username is None
    args = datasource.connect_args()
    assert (args["aws_access_key_id"], args["aws_secret_access_key"]) == ("AKIAEXAMPLE", SECRET)
    assert args["aws_session_token"] == TOKEN and args["region_name"] == "eu-west-1"
    assert args["config"].connect_timeout == 10.0
    assert args["config"].retries == {"total_max_attempts": 3, "mode": "standard"}
    shown = repr(datasource) + str(datasource.describe()) + datasource.target()
    assert SECRET not in shown and TOKEN not in shown
    assert datasource.target() == (
        "awsathena+rest://athena.eu-west-1.amazonaws.com/sales "
        "(work group analysts, results s3://results-bucket/athena/)"
    )


def test_pyathena_reads_our_url_and_arguments() -> None:
    """What PyAthena's dialect derives from the URL, plus the connect arguments."""
    datasource = build("athena", **BASE, schema_name="sales")
    datasource.initialize()
    engine = datasource.get_engine()
    _, params = engine.dialect.create_connect_args(engine.url)
    assert params["region_name"] == "eu-west-1" and params["schema_name"] == "sales"
    assert params["s3_staging_dir"] == "s3://results-bucket/athena/"
    assert params["aws_access_key_id"] is None  # the default chain
    datasource.close()


def test_default_chain_and_profile() -> None:
    default = build("athena", work_group="primary")
    assert "aws_access_key_id" not in default.connect_args()
    assert "region_name" not in default.connect_args()
    assert default.url().host is None
    assert build("athena", **BASE, profile_name="prod").connect_args()["profile_name"] == "prod"


def test_pyathena_style_url_is_split() -> None:
    datasource = build(
        "athena",
        url="awsathena+rest://AKIAEXAMPLE:Athena%2FSecret@athena.us-west-2.amazonaws.com:443/"
        "logs?s3_staging_dir=s3%3A%2F%2Fb%2Fp%2F&work_group=wg",
    )
    options = datasource.options
    assert (options.region, options.schema_name, options.work_group) == ("us-west-2", "logs", "wg")
    assert options.aws_access_key_id == "AKIAEXAMPLE"
    assert options.aws_secret_access_key.get_secret_value() == "Athena/Secret"  # type: ignore[union-attr]
    assert options.s3_staging_dir == "s3://b/p/"


def test_orbit_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {
        "type": "athena",
        "region_name": "${ATHENA_T_REGION:-us-east-1}",
        "s3_staging_dir": "${ATHENA_T_STAGING}",
        "schema_name": "${ATHENA_T_SCHEMA:-default}",
        "work_group": "${ATHENA_T_WG:-primary}",
        "aws_access_key_id": "${ATHENA_T_KEY}",
        "aws_secret_access_key": "${ATHENA_T_SECRET}",
    }
    info = registry_for(ath=entry).inspect("ath")
    assert set(info.missing_variables) == {"ATHENA_T_STAGING", "ATHENA_T_KEY", "ATHENA_T_SECRET"}
    monkeypatch.setenv("ATHENA_T_STAGING", "s3://b/r/")
    monkeypatch.setenv("ATHENA_T_KEY", "AKIA1")
    monkeypatch.setenv("ATHENA_T_SECRET", SECRET)
    options = registry_for(ath=entry).build("ath").options
    assert (options.region, options.schema_name, options.work_group) == (
        "us-east-1",
        "default",
        "primary",
    )


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"region": "Europe"}, "region"),
        ({"s3_staging_dir": "/tmp/results"}, "s3_staging_dir"),
        ({"aws_secret_access_key": SECRET}, "aws_secret_access_key"),
        ({"aws_access_key_id": "AKIA1"}, "aws_access_key_id"),
        ({"aws_session_token": TOKEN}, "aws_session_token"),
        (
            {"aws_access_key_id": "A", "aws_secret_access_key": "s", "profile_name": "p"},
            "profile_name",
        ),
        ({"endpoint_url": "athena.local"}, "endpoint_url"),
        ({"isolation_level": "SERIALIZABLE"}, "isolation_level"),
        ({"url": "postgresql://h/db"}, "url"),
        ({"url": "awsathena+rest://@example.com:443/db"}, "url"),
        ({"region_name": "us-east-1", "region": "eu-west-1"}, "region_name"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build("athena", **settings)
    assert caught.value.key == key
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


def test_dialect_compiles_athena_ddl() -> None:
    datasource = build("athena", **BASE)
    datasource.initialize()
    table = Table(
        "events",
        MetaData(),
        Column("id", Integer),
        Column("name", String(50)),
        awsathena_location="s3://data-bucket/events/",
        awsathena_file_format="PARQUET",
    )
    ddl = str(CreateTable(table).compile(dialect=datasource.get_engine().dialect))
    assert "CREATE EXTERNAL TABLE" in ddl and "s3://data-bucket/events/" in ddl
    datasource.close()


def test_offline_migrations_refuse_clearly(tmp_path: Path) -> None:
    """Alembic cannot keep its version table on Athena: `--sql` says why, names no secret."""
    (tmp_path / "settings.toml").write_text(
        '[datasources.athena]\nregion = "us-east-1"\ns3_staging_dir = "s3://b/r/"\n'
        'aws_access_key_id = "AKIA1"\naws_secret_access_key = "${ATHENA_SECRET}"\n'
    )
    result = run_cli(
        "migrate", "--directory", str(REPO / "migrations"), "--datasource", "athena",
        "upgrade", "head", "--sql", cwd=tmp_path, env={"ATHENA_SECRET": SECRET},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Alembic cannot migrate Athena" in result.stderr
    assert "awsathena_location" in result.stderr
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("listener", [hanging_listener, garbage_listener])
def test_a_bad_endpoint_is_bounded(listener: Any) -> None:
    with listener() as (host, port):
        datasource = build(
            "athena", **BASE, endpoint_url=f"http://{host}:{port}", timeout=2,
            aws_access_key_id="AKIA1", aws_secret_access_key=SECRET,
        )  # fmt: skip
        with opened(datasource):
            datasource.initialize()  # the driver import is no part of what is timed
            started = time.monotonic()
            status = datasource.health_check()
            elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    if listener is hanging_listener:
        assert status.status == "timeout", status
        assert isinstance(status.error, DatasourceTimeoutError)
    else:
        assert status.status == "error", status
        assert isinstance(status.error, DatasourceConnectionError)
    assert SECRET not in status.detail


def test_a_query_against_a_silent_endpoint_is_bounded() -> None:
    with hanging_listener() as (host, port):
        datasource = build(
            "athena", **BASE, endpoint_url=f"http://{host}:{port}", timeout=1, max_retries=0,
            aws_access_key_id="AKIA1", aws_secret_access_key=SECRET,
        )  # fmt: skip
        with opened(datasource):
            datasource.initialize()
            started = time.monotonic()
            with pytest.raises(Exception, match=r"(?i)timeout"):
                with datasource.get_engine().connect() as connection:
                    connection.execute(text("SELECT 1"))
            assert time.monotonic() - started < 5.0


# ----------------------------------------------------------------------------- moto


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    """moto_server with one IAM user: (server, access key id, secret key)."""
    from tests.servers.moto_aws import moto_aws

    with moto_aws(tmp_path_factory.mktemp("moto")) as server:
        key, secret = server.create_user()
        yield server, key, secret


@pytest.mark.live
def test_credentials_against_an_aws_double(moto: tuple[Any, str, str]) -> None:
    server, key, secret = moto
    common = {**BASE, "region": "us-east-1", "endpoint_url": server.endpoint_url, "timeout": 5}
    right = build("athena", **common, aws_access_key_id=key, aws_secret_access_key=secret)
    wrong = build("athena", **common, aws_access_key_id=key, aws_secret_access_key=SECRET)
    with opened(right), opened(wrong):
        ok = right.health_check()
        refused = wrong.health_check()
        with right.get_engine().connect() as connection:  # PyAthena's query cycle, signed
            assert connection.execute(text("SELECT 1")).fetchall() == []  # moto runs nothing
    assert ok.ok, ok
    assert ok.server_version == "Athena engine version 3"
    assert refused.status == "error"
    assert refused.error is not None and refused.error.key == "aws_secret_access_key"
    assert "rejected the credentials" in refused.detail
    for status in (ok, refused):
        assert secret not in str(status.as_dict()) and SECRET not in str(status.as_dict())


@pytest.mark.live
def test_a_missing_work_group(moto: tuple[Any, str, str]) -> None:
    server, key, secret = moto
    datasource = build(
        "athena", **{**BASE, "region": "us-east-1"}, endpoint_url=server.endpoint_url,
        work_group="no-such-group", aws_access_key_id=key, aws_secret_access_key=secret,
    )  # fmt: skip
    with opened(datasource):
        status = datasource.health_check()
    assert status.status == "error", status
    assert status.error is not None and status.error.key == "work_group"
