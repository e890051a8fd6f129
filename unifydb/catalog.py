"""The one description of every built-in datasource type.

A type is described here once: its name and aliases, where its
implementation lives (imported only when a datasource of that type is
used), its category, the pip extra that installs its driver, the modules the
driver consists of (per variant, where settings choose one), system packages
a driver needs to build, and what it can do. The registry, ``unifydb list``,
``Registry.inspect`` and the README's options reference all read it; the
implementation classes take their ``category``, ``extra`` and
``driver_modules`` from here.

Third-party packages add types through the ``unifydb.datasources`` entry-point
group (their classes describe themselves with a ``type_info`` attribute).
This module imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Category = Literal["relational", "nosql", "vector", "search", "keyvalue"]


@dataclass(frozen=True)
class TypeInfo:
    """What can be known about a datasource type without importing it."""

    name: str
    #: "module:Class" of the implementation
    implementation: str
    category: Category
    #: ``pip install 'unifydb[<extra>]'`` installs its driver(s)
    extra: str | None
    #: importable modules of the default driver
    drivers: tuple[str, ...]
    summary: str = ""
    aliases: tuple[str, ...] = ()
    #: modules of the asyncio driver, where one exists
    async_drivers: tuple[str, ...] = ()
    #: settings -> driver modules, for types whose settings pick a driver
    variant: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    #: operating-system packages a driver needs to build (Debian names)
    system_packages: tuple[str, ...] = ()
    #: "sql", "async", "vectors", "embedded" (serves from a local file or folder)
    capabilities: frozenset[str] = field(default_factory=frozenset)
    #: the keys a ``url`` setting stands for: their unset placeholders are no
    #: error when a URL is given (and the URL's when they are)
    url_fields: frozenset[str] = frozenset({"host", "port", "database", "username", "password"})

    def driver_modules(self, settings: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """The modules the driver a datasource with ``settings`` uses consists of."""
        if self.variant is not None and settings is not None:
            return self.variant(settings)
        return self.drivers


def _text(settings: Mapping[str, Any], key: str) -> str:
    value = settings.get(key)
    return value.strip().lower() if isinstance(value, str) else ""


def _sqlserver_drivers(settings: Mapping[str, Any]) -> tuple[str, ...]:
    return ("pymssql",) if _text(settings, "dbapi") == "pymssql" else ("pyodbc",)


def _milvus_drivers(settings: Mapping[str, Any]) -> tuple[str, ...]:
    lite = _text(settings, "uri").endswith(".db")
    return ("pymilvus", "milvus_lite") if lite else ("pymilvus",)


_RELATIONAL = "unifydb.datasources.relational"
_SQL = frozenset({"sql", "async"})

BUILTIN: dict[str, TypeInfo] = {
    info.name: info
    for info in (
        TypeInfo(
            "postgres",
            f"{_RELATIONAL}.postgres:PostgresDatasource",
            "relational",
            "postgres",
            ("psycopg",),
            "PostgreSQL through psycopg 3",
            aliases=("postgresql", "pg"),
            async_drivers=("psycopg",),
            capabilities=_SQL,
        ),
        TypeInfo(
            "supabase",
            f"{_RELATIONAL}.postgres.supabase:SupabaseDatasource",
            "relational",
            "supabase",
            ("psycopg",),
            "Supabase: PostgreSQL over TLS, through its pooler",
            async_drivers=("psycopg",),
            capabilities=_SQL,
        ),
        TypeInfo(
            "sqlite",
            f"{_RELATIONAL}.sqlite:SQLiteDatasource",
            "relational",
            "sqlite",
            ("sqlite3",),
            "SQLite files (or memory) through the standard library",
            aliases=("sqlite3",),
            async_drivers=("aiosqlite",),
            capabilities=_SQL | {"embedded"},
        ),
        TypeInfo(
            "mysql",
            f"{_RELATIONAL}.mysql:MySQLDatasource",
            "relational",
            "mysql",
            ("MySQLdb",),
            "MySQL through mysqlclient",
            async_drivers=("asyncmy",),
            system_packages=("libmariadb-dev", "pkg-config"),
            capabilities=_SQL,
        ),
        TypeInfo(
            "mariadb",
            f"{_RELATIONAL}.mysql.mariadb:MariaDBDatasource",
            "relational",
            "mariadb",
            ("mariadb",),
            "MariaDB through MariaDB Connector/Python",
            async_drivers=("asyncmy",),
            system_packages=("libmariadb-dev",),
            capabilities=_SQL,
        ),
        TypeInfo(
            "oracle",
            f"{_RELATIONAL}.oracle:OracleDatasource",
            "relational",
            "oracle",
            ("oracledb",),
            "Oracle Database through python-oracledb (thin mode by default)",
            async_drivers=("oracledb",),
            capabilities=_SQL,
        ),
        TypeInfo(
            "sqlserver",
            f"{_RELATIONAL}.sqlserver:SQLServerDatasource",
            "relational",
            "sqlserver",
            ("pyodbc",),
            "Microsoft SQL Server through pyodbc (or pymssql)",
            aliases=("mssql",),
            async_drivers=("aioodbc", "pyodbc"),
            variant=_sqlserver_drivers,
            system_packages=("unixodbc-dev",),
            capabilities=_SQL,
        ),
        TypeInfo(
            "duckdb",
            f"{_RELATIONAL}.duckdb:DuckDBDatasource",
            "relational",
            "duckdb",
            ("duckdb", "duckdb_engine"),
            "DuckDB files (or memory) through duckdb_engine",
            capabilities=frozenset({"sql", "embedded"}),
            url_fields=frozenset({"database"}),
        ),
        TypeInfo(
            "athena",
            f"{_RELATIONAL}.athena:AthenaDatasource",
            "relational",
            "athena",
            ("pyathena", "boto3"),
            "Amazon Athena through PyAthena (awsathena+rest)",
            capabilities=frozenset({"sql"}),
            url_fields=frozenset(
                {
                    "region",
                    "region_name",
                    "schema_name",
                    "s3_staging_dir",
                    "work_group",
                    "catalog_name",
                    "aws_access_key_id",
                    "aws_secret_access_key",
                }
            ),
        ),
        TypeInfo(
            "mongodb",
            "unifydb.datasources.nosql.mongodb:MongoDBDatasource",
            "nosql",
            "mongodb",
            ("pymongo",),
            "MongoDB through pymongo",
            aliases=("mongo",),
            url_fields=frozenset(
                {
                    "host",
                    "port",
                    "database",
                    "username",
                    "password",
                    "auth_source",
                    "auth_mechanism",
                    "replica_set",
                    "direct_connection",
                    "tls",
                }
            ),
            async_drivers=("pymongo",),
            capabilities=frozenset({"async"}),
        ),
        TypeInfo(
            "cassandra",
            "unifydb.datasources.nosql.cassandra:CassandraDatasource",
            "nosql",
            "cassandra",
            ("cassandra",),
            "Apache Cassandra through the DataStax driver",
        ),
        TypeInfo(
            "elasticsearch",
            "unifydb.datasources.search.elasticsearch:ElasticsearchDatasource",
            "search",
            "elasticsearch",
            ("elasticsearch",),
            "Elasticsearch through the official Python client",
            url_fields=frozenset({"nodes", "node", "username", "password"}),
        ),
        TypeInfo(
            "redis",
            "unifydb.datasources.keyvalue.redis:RedisDatasource",
            "keyvalue",
            "redis",
            ("redis",),
            "Redis through redis-py",
            capabilities=frozenset({"async"}),
            url_fields=frozenset(
                {"host", "port", "db", "username", "password", "ssl", "use_ssl", "unix_socket_path"}
            ),
        ),
        TypeInfo(
            "chroma",
            "unifydb.datasources.vector.chroma:ChromaDatasource",
            "vector",
            "chroma",
            ("chromadb",),
            "ChromaDB: a server over HTTP, a local folder, or memory",
            aliases=("chromadb",),
            capabilities=frozenset({"vectors", "embedded", "async"}),
        ),
        TypeInfo(
            "milvus",
            "unifydb.datasources.vector.milvus:MilvusDatasource",
            "vector",
            "milvus",
            ("pymilvus",),
            "Milvus: a server, or Milvus Lite in a local file",
            variant=_milvus_drivers,
            capabilities=frozenset({"vectors", "embedded", "async"}),
        ),
        TypeInfo(
            "qdrant",
            "unifydb.datasources.vector.qdrant:QdrantDatasource",
            "vector",
            "qdrant",
            ("qdrant_client",),
            "Qdrant: a server (REST or gRPC), or qdrant-client's local mode (a folder or memory)",
            async_drivers=("qdrant_client",),
            capabilities=frozenset({"vectors", "embedded", "async"}),
            url_fields=frozenset({"host", "port", "api_key"}),
        ),
        TypeInfo(
            "pgvector",
            f"{_RELATIONAL}.postgres.pgvector:PgvectorDatasource",
            "vector",
            "pgvector",
            ("psycopg",),
            "PostgreSQL with the pgvector extension: a SQLAlchemy engine and the vector API",
            async_drivers=("psycopg",),
            capabilities=frozenset({"sql", "async", "vectors"}),
        ),
        TypeInfo(
            "pinecone",
            "unifydb.datasources.vector.pinecone:PineconeDatasource",
            "vector",
            "pinecone",
            ("pinecone",),
            "Pinecone (a hosted service): one index per collection",
            capabilities=frozenset({"vectors"}),
            url_fields=frozenset({"host", "api_key"}),
        ),
    )
}

#: other spellings users reach for -> the type's name
ALIASES: dict[str, str] = {alias: info.name for info in BUILTIN.values() for alias in info.aliases}


def canonical(type_name: str) -> str:
    """The catalog name for ``type_name`` (aliases resolved, case and spaces ignored)."""
    key = type_name.strip().lower()
    return ALIASES.get(key, key)
