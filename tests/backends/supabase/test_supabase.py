"""The supabase type: defaults and pooler detection offline, TLS against a
throwaway PostgreSQL cluster that accepts TCP logins only over TLS (tests/servers).

Tests shared with the other SQL types are in tests/backends/test_relational.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers import (
    build,
    connect_args,
    pg_fields,
    registry_for,
)
from tests.servers.tls_postgres import PostgresServer
from unifydb.errors import (
    ConfigurationError,
)

# ----------------------------------------------------------------------------- offline


def test_supabase_defaults_and_transaction_pooler() -> None:
    direct = build("supabase", project_ref="abcd", username="postgres", password="p")
    _, cparams = connect_args(direct)
    assert cparams["sslmode"] == "require"
    assert cparams["host"] == "db.abcd.supabase.co"
    assert "prepare_threshold" not in cparams
    pooled = build(
        "supabase", host="aws-0-eu.pooler.supabase.com", port=6543, username="postgres.abcd"
    )
    assert pooled.connect_args()["prepare_threshold"] is None
    with pytest.raises(ConfigurationError) as caught:
        build("supabase", host="h", sslmode="disable")
    assert caught.value.key == "sslmode"


# ------------------------------------------------------------------------- live: throwaway clusters


@pytest.mark.live
def test_supabase_connects_over_tls(tls_server: PostgresServer) -> None:
    registry = registry_for(sb={"type": "supabase", **pg_fields(tls_server)})
    with registry.get_engine("sb").connect() as connection:
        used_tls = connection.execute(
            text("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        ).scalar()
    assert used_tls is True
    assert registry.get_datasource("sb").health_check().ok
    registry.close_all()


@pytest.mark.live
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


@pytest.mark.live
def test_supabase_refuses_a_server_without_tls(scram_postgres: PostgresServer) -> None:
    registry = registry_for(sb={"type": "supabase", **pg_fields(scram_postgres)})
    status = registry.get_datasource("sb").health_check()
    assert status.status == "error"
    assert "does not support SSL" in status.detail
    with pytest.raises(ConfigurationError):
        registry_for(
            x={"type": "supabase", **pg_fields(scram_postgres), "sslmode": "prefer"}
        ).build("x")


@pytest.mark.live
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
