"""Supabase: PostgreSQL that always uses TLS and works through Supabase's pooler.

Supabase's transaction pooler (Supavisor, port 6543) hands each transaction to
any server connection, so prepared statements cannot be used there; the session
pooler (5432 on the pooler host) and direct connections support them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from unifydb.options import BaseOptions

from .postgres import PostgresDatasource, PostgresOptions

TRANSACTION_POOLER_PORT = 6543


class SupabaseOptions(PostgresOptions):
    database: str | None = "postgres"
    # TLS is not optional: a weaker sslmode is refused, not silently allowed
    sslmode: Literal["require", "verify-ca", "verify-full"] | None = Field(  # type: ignore[assignment]
        "require", description="require (default), verify-ca or verify-full."
    )
    pooler: Literal["transaction", "session", "direct"] | None = Field(
        None, description="Connection mode; default: 'transaction' on port 6543, else 'session'."
    )
    project_ref: str | None = Field(
        None, description="Project reference; sets host to db.<ref>.supabase.co when host is unset."
    )

    @model_validator(mode="after")
    def _host_from_project(self) -> SupabaseOptions:
        if self.host is None and self.project_ref:
            object.__setattr__(self, "host", f"db.{self.project_ref}.supabase.co")
        if self.host is None:
            raise ValueError("host (or project_ref) is required")
        return self

    @property
    def effective_pooler(self) -> str:
        if self.pooler:
            return self.pooler
        return "transaction" if self.port == TRANSACTION_POOLER_PORT else "session"


class SupabaseDatasource(PostgresDatasource):
    type_name = "supabase"
    options_model: ClassVar[type[BaseOptions]] = SupabaseOptions
    extra = "supabase"

    def uses_prepared_statements(self) -> bool:
        options = self._options
        assert isinstance(options, SupabaseOptions)
        return options.prepared_statements and options.effective_pooler != "transaction"
