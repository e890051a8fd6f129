"""Supabase: PostgreSQL that always uses TLS and works through Supabase's pooler.

Supabase's transaction pooler (Supavisor, port 6543) hands each transaction to
any server connection, so prepared statements cannot be used there; the session
pooler (5432 on the pooler host) and direct connections support them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from unifydb.options import OptionError, doc

from .postgres import PostgresFamily, PostgresOptions

TRANSACTION_POOLER_PORT = 6543


class SupabaseOptions(PostgresOptions, kw_only=True, frozen=True):
    database: str | None = "postgres"
    # TLS is not optional: a weaker sslmode is refused, not silently allowed
    sslmode: Annotated[  # type: ignore[assignment]
        Literal["require", "verify-ca", "verify-full"] | None,
        doc("require (default), verify-ca or verify-full."),
    ] = "require"
    pooler: Annotated[
        Literal["transaction", "session", "direct"] | None,
        doc("Connection mode; default: 'transaction' on port 6543, else 'session'."),
    ] = None
    project_ref: Annotated[
        str | None, doc("Project reference; sets host to db.<ref>.supabase.co when host is unset.")
    ] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.host is None and self.project_ref:
            msgspec.structs.force_setattr(self, "host", f"db.{self.project_ref}.supabase.co")
        if self.host is None:
            raise OptionError("host (or project_ref) is required")

    @property
    def effective_pooler(self) -> str:
        if self.pooler:
            return self.pooler
        return "transaction" if self.port == TRANSACTION_POOLER_PORT else "session"


class SupabaseDatasource(PostgresFamily[SupabaseOptions]):
    type_name = "supabase"

    def uses_prepared_statements(self) -> bool:
        options = self.options
        return options.prepared_statements and options.effective_pooler != "transaction"
