"""The postgres type: the machine's PostgreSQL 15, a throwaway scram-sha-256
cluster (tests/servers) for password logins, and libpq arguments offline.

Tests shared with the other SQL types are in tests/backends/test_relational.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import (
    NASTY_PASSWORD,
    build,
    connect_args,
    pg_fields,
    registry_for,
    round_trip,
)
from tests.servers.tls_postgres import PostgresServer

# ----------------------------------------------------------------------------- offline


def test_postgres_libpq_options_and_timeouts() -> None:
    datasource = build(
        "postgres",
        host="h",
        sslmode="verify-full",
        sslrootcert="/ca.pem",
        application_name="app",
        sslpassword="keypass",
        timeout=0.5,
    )
    _, cparams = connect_args(datasource)
    assert cparams["sslmode"] == "verify-full"
    assert cparams["sslrootcert"] == "/ca.pem"
    assert cparams["connect_timeout"] == 2  # libpq's minimum
    assert "keypass" not in datasource.target()


# ----------------------------------------------------------------------------- live


@pytest.mark.live
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


@pytest.mark.live
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
