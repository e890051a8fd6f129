"""The relational half: a SQLAlchemy engine built from typed options.

The URL is built with ``sqlalchemy.engine.URL.create`` and the engine with
SQLAlchemy's own options. A relational backend declares its options, its
drivername and its URL/connect arguments; everything else is here: a deadline
of our own around every new DBAPI connection (sync and async), connection
failures raised as errors that are both unifydb's and SQLAlchemy's, pooled
pings that can be interrupted, read replicas, and fork safety.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from unifydb.errors import (
    DatasourceConnectionError,
    UnifyDBError,
    UnsupportedOperationError,
)
from unifydb.options import Options, RotatingSecret, ServerSQLOptions, SQLOptions
from unifydb.redaction import sensitive_values
from unifydb.status import HealthStatus

from .datasource import BUILD_LOCK, Datasource
from .replicas import Replicas, replica_options
from .routing import ReplicaRouter
from .sockets import SocketTracker, fileno_of
from .sql_replicas import (
    health_with_replicas,
    parse_replica,
    primary_position,
    replica_state,
    require_lag_measure,
)
from .sql_url import fields_from_url, merge_url, safe_url, url_text

if TYPE_CHECKING:
    from typing import Self

    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLOptionsT = TypeVar("SQLOptionsT", bound=SQLOptions)


class SQLDatasource(Datasource[SQLOptionsT]):
    """A relational datasource: a SQLAlchemy engine built from typed options."""

    #: a subclass without a type parameter (a quick plugin) gets the host-based keys
    options_model: ClassVar[type[Options]] = ServerSQLOptions
    #: ``dialect+driver`` for create_engine
    drivername: ClassVar[str] = ""
    #: ``dialect+driver`` for create_async_engine (None: no async driver)
    async_drivername: ClassVar[str | None] = None
    #: ``"module:attribute.path"`` of the async driver's connect coroutine function,
    #: bounded by ``timeout`` (None: a local database, nothing to bound)
    async_connect_function: ClassVar[str | None] = None
    #: URL schemes a ``url`` setting may use: dialect names and, per dialect, drivers
    url_dialects: ClassVar[frozenset[str]] = frozenset()
    url_drivers: ClassVar[frozenset[str]] = frozenset()
    #: one round trip that returns the server version
    version_sql: ClassVar[str] = "SELECT 1"
    #: one statement returning the seconds this server, a replica, is behind its
    #: primary (NULL: unknown); None when the type cannot tell (no max_replica_lag)
    replica_lag_sql: ClassVar[str | None] = None
    #: on the primary: its log position now, as text (None: not measured)
    primary_position_sql: ClassVar[str | None] = None
    #: on a replica: 0 when it has replayed up to the position given as the one
    #: parameter (``%s``), else its lag as replica_lag_sql measures it
    replica_lag_after_sql: ClassVar[str | None] = None
    #: whether :meth:`replica_state` measures lag without ``replica_lag_sql``
    measures_replica_lag: ClassVar[bool] = False

    def __init__(self, name: str, options: SQLOptionsT | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._sockets = SocketTracker(self.socket_fd)
        self._replicas: Replicas[SQLDatasource[SQLOptionsT]] = Replicas(
            [
                replica_options(
                    self._options, spec, index=index, name=name, parse=self._parse_replica
                )
                for index, spec in enumerate(self._options.replicas, start=1)
            ],
            self._build_replica,
        )
        #: for a datasource with replicas: which one serves a read, and their health
        self._router: ReplicaRouter | None = (
            ReplicaRouter(self, self._replicas) if self._replicas else None
        )
        #: for a replica: its primary's router and its own index there
        self._serving: tuple[ReplicaRouter, int] | None = None
        if self._router is not None:
            require_lag_measure(self)

    @property
    def router(self) -> ReplicaRouter | None:
        """The replica router of a primary with replicas."""
        return self._router

    @property
    def serving(self) -> tuple[ReplicaRouter, int] | None:
        """(the primary's router, this replica's index) of a replica's datasource."""
        return self._serving

    @property
    def sockets(self) -> SocketTracker:
        """The sockets of connections in use, so a stuck call can be interrupted."""
        return self._sockets

    # ------------------------------------------------------------------ settings

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        url = data.pop("url", None)
        if url is None:
            return data
        return merge_url(data, cls.fields_from_url(name, url_text(url)))

    @classmethod
    def fields_from_url(cls, name: str, text: str) -> dict[str, Any]:
        return fields_from_url(
            text,
            name=name,
            type_name=cls.type_name,
            dialects=cls.url_dialects,
            drivers=cls.url_drivers,
            known_keys=cls.options_model.fields(),
            example_scheme=cls.drivername.split("+")[0],
        )

    # ------------------------------------------------------------------ URL and engine

    def url(self) -> URL:
        """The SQLAlchemy URL, built field by field (never by string formatting)."""
        return self._build_url(self.drivername)

    def async_url(self) -> URL:
        if not self.async_drivername:
            raise UnsupportedOperationError(
                f"no async driver is available for type {self.type_name!r}",
                datasource=self._name,
                fix="use get_engine() and run it in a thread, e.g. asyncio.to_thread",
            )
        return self._build_url(self.async_drivername)

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        options = self._options
        return URL.create(
            drivername,
            username=getattr(options, "username", None),
            password=self.url_password(),
            host=getattr(options, "host", None),
            port=getattr(options, "port", None) or self.default_port(),
            database=getattr(options, "database", None),
            query={**self.url_query(), **options.query},
        )

    def url_password(self) -> str | None:
        """The password the engine's URL holds: a fixed one only. One that can
        change (a password file, command, token or secret manager) is left out
        and given to each new connection instead (:meth:`connect_arguments`), so
        the URL never holds a stale secret."""
        password = getattr(self._options, "password", None)
        if password is None or isinstance(password, RotatingSecret):
            return None
        return password.get_secret_value() or None

    def rotating_password(self) -> RotatingSecret | None:
        password = getattr(self._options, "password", None)
        return password if isinstance(password, RotatingSecret) else None

    def connect_arguments(
        self, dialect: Any, cargs: Any, cparams: Any
    ) -> tuple[list[Any], dict[str, Any]]:
        """The DBAPI ``connect()`` arguments of one new connection: SQLAlchemy's,
        with the current password (when it can change) and :meth:`prepare_connect`."""
        from .connect import password_argument

        args, params = list(cargs), dict(cparams)
        secret = self.rotating_password()
        if secret is not None:
            key = password_argument(self, dialect)
            if key is not None:
                params[key] = secret.get_secret_value()
        self.prepare_connect(args, params)
        return args, params

    def default_port(self) -> int | None:
        return None

    def url_query(self) -> dict[str, str]:
        """Hook: driver options that belong in the URL's query string."""
        return {}

    def connect_args(self) -> dict[str, Any]:
        """Hook: keyword arguments for the DBAPI connect(); settings' connect_args win."""
        return {}

    def async_connect_args(self) -> dict[str, Any]:
        return self.connect_args()

    def engine_kwargs(self) -> dict[str, Any]:
        """``create_engine`` keywords from the pool and engine settings."""
        from .pooling import engine_keywords

        return engine_keywords(self._options, datasource=self._name)

    def _target(self) -> str:
        try:
            return safe_url(self.url())
        except UnifyDBError:
            return ""

    def secrets(self) -> list[str]:
        return super().secrets() + sensitive_values(self.url_query())

    def _initialize(self) -> None:
        self._engine = self._create_engine()

    def _create_engine(self) -> Engine:
        from .sql_engines import create_engine_for

        return create_engine_for(self)

    def bound_connects(self) -> bool:
        """Whether every new DBAPI connection is bounded by our own deadline."""
        return True

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        """Hook: adjust the DBAPI connect() arguments SQLAlchemy derived from the URL."""

    def sql_error(
        self,
        action: str,
        error: BaseException | None,
        *,
        timeout: bool = False,
        statement: str | None = None,
        invalidated: bool = False,
    ) -> DatasourceConnectionError:
        """A connection failure as an error that is both a unifydb
        :class:`DatasourceConnectionError` and a SQLAlchemy ``OperationalError``."""
        from .sql_errors import sql_error

        return sql_error(
            self, action, error, timeout=timeout, statement=statement, invalidated=invalidated
        )

    def _connection_failure(self, context: Any) -> BaseException | None:
        """``handle_error``: connection failures become :meth:`sql_error`s."""
        from .sql_errors import connection_failure

        return connection_failure(self, context)

    def socket_fd(self, dbapi_connection: Any) -> int | None:
        """The connection's socket file descriptor, where the driver exposes it."""
        return fileno_of(dbapi_connection)

    def configure_engine(self, engine: Engine) -> None:
        """Hook: add event listeners (SQLite pragmas, session settings)."""

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        """Hook: limit every statement on this new connection to ``milliseconds``
        (0: no limit), the database's own way."""
        raise UnsupportedOperationError(
            f"{self.type_name} has no per-statement timeout",
            datasource=self._name,
            fix="remove statement_timeout from this datasource's settings",
        )

    def get_engine(self) -> Engine:
        """The engine, created once; it connects lazily, on first use."""
        engine = self._engine
        if engine is None:
            self.initialize()
            engine = self._engine
            assert engine is not None
        return engine

    def get_client(self) -> Engine:
        return self.get_engine()

    def get_async_engine(self) -> AsyncEngine:
        """An asyncio engine on the type's async driver, created once."""
        engine = self._async_engine
        if engine is not None:
            return engine
        with self._lock:
            if self._retired:
                raise self.removed_error()
            if self._async_engine is None:
                self.initialize()
                with BUILD_LOCK:
                    self._async_engine = self._create_async_engine()
            return self._async_engine

    def _create_async_engine(self) -> AsyncEngine:
        from .sql_engines import create_async_engine_for

        return create_async_engine_for(self)

    # ------------------------------------------------------------------ migrations

    def migration_datasource(self) -> SQLDatasource[SQLOptionsT]:
        """The datasource Alembic migrations run on: this one, or a twin whose
        options suit schema changes (SQLite without foreign-key enforcement,
        MariaDB in MySQL mode). A twin is closed after the run."""
        return self

    def with_options(self, **changes: Any) -> Self:
        """A new, uninitialized datasource of the same name with ``changes`` to its options."""
        import msgspec

        return type(self)(self._name, msgspec.structs.replace(self._options, **changes))

    # ------------------------------------------------------------------ replicas

    def replica(self) -> SQLDatasource[SQLOptionsT]:
        """Where the next read goes: a usable replica (round-robin or random, per
        ``replica_selection``), else the primary itself (no replicas, none
        usable, or this thread or task wrote within ``primary_reads_after_write``)."""
        router = self._router
        if router is None:
            return self
        return router.choose()

    @property
    def routes_reads(self) -> bool:
        """Whether ordinary sessions send their reads to replicas (``route_reads``)."""
        return self._router is not None and self._options.route_reads

    def replicas(self) -> list[SQLDatasource[SQLOptionsT]]:
        """One datasource per ``replicas`` entry, built on first use."""
        return self._replicas.all()

    def _parse_replica(
        self, name: str, spec: dict[str, Any] | str, inherited: dict[str, Any]
    ) -> Options:
        return parse_replica(self, name, spec, inherited)

    def _build_replica(self, index: int, options: Options) -> SQLDatasource[SQLOptionsT]:
        replica = type(self)(f"{self._name}.replica{index}", options)  # type: ignore[arg-type]
        if self._router is not None and self.bound_connects():
            replica._serving = (self._router, index - 1)
        replica.initialize()
        return replica

    def replica_state(
        self, dbapi_connection: Any, primary_position: str | None = None
    ) -> tuple[str | None, float | None]:
        """The server version and the seconds this server (a replica) is behind its
        primary (None: not known), on a raw DBAPI connection that is left idle;
        ``primary_position`` is what :meth:`primary_position` read on the primary
        just before (a replica that replayed that far is not behind)."""
        return replica_state(self, dbapi_connection, primary_position)

    def primary_position(self, dbapi_connection: Any) -> str | None:
        """Where this server's (a primary's) log is now: ``primary_position_sql``."""
        return primary_position(self, dbapi_connection)

    # ------------------------------------------------------------------ health and lifecycle

    def health_check(self, timeout: float | None = None) -> HealthStatus:
        """The primary's check; with replicas, each replica is checked at the same
        time and listed in ``nodes``, and a replica that is down (or behind
        ``max_replica_lag``) makes an otherwise healthy datasource ``degraded``."""
        router = self._router
        if router is None:
            return super().health_check(timeout)
        return health_with_replicas(self, router, timeout, super().health_check)

    def _probe(self, timeout: float) -> str | None:
        from sqlalchemy import text

        with self.get_engine().connect() as connection:
            dbapi_connection = connection.connection.dbapi_connection
            self.bound_statement(dbapi_connection, timeout)
            version = self._sockets.call(
                dbapi_connection, lambda: connection.execute(text(self.version_sql)).scalar()
            )
        return None if version is None else str(version).splitlines()[0]

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        """Hook: give the probe's statement a driver-side timeout where one exists."""

    def _interrupt_probe(self, worker: threading.Thread) -> None:
        self._sockets.interrupt(worker)

    def _close(self) -> None:
        from .sql_engines import dispose

        if self._router is not None:
            self._router.stop()
        for replica in self._replicas.built():
            replica.close()
        engine, self._engine = self._engine, None
        async_engine, self._async_engine = self._async_engine, None
        dispose(engine, async_engine)

    def _engines_built(self) -> list[Engine]:
        """The sync engines this datasource built (an async engine's sync_engine too)."""
        engines = [self._engine, getattr(self._async_engine, "sync_engine", None)]
        return [engine for engine in engines if engine is not None]

    def _refuse_new_work(self) -> None:
        from .sql_engines import refuse_checkouts

        refuse_checkouts(self._engines_built(), self.removed_error)
        for replica in self._replicas.existing():
            replica.retire()

    def in_use(self) -> bool | None:
        """Whether any pooled connection is checked out (None: a pool that does not count)."""
        from .sql_engines import checked_out

        return checked_out(self.pools() + [p for r in self._replicas.existing() for p in r.pools()])

    def pools(self) -> list[Any]:
        """The pools of the engines built so far (sync, then the async engine's)."""
        return [engine.pool for engine in self._engines_built()]

    def after_fork(self) -> None:
        # the documented pattern: the child keeps the engine but never touches
        # the parent's sockets
        if self._router is not None:
            self._router.after_fork()
        for replica in self._replicas.existing():
            replica.after_fork()
        for engine in (self._engine, self._async_engine):
            if engine is not None:
                sync = getattr(engine, "sync_engine", engine)
                sync.dispose(close=False)
