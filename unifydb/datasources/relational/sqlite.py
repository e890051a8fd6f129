"""SQLite through the standard library's sqlite3 (``sqlite``), async via aiosqlite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from unifydb.base import SQLDatasource
from unifydb.errors import ConfigurationError, DatasourceConnectionError
from unifydb.options import OptionError, SQLOptions, doc

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

MEMORY = ":memory:"


class SQLiteOptions(SQLOptions, kw_only=True, frozen=True):
    database: Annotated[str, doc("File path, or :memory:.")] = MEMORY
    foreign_keys: Annotated[bool, doc("PRAGMA foreign_keys=ON on every connection.")] = True
    journal_mode: Annotated[
        Literal["delete", "truncate", "persist", "memory", "wal", "off"] | None,
        doc("PRAGMA journal_mode; 'wal' lets readers run beside a writer."),
    ] = None
    synchronous: Literal["off", "normal", "full", "extra"] | None = None
    create: Annotated[
        bool,
        doc(
            "false: a missing database file is an error (on connect too), not a new "
            "empty database. A health check never creates one either way."
        ),
    ] = True
    create_dirs: Annotated[
        bool, doc("Create the file's folder when missing, at the first connect.")
    ] = True
    pool_recycle: int | None = None

    def __post_init__(self) -> None:
        if self.statement_timeout:
            raise OptionError(
                "SQLite has no per-statement timeout (its 'timeout' is how long a writer "
                "waits for a lock)",
                "statement_timeout",
            )


class SQLiteDatasource(SQLDatasource[SQLiteOptions]):
    type_name = "sqlite"
    drivername = "sqlite"
    async_drivername = "sqlite+aiosqlite"
    url_dialects = frozenset({"sqlite"})
    url_drivers = frozenset({"pysqlite", "aiosqlite"})
    version_sql = "SELECT sqlite_version()"

    @property
    def in_memory(self) -> bool:
        return self.options.database in ("", MEMORY)

    #: a twin for migrations: DDL inside real transactions (see migration_datasource)
    transactional_ddl = False

    def migration_datasource(self) -> SQLiteDatasource:
        """A twin for Alembic. Without foreign-key enforcement: Alembic alters SQLite
        tables by copying, dropping and renaming them, and with enforcement on,
        dropping the original fails, or deletes the rows that reference it (ON
        DELETE CASCADE); the runner reports what PRAGMA foreign_key_check finds
        afterwards. With DDL inside transactions: Python's sqlite3 sends BEGIN
        only before the first data change, so a failed revision would leave the
        tables it created; SQLAlchemy's documented pysqlite recipe makes every
        statement of a revision part of one transaction."""
        if self.in_memory:
            return self  # a twin would be another database
        twin = self.with_options(foreign_keys=False)
        twin.transactional_ddl = True
        return twin

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        database = None if self.in_memory else self.options.database
        return URL.create(drivername, database=database, query=self.options.query)

    def connect_args(self) -> dict[str, Any]:
        # sqlite3's timeout is how long a writer waits for a lock
        args: dict[str, Any] = {"timeout": self.timeout}
        if self.in_memory:
            args["check_same_thread"] = False
        return args

    def engine_kwargs(self) -> dict[str, Any]:
        kwargs = super().engine_kwargs()
        if self.in_memory:
            from sqlalchemy.pool import StaticPool

            # one connection for everyone, or each would see its own empty database
            kwargs["poolclass"] = StaticPool
            for key in ("pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"):
                kwargs.pop(key, None)
        return kwargs

    def bound_connects(self) -> bool:
        return False  # a local file: lock waits are bounded by sqlite's own timeout

    def path(self) -> Path | None:
        """The database file (None in memory), relative paths against the working directory."""
        return None if self.in_memory else Path(self.options.database).expanduser()

    def _initialize(self) -> None:
        path = self.path()
        if path is not None:
            _check_folder(self.name, path.parent)  # creates nothing: a check must not
        super()._initialize()

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        path = self.path()
        if path is None or path.exists():
            return
        if not self.options.create:
            raise self._not_found(path)
        if self.options.create_dirs and not path.parent.exists():
            reason = None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
                reason = getattr(error, "strerror", None) or type(error).__name__
            if reason is not None:
                raise ConfigurationError(
                    f"cannot create the folder {str(path.parent)!r}: {reason}",
                    datasource=self.name,
                    key="database",
                    fix="check the path, or create the folder and set create_dirs = false",
                )

    def _probe(self, timeout: float) -> str | None:
        path = self.path()
        if path is not None and not path.exists():
            # connecting would create an empty database (and its folder)
            raise self._not_found(path)
        return super()._probe(timeout)

    def _not_found(self, path: Path) -> DatasourceConnectionError:
        where = (
            ""
            if path.is_absolute()
            else f", resolved against the working directory {os.getcwd()!r}"
        )
        return DatasourceConnectionError(
            f"database file not found: {str(path)!r}{where}",
            datasource=self.name,
            key="database",
            fix="check the path (or run from the directory it is relative to); a first "
            "connect creates the file unless create = false",
        )

    def configure_engine(self, engine: Engine) -> None:
        from sqlalchemy import event

        if self.transactional_ddl:

            def no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None

            def begin(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN")

            event.listen(engine, "connect", no_implicit_transactions)
            event.listen(engine, "begin", begin)
        pragmas = []
        options = self.options
        if options.foreign_keys:
            pragmas.append("PRAGMA foreign_keys=ON")
        if options.journal_mode:
            pragmas.append(f"PRAGMA journal_mode={options.journal_mode.upper()}")
        if options.synchronous:
            pragmas.append(f"PRAGMA synchronous={options.synchronous.upper()}")
        if not pragmas:
            return

        def apply_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                for pragma in pragmas:
                    cursor.execute(pragma)
            finally:
                cursor.close()

        event.listen(engine, "connect", apply_pragmas)

    def _target(self) -> str:
        return f"sqlite:///{self.options.database}" if not self.in_memory else "sqlite://"


def _check_folder(name: str, folder: Path) -> None:
    """Refuse a database path whose folder cannot exist (its nearest existing
    ancestor is a file or a device), without creating anything."""
    existing = folder
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        usable = existing.is_dir()
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        usable = False
    if not usable:
        raise ConfigurationError(
            f"cannot create the folder {str(folder)!r}: {str(existing)!r} is not a directory",
            datasource=name,
            key="database",
            fix="check the path of the database file",
        )
