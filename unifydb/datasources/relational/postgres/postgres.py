"""PostgreSQL through psycopg 3 (``postgresql+psycopg``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from unifydb.base import SQLDatasource
from unifydb.options import NonNegativeInt, Port, Secret, ServerSQLOptions, doc

SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

#: libpq parameters passed through the URL query, visible in `unifydb show`
_LIBPQ_URL_KEYS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "target_session_attrs",
)


class PostgresOptions(ServerSQLOptions, kw_only=True, frozen=True):
    port: Port | None = 5432
    sslmode: Annotated[SSLMode | None, doc("libpq sslmode.")] = None
    sslrootcert: Annotated[str | None, doc("CA certificate file for verify-ca/verify-full.")] = None
    sslcert: str | None = None
    sslkey: str | None = None
    sslpassword: Secret | None = None
    application_name: str | None = None
    options: Annotated[str | None, doc("libpq 'options', e.g. '-c search_path=app'.")] = None
    target_session_attrs: str | None = None
    prepared_statements: Annotated[bool, doc("Off for PgBouncer/Supabase transaction pooling.")] = (
        True
    )
    prepare_threshold: Annotated[
        NonNegativeInt | None, doc("psycopg's prepare_threshold (driver default when unset).")
    ] = None

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url", "sslpassword")


PgOptionsT = TypeVar("PgOptionsT", bound=PostgresOptions)


class PostgresFamily(SQLDatasource[PgOptionsT]):
    """What PostgreSQL and the types built on it (Supabase) share."""

    drivername = "postgresql+psycopg"
    async_drivername = "postgresql+psycopg_async"
    async_connect_function = "psycopg:AsyncConnection.connect"
    url_dialects = frozenset({"postgresql", "postgres"})
    url_drivers = frozenset({"psycopg", "psycopg_async"})
    version_sql = "SHOW server_version"
    # a standby that has replayed all the primary had logged when the check began
    # is not behind; otherwise it is as far behind as the last transaction it
    # replayed is old. (Without the primary's position: all it has received, which
    # misses what is on its way.) The insert position, not the write position: a
    # commit made with synchronous_commit = off is in the log before it is written.
    primary_position_sql = "SELECT pg_current_wal_insert_lsn()::text"
    replica_lag_after_sql = (
        "SELECT CASE"
        " WHEN NOT pg_is_in_recovery() THEN 0"
        " WHEN pg_last_wal_replay_lsn() >= %s::pg_lsn THEN 0"
        " ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
        " END"
    )
    replica_lag_sql = (
        "SELECT CASE"
        " WHEN NOT pg_is_in_recovery() THEN 0"
        " WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0"
        " ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
        " END"
    )

    def url_query(self) -> dict[str, str]:
        options = self.options
        return {
            key: str(getattr(options, key))
            for key in _LIBPQ_URL_KEYS
            if getattr(options, key) is not None
        }

    def uses_prepared_statements(self) -> bool:
        return self.options.prepared_statements

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
        finally:
            cursor.close()
        dbapi_connection.commit()  # a SET inside the driver's transaction must outlive it

    def connect_args(self) -> dict[str, Any]:
        options = self.options
        # libpq rounds connect_timeout down and treats anything below 2 as 2
        args: dict[str, Any] = {"connect_timeout": max(2, math.ceil(self.timeout))}
        if options.sslpassword is not None:
            args["sslpassword"] = options.sslpassword.get_secret_value()
        if not self.uses_prepared_statements():
            args["prepare_threshold"] = None
        elif options.prepare_threshold is not None:
            args["prepare_threshold"] = options.prepare_threshold
        return args


class PostgresDatasource(PostgresFamily[PostgresOptions]):
    type_name = "postgres"
