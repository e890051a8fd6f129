"""PostgreSQL through psycopg 3 (``postgresql+psycopg``)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from unifydb.base import SQLDatasource
from unifydb.options import BaseOptions, ServerSQLOptions

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


class PostgresOptions(ServerSQLOptions):
    port: int | None = Field(5432, ge=1, le=65535)
    sslmode: SSLMode | None = Field(None, description="libpq sslmode.")
    sslrootcert: str | None = Field(
        None, description="CA certificate file for verify-ca/verify-full."
    )
    sslcert: str | None = None
    sslkey: str | None = None
    sslpassword: SecretStr | None = None
    application_name: str | None = None
    options: str | None = Field(None, description="libpq 'options', e.g. '-c search_path=app'.")
    target_session_attrs: str | None = None
    prepared_statements: bool = Field(
        True, description="Off for PgBouncer/Supabase transaction pooling."
    )
    prepare_threshold: int | None = Field(
        None, ge=0, description="psycopg's prepare_threshold (driver default when unset)."
    )

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url", "sslpassword")


class PostgresDatasource(SQLDatasource):
    type_name = "postgres"
    options_model: ClassVar[type[BaseOptions]] = PostgresOptions
    extra = "postgres"
    driver_modules = ("psycopg",)
    drivername = "postgresql+psycopg"
    async_drivername = "postgresql+psycopg_async"
    async_driver_modules = ("psycopg",)
    url_dialects = frozenset({"postgresql", "postgres"})
    url_drivers = frozenset({"psycopg", "psycopg_async"})
    version_sql = "SHOW server_version"
    async_connect_function = "psycopg:AsyncConnection.connect"

    @property
    def pg_options(self) -> PostgresOptions:
        assert isinstance(self._options, PostgresOptions)
        return self._options

    def url_query(self) -> dict[str, str]:
        options = self.pg_options
        return {
            key: str(getattr(options, key))
            for key in _LIBPQ_URL_KEYS
            if getattr(options, key) is not None
        }

    def uses_prepared_statements(self) -> bool:
        return self.pg_options.prepared_statements

    def connect_args(self) -> dict[str, Any]:
        options = self.pg_options
        # libpq rounds connect_timeout down and treats anything below 2 as 2
        args: dict[str, Any] = {"connect_timeout": max(2, math.ceil(self.timeout))}
        if options.sslpassword is not None:
            args["sslpassword"] = options.sslpassword.get_secret_value()
        if not self.uses_prepared_statements():
            args["prepare_threshold"] = None
        elif options.prepare_threshold is not None:
            args["prepare_threshold"] = options.prepare_threshold
        return args
