"""The PostgreSQL family: PostgreSQL itself and the types that speak its protocol."""

from .postgres import PostgresDatasource, PostgresFamily, PostgresOptions

__all__ = ["PostgresDatasource", "PostgresFamily", "PostgresOptions"]
