"""Live tests against real servers on this machine.

PostgreSQL 15 and MariaDB 10.11 are the machine's own servers (mysql and
mariadb types both talk to MariaDB: same protocol, different drivers). Password
logins and TLS use throwaway PostgreSQL clusters from tests/servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import (
    MARIADB_ADMIN,
    MARIADB_HOST,
    MARIADB_PORT,
    NASTY_PASSWORD,
    pg_fields,
    registry_for,
    require_server,
    round_trip,
)
from tests.servers.tls_postgres import PostgresServer
from unifydb.errors import ConfigurationError, DatasourceConnectionError

pytestmark = pytest.mark.live


@pytest.fixture
def mysql_family(request: pytest.FixtureRequest, mariadb_database: str) -> dict[str, Any]:
    require_server(MARIADB_HOST, MARIADB_PORT, "MariaDB")
    return {
        "type": request.param,
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "database": mariadb_database,
        "username": MARIADB_ADMIN,
    }


def test_postgres_engine_round_trip_and_health(pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg=pg_settings)
    engine = registry.get_engine("pg")
    assert engine is registry.get_engine("pg")
    assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
    round_trip(engine)
    status = registry.get_datasource("pg").health_check()
    assert status.ok, status
    assert status.server_version and status.server_version.startswith("15.")
    assert status.latency_ms is not None and status.latency_ms > 0
    registry.close_all()


@pytest.mark.parametrize("mysql_family", ["mysql", "mariadb"], indirect=True)
def test_mysql_family_round_trip_and_health(mysql_family: dict[str, Any]) -> None:
    registry = registry_for(db=mysql_family)
    engine = registry.get_engine("db")
    assert engine.dialect.name in ("mysql", "mariadb")
    round_trip(engine)
    with engine.connect() as connection:
        charset = connection.execute(text("SELECT @@character_set_client")).scalar()
    assert charset == "utf8mb4"
    status = registry.health_check()["db"]
    assert status.ok, status
    assert status.server_version and "MariaDB" in status.server_version
    registry.close_all()


@pytest.mark.parametrize("type_name", ["mysql", "mariadb"])
def test_mysql_family_nasty_password_live(
    type_name: str, mariadb_database: str, mariadb_user: tuple[str, str]
) -> None:
    user, password = mariadb_user
    settings = {
        "type": type_name,
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "database": mariadb_database,
        "username": user,
        "password": password,
    }
    registry = registry_for(good=settings, bad={**settings, "password": password + "x"})
    with registry.get_engine("good").connect() as connection:
        assert connection.execute(text("SELECT CURRENT_USER()")).scalar().startswith(user)
    status = registry.get_datasource("bad").health_check()
    assert status.status == "error"
    assert isinstance(status.error, DatasourceConnectionError)
    assert "Access denied" in status.detail
    assert password not in status.detail and password not in repr(status)
    # the url form takes the password percent-encoded
    from urllib.parse import quote

    secret = quote(password, safe="")
    url = f"{type_name}://{user}:{secret}@{MARIADB_HOST}:{MARIADB_PORT}/{mariadb_database}"
    via_url = registry_for(u={"type": type_name, "url": url})
    assert via_url.get_datasource("u").health_check().ok
    registry.close_all()
    via_url.close_all()


# ----------------------------------------------------------------------------- throwaway clusters


def test_postgres_nasty_password_live(scram_postgres: PostgresServer, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(NASTY_PASSWORD + "\n")
    fields = pg_fields(scram_postgres)
    registry = registry_for(
        fields={"type": "postgres", **fields},
        url={"type": "postgres", "url": scram_postgres.url()},
        from_file={
            "type": "postgres",
            **{k: v for k, v in fields.items() if k != "password"},
            "password_file": str(secret_file),
        },
        wrong={"type": "postgres", **fields, "password": "nope"},
    )
    for name in ("fields", "url", "from_file"):
        with registry.get_engine(name).connect() as connection:
            assert connection.execute(text("select current_user")).scalar() == scram_postgres.user
    status = registry.get_datasource("wrong").health_check()
    assert status.status == "error"
    assert "password authentication failed" in status.detail
    registry.close_all()


def test_supabase_connects_over_tls(tls_server: PostgresServer) -> None:
    registry = registry_for(sb={"type": "supabase", **pg_fields(tls_server)})
    with registry.get_engine("sb").connect() as connection:
        used_tls = connection.execute(
            text("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        ).scalar()
    assert used_tls is True
    assert registry.get_datasource("sb").health_check().ok
    registry.close_all()


def test_supabase_verify_full_with_the_right_and_a_wrong_ca(
    tls_server: PostgresServer, tmp_path: Path
) -> None:
    from tests.servers import make_tls_files

    assert tls_server.ca_cert is not None
    other_ca = make_tls_files(tmp_path / "other").ca_cert
    base = {"type": "supabase", **pg_fields(tls_server), "sslmode": "verify-full", "timeout": 5}
    registry = registry_for(
        right={**base, "sslrootcert": str(tls_server.ca_cert)},
        wrong={**base, "sslrootcert": str(other_ca)},
        by_name={**base, "sslrootcert": str(tls_server.ca_cert), "host": "localhost"},
    )
    assert registry.get_datasource("right").health_check().ok
    assert registry.get_datasource("by_name").health_check().ok
    status = registry.get_datasource("wrong").health_check()
    assert status.status == "error"
    assert "certificate verify failed" in status.detail
    registry.close_all()


def test_supabase_refuses_a_server_without_tls(scram_postgres: PostgresServer) -> None:
    registry = registry_for(sb={"type": "supabase", **pg_fields(scram_postgres)})
    status = registry.get_datasource("sb").health_check()
    assert status.status == "error"
    assert "does not support SSL" in status.detail
    with pytest.raises(ConfigurationError):
        registry_for(
            x={"type": "supabase", **pg_fields(scram_postgres), "sslmode": "prefer"}
        ).build("x")


def test_supabase_transaction_pooler_mode_runs_without_prepared_statements(
    tls_server: PostgresServer,
) -> None:
    """pooler = "transaction" (what port 6543 implies) turns psycopg's prepared statements off."""
    registry = registry_for(
        sb={"type": "supabase", **pg_fields(tls_server), "pooler": "transaction"}
    )
    engine = registry.get_engine("sb")
    with engine.connect() as connection:
        for _ in range(10):  # past psycopg's default prepare_threshold of 5
            connection.execute(text("select 1 where 1 = :x"), {"x": 1})
        prepared = connection.execute(text("select count(*) from pg_prepared_statements")).scalar()
        assert connection.connection.dbapi_connection.prepare_threshold is None  # type: ignore[union-attr]
    assert prepared == 0
    registry.close_all()
