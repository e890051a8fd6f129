"""DuckDB through duckdb_engine (``duckdb``): a file, or memory, in this process.

``database = ":memory:"`` (the default) is one in-memory database per
datasource that every connection of its pool shares: it is opened under a name
of its own (DuckDB's ``:memory:<name>``) and one connection is kept open for
the datasource's life, so the data lives until ``close()``, not until the pool
happens to close its last connection. (duckdb_engine's own default gives every
thread a database of its own.)

A file is created by the first connect unless ``create = false``; a health
check never creates one. A DuckDB file is opened by one process at a time for
writing (DuckDB locks it); ``read_only = true`` lets several processes read it.
Within one process, every datasource naming the same file must open it with
the same settings (DuckDB keeps one instance per file).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from unifydb.base import SQLDatasource
from unifydb.errors import ConfigurationError, DatasourceConnectionError
from unifydb.options import OptionError, PositiveInt, Secret, SQLOptions, doc, split_list

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

MEMORY = ":memory:"
#: numbers the in-memory databases of this process (their names must differ)
_memory_names = itertools.count(1)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class DuckDBOptions(SQLOptions, kw_only=True, frozen=True):
    database: Annotated[
        str, doc("File path, or :memory: (one database per datasource, shared by its pool).")
    ] = MEMORY
    read_only: Annotated[
        bool, doc("Open the file read-only (several processes may then read it).")
    ] = False
    access_mode: Annotated[
        Literal["automatic", "read_only", "read_write"],
        doc("DuckDB's access_mode; read_only is the same as read_only = true."),
    ] = "automatic"
    threads: Annotated[
        PositiveInt | None, doc("Worker threads per query (DuckDB's default: the CPU count).")
    ] = None
    memory_limit: Annotated[str | None, doc("E.g. '2GB' (DuckDB's default: 80% of RAM).")] = None
    extensions: Annotated[
        list[str],
        doc(
            "Extensions to LOAD on every connection, a list or comma-separated; they must be "
            "installed (INSTALL name) or autoloadable."
        ),
    ] = []
    config: Annotated[
        dict[str, Any], doc("Other DuckDB settings (SET name = value), e.g. {timezone = 'UTC'}.")
    ] = {}
    motherduck_token: Annotated[
        Secret | None, doc("Token for a MotherDuck database (database = 'md:name').")
    ] = None
    create: Annotated[
        bool,
        doc(
            "false: a missing database file is an error (on connect too), not a new empty "
            "database. A health check never creates one either way."
        ),
    ] = True

    secret_fields: ClassVar[tuple[str, ...]] = ("motherduck_token", "url", "password")
    preparers: ClassVar[Mapping[str, Any]] = {
        **SQLOptions.preparers,
        "access_mode": _lower,
        "extensions": split_list,
    }

    def __post_init__(self) -> None:
        if self.statement_timeout:
            raise OptionError("DuckDB has no per-statement timeout", "statement_timeout")
        if self.read_only and self.access_mode == "read_write":
            raise OptionError("read_only = true contradicts access_mode = 'read_write'")
        if self.in_memory and self.opened_read_only:
            raise OptionError("an in-memory database cannot be read-only", "read_only")
        if self.motherduck_token is not None and not self.database.startswith("md:"):
            raise OptionError("is for MotherDuck databases (database = 'md:name')",
                              "motherduck_token")  # fmt: skip
        for extension in self.extensions:
            if not extension.replace("_", "").isalnum():
                raise OptionError("must be extension names (letters, digits, _)", "extensions")

    @property
    def in_memory(self) -> bool:
        return self.database in ("", MEMORY)

    @property
    def opened_read_only(self) -> bool:
        return self.read_only or self.access_mode == "read_only"


class DuckDBDatasource(SQLDatasource[DuckDBOptions]):
    type_name = "duckdb"
    drivername = "duckdb"
    url_dialects = frozenset({"duckdb"})
    url_drivers = frozenset({"duckdb_engine"})
    version_sql = "SELECT version()"

    def __init__(self, name: str, options: DuckDBOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        # the name this datasource's in-memory database has within the process
        self._memory_name = f"{MEMORY}unifydb_{next(_memory_names)}"
        self._keeper: Any = None
        self._keeper_lock = threading.Lock()

    @property
    def in_memory(self) -> bool:
        return self.options.in_memory

    @property
    def remote(self) -> bool:
        """A MotherDuck database, reached over the network."""
        return self.options.database.startswith("md:")

    def path(self) -> Path | None:
        """The database file (None in memory or on MotherDuck)."""
        if self.in_memory or self.remote:
            return None
        return Path(self.options.database).expanduser()

    def in_process_store(self) -> Path | None:
        path = self.path()
        return None if path is None else Path(os.path.abspath(path))

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        database = self._memory_name if self.in_memory else self.options.database
        return URL.create(drivername, database=database, query=self.options.query)

    def connect_args(self) -> dict[str, Any]:
        options = self.options
        config: dict[str, Any] = dict(options.config)
        if options.access_mode != "automatic":
            config["access_mode"] = options.access_mode
        if options.threads is not None:
            config["threads"] = options.threads
        if options.memory_limit is not None:
            config["memory_limit"] = options.memory_limit
        if options.motherduck_token is not None:
            config["motherduck_token"] = options.motherduck_token.get_secret_value()
        args: dict[str, Any] = {"config": config}
        if options.read_only:
            args["read_only"] = True
        if options.extensions:
            args["preload_extensions"] = list(options.extensions)
        return args

    def bound_connects(self) -> bool:
        return self.remote  # a local file or memory: nothing to wait for

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if self.in_memory:
            self._keep_memory_database(cargs, cparams)
            return
        path = self.path()
        if path is None or path.exists():
            return
        if not self.options.create or self.options.opened_read_only:
            raise self._not_found(path)
        _make_folder(self.name, path.parent)

    def _keep_memory_database(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        """Open the one connection that keeps the in-memory database alive.

        It is opened the way the pool's are (by the dialect, with the same
        arguments): DuckDB refuses a second connection to a database with
        other settings.
        """
        with self._keeper_lock:
            if self._keeper is None:
                copied = {
                    key: value.copy() if isinstance(value, (dict, list)) else value
                    for key, value in cparams.items()
                }
                self._keeper = self.get_engine().dialect.connect(*cargs, **copied)

    def _probe(self, timeout: float) -> str | None:
        path = self.path()
        if path is not None and not path.exists():
            raise self._not_found(path)  # connecting would create an empty database
        return super()._probe(timeout)

    def _not_found(self, path: Path) -> DatasourceConnectionError:
        where = (
            ""
            if path.is_absolute()
            else f", resolved against the working directory {os.getcwd()!r}"
        )
        why = " (read-only)" if self.options.opened_read_only else ""
        return DatasourceConnectionError(
            f"database file not found{why}: {str(path)!r}{where}",
            datasource=self.name,
            key="database",
            fix="check the path (or run from the directory it is relative to); a first "
            "connect creates the file unless create = false or the database is read-only",
        )

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            with self._keeper_lock:
                keeper, self._keeper = self._keeper, None
            if keeper is not None:
                keeper.close()

    def after_fork(self) -> None:
        super().after_fork()
        self._keeper = None  # the parent's; the child opens its own database

    def _target(self) -> str:
        if self.in_memory:
            return "duckdb:///:memory:"
        return f"duckdb:///{self.options.database}"


def _make_folder(name: str, folder: Path) -> None:
    if folder.exists():
        return
    reason = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = getattr(error, "strerror", None) or type(error).__name__
    if reason is not None:
        raise ConfigurationError(
            f"cannot create the folder {str(folder)!r}: {reason}",
            datasource=name,
            key="database",
            fix="check the path of the database file, or create its folder",
        )
