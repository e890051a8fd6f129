"""Alembic on any configured SQL datasource.

In an Alembic ``env.py`` two lines are enough::

    from unifydb.migrations import run_migrations
    run_migrations(target_metadata=Base.metadata)

The datasource comes from ``-x datasource=NAME``, else ``UNIFYDB_MIGRATE_DATASOURCE``,
else the ``unifydb.datasource`` option of alembic.ini. Alembic gets a live
connection from the registry's engine (online) or the datasource's dialect
(offline ``--sql``), never a URL string through configparser, so ``%`` in a
password is harmless. SQLite runs in batch mode, so ALTERs work there too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError, NotConfiguredError

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL

    from unifydb.registry import Registry

DATASOURCE_ENV_VAR = "UNIFYDB_MIGRATE_DATASOURCE"
DEFAULT_DIRECTORY = "migrations"


def datasource_name(context: Any) -> str:
    """Which datasource an Alembic run is for."""
    name = (
        context.get_x_argument(as_dictionary=True).get("datasource")
        or os.environ.get(DATASOURCE_ENV_VAR)
        or context.config.get_main_option("unifydb.datasource")
    )
    if not name:
        raise ConfigurationError(
            "no datasource given for the migration",
            key="datasource",
            fix=f"run `alembic -x datasource=NAME ...`, set {DATASOURCE_ENV_VAR}, or use "
            "`unifydb migrate --datasource NAME ...`",
        )
    return str(name)


def run_migrations(
    target_metadata: MetaData | Sequence[MetaData] | None = None,
    *,
    registry: Registry | None = None,
    datasource: str | None = None,
    **configure_options: Any,
) -> None:
    """Run the current Alembic command against a unifydb datasource (call from env.py)."""
    from alembic import context

    from . import dialects  # noqa: F401 - Alembic support for DuckDB and Athena

    if registry is None:
        registry = context.config.attributes.get("unifydb.registry")
    if registry is None:
        from unifydb.registry import default_registry

        registry = default_registry()
    name = datasource or datasource_name(context)
    options: dict[str, Any] = {"target_metadata": target_metadata, "compare_type": True}
    options.update(configure_options)
    if context.is_offline_mode():
        _run_offline(context, registry, name, options)
    else:
        _run_online(context, registry, name, options)


def _run_online(context: Any, registry: Registry, name: str, options: dict[str, Any]) -> None:
    # `unifydb migrate` hands over the connection it holds (the cookbook's name)
    given = context.config.attributes.get("connection")
    if given is not None:
        options.setdefault("render_as_batch", given.dialect.name == "sqlite")
        context.configure(connection=given, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    registry.get_engine(name)  # a datasource that is not SQL fails here, saying so
    datasource = registry.get_datasource(name)
    migrating = datasource.migration_datasource()  # type: ignore[attr-defined]
    try:
        engine = migrating.get_engine()
        options.setdefault("render_as_batch", engine.dialect.name == "sqlite")
        options.setdefault("transaction_per_migration", commits_ddl(engine.dialect.name))
        with engine.connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if migrating is not datasource:
            migrating.close()


def commits_ddl(dialect_name: str) -> bool:
    """Whether the database commits each DDL statement by itself (MySQL, MariaDB,
    Oracle): there, each revision runs in its own transaction, so the version
    table records every revision that completed."""
    return dialect_name in ("mysql", "mariadb", "oracle")


def _run_offline(context: Any, registry: Registry, name: str, options: dict[str, Any]) -> None:
    url = offline_url(registry, name)
    options.setdefault("render_as_batch", url.get_backend_name() == "sqlite")
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **options,
    )
    dialect = context.get_context().dialect
    _plain_inserts(dialect)
    version = context.get_x_argument(as_dictionary=True).get("server_version")
    if version:
        assume_server_version(dialect, version)
    with context.begin_transaction():
        context.run_migrations()


def offline_url(registry: Registry, name: str) -> URL:
    """The datasource's URL for generating SQL; a dialect-only URL when it is not configured.

    Offline SQL needs the dialect only, so a datasource whose variables are not
    set (no server to point at) can still produce its DDL.
    """
    from sqlalchemy.engine import URL

    from unifydb.base import SQLDatasource
    from unifydb.registry import load_type

    try:
        datasource = registry.build(name)
    except NotConfiguredError:
        cls = load_type(registry.type_of(name), datasource=name)
        if not issubclass(cls, SQLDatasource):
            raise
        return URL.create(cls.drivername)
    if not isinstance(datasource, SQLDatasource):
        raise ConfigurationError(
            f"{datasource.type} is not a SQL datasource; Alembic migrates SQL databases only",
            datasource=name,
            fix="pick a relational datasource (postgres, mysql, sqlite, ...)",
        )
    return datasource.url().set(password=None)


def _plain_inserts(dialect: Any) -> None:
    """Make INSERTs in offline scripts plain statements a DBA can run.

    With SQLAlchemy 2.1 the Oracle dialect renders Alembic's version-table
    INSERT as ``... RETURNING ... INTO :ret_0``: a bind parameter no script can
    fill. A script has no use for returned rows, so returning is switched off.
    """
    dialect.insert_returning = False
    dialect.update_returning = False
    dialect.delete_returning = False
    dialect.insert_executemany_returning = False
    dialect.use_insertmanyvalues = False


def assume_server_version(dialect: Any, version: str) -> None:
    """Generate offline SQL for a given server version (``-x server_version=19``).

    Offline there is no server to ask, and dialects then assume their newest
    release: Oracle would emit native BOOLEAN (23ai) and JSON (21c). Flags
    follow what each dialect's ``initialize()`` derives from the version.
    """
    try:
        info = tuple(int(part) for part in version.split("."))
    except ValueError:
        raise ConfigurationError(
            f"server_version {version!r} is not a version number",
            key="server_version",
            fix="pass digits and dots, e.g. -x server_version=19 or 19.3",
        ) from None
    dialect.server_version_info = info
    if dialect.name == "oracle":
        dialect.supports_native_boolean = info >= (23,)
        dialect._supports_oracle_json = info >= (21,)
        dialect.supports_identity_columns = info >= (12,)
