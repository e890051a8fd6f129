"""SQLite through the standard library's sqlite3 (``sqlite``), async via aiosqlite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from unifydb.base import SQLDatasource
from unifydb.errors import ConfigurationError
from unifydb.options import SQLOptions, doc

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
    create_dirs: Annotated[bool, doc("Create the file's folder when missing.")] = True
    pool_recycle: int | None = None


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

    def _initialize(self) -> None:
        if not self.in_memory and self.options.create_dirs:
            folder = Path(self.options.database).expanduser().parent
            reason = None
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
                reason = getattr(error, "strerror", None) or type(error).__name__
            if reason is not None:
                raise ConfigurationError(
                    f"cannot create the folder {str(folder)!r}: {reason}",
                    datasource=self.name,
                    key="database",
                    fix="check the path, or create the folder and set create_dirs = false",
                )
        super()._initialize()

    def configure_engine(self, engine: Engine) -> None:
        from sqlalchemy import event

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
