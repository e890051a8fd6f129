"""The relational half: a SQLAlchemy engine built from typed options.

The URL is built with ``sqlalchemy.engine.URL.create`` and the engine with
SQLAlchemy's own options. A relational backend declares its options, its
drivername and its URL/connect arguments; everything else is here: a deadline
of our own around every new DBAPI connection (sync and async), connection
failures raised as errors that are both unifydb's and SQLAlchemy's, pooled
pings that can be interrupted, read replicas, and fork safety.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    UnifyDBError,
    UnsupportedOperationError,
)
from unifydb.options import Options, RotatingSecret, ServerSQLOptions, SQLOptions, parse_options
from unifydb.redaction import sensitive_values

from .datasource import BUILD_LOCK, Datasource
from .replicas import Replicas, replica_options
from .sockets import SocketTracker, fileno_of
from .sql_url import fields_from_url, merge_url, safe_url, url_text

if TYPE_CHECKING:
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
        options = self._options
        kwargs: dict[str, Any] = {
            "pool_pre_ping": options.pool_pre_ping,
            "echo": options.echo,
            "echo_pool": options.echo_pool,
            "hide_parameters": False,
        }
        for key in ("pool_size", "max_overflow", "pool_recycle", "pool_timeout", "pool_use_lifo"):
            value = getattr(options, key)
            if value is not None:
                kwargs[key] = value
        if options.isolation_level:
            kwargs["isolation_level"] = options.isolation_level
        kwargs.update(options.engine_options)
        from .pooling import pool_class, pool_kwargs

        if isinstance(kwargs.get("poolclass"), str):
            kwargs["poolclass"] = pool_class(kwargs["poolclass"], datasource=self._name)
        return pool_kwargs(options, kwargs)

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
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError

        problem = None
        kwargs = self.engine_kwargs()
        try:
            engine = create_engine(
                self.url(),
                connect_args={**self.connect_args(), **self._options.connect_args},
                **kwargs,
            )
        except (TypeError, ValueError, ArgumentError) as error:
            problem = self.redact(f"{type(error).__name__}: {error}")
        if problem is not None:
            raise ConfigurationError(
                f"SQLAlchemy refused the engine options: {problem}",
                datasource=self._name,
                key="engine_options",
                fix="check engine_options (and the pool keys) against sqlalchemy.create_engine()",
            )
        if self.bound_connects():
            event.listen(engine, "do_connect", self._connect_with_deadline)
        else:
            event.listen(engine, "do_connect", self._prepared_connect)
        event.listen(engine, "handle_error", self._connection_failure)
        self._track_pings(engine)
        self._configure_connections(engine)
        self.configure_engine(engine)
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("created engine for %s", self.target())
        return engine

    def bound_connects(self) -> bool:
        """Whether every new DBAPI connection is bounded by our own deadline."""
        return True

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        """Hook: adjust the DBAPI connect() arguments SQLAlchemy derived from the URL."""

    def _prepared_connect(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        if not self._options.connect_retries and self.rotating_password() is None:
            self.prepare_connect(cargs, cparams)
            return None  # SQLAlchemy connects with the (adjusted) arguments
        from .retry import with_retries

        def attempt(seconds: float) -> Any:
            args, params = self.connect_arguments(dialect, cargs, cparams)
            return dialect.connect(*args, **params)

        return with_retries(self, attempt)

    def _connect_with_deadline(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        from .connect import connect_with_deadline

        return connect_with_deadline(self, dialect, cargs, cparams)

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

    def _track_pings(self, engine: Engine) -> None:
        # pool_pre_ping pings a pooled connection before handing it out; against a
        # server that stopped answering that ping blocks, so it is tracked too
        dialect = engine.dialect
        ping = dialect.do_ping

        def tracked_ping(dbapi_connection: Any) -> bool:
            return bool(self._sockets.call(dbapi_connection, ping, dbapi_connection))

        dialect.do_ping = tracked_ping  # type: ignore[method-assign]

    def socket_fd(self, dbapi_connection: Any) -> int | None:
        """The connection's socket file descriptor, where the driver exposes it."""
        return fileno_of(dbapi_connection)

    def configure_engine(self, engine: Engine) -> None:
        """Hook: add event listeners (SQLite pragmas, session settings)."""

    def _configure_connections(self, engine: Engine) -> None:
        from sqlalchemy import event

        from .pooling import install_pool_policies

        install_pool_policies(engine, self._options)
        milliseconds = self._options.statement_timeout
        if milliseconds is not None:

            def limit_statements(dbapi_connection: Any, record: Any) -> None:
                self.apply_statement_timeout(dbapi_connection, milliseconds)

            event.listen(engine, "connect", limit_statements)

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
            if self._async_engine is None:
                self.initialize()
                with BUILD_LOCK:
                    self._async_engine = self._create_async_engine()
            return self._async_engine

    def _create_async_engine(self) -> AsyncEngine:
        from unifydb.drivers import missing_modules

        url = self.async_url()
        missing = missing_modules(self.type_info.async_drivers if self.type_info else ())
        if missing:
            raise self.driver_missing(missing[0])
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(
            url,
            connect_args={**self.async_connect_args(), **self._options.connect_args},
            **self.engine_kwargs(),
        )
        event.listen(engine.sync_engine, "do_connect", self._async_connect_with_deadline)
        event.listen(engine.sync_engine, "handle_error", self._connection_failure)
        self._configure_connections(engine.sync_engine)
        self.configure_engine(engine.sync_engine)
        return engine

    def _async_connect_with_deadline(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        from .connect import bound_async_connect

        if not bound_async_connect(self, dialect, cparams):
            # no creator of ours (a local database): SQLAlchemy connects with these
            args, params = self.connect_arguments(dialect, cargs, cparams)
            cargs[:] = args
            cparams.clear()
            cparams.update(params)
        return None  # SQLAlchemy connects, through the bounded creator

    # ------------------------------------------------------------------ replicas

    def replica(self) -> SQLDatasource[SQLOptionsT]:
        """The next read replica, round-robin; the primary itself when there are none."""
        return self._replicas.next() or self

    def replicas(self) -> list[SQLDatasource[SQLOptionsT]]:
        """One datasource per ``replicas`` entry, built on first use."""
        return self._replicas.all()

    def _parse_replica(
        self, name: str, spec: dict[str, Any] | str, inherited: dict[str, Any]
    ) -> Options:
        if isinstance(spec, str):
            override = self.fields_from_url(name, spec)
        else:
            from .secret_files import read_secret_files

            secrets = self.options_model.secret_fields
            override = self.prepare_settings(name, read_secret_files(name, secrets, dict(spec)))
        return parse_options(
            self.options_model, {**inherited, **override}, datasource=name, type_name=self.type_name
        )

    def _build_replica(self, index: int, options: Options) -> SQLDatasource[SQLOptionsT]:
        replica = type(self)(f"{self._name}.replica{index}", options)  # type: ignore[arg-type]
        replica.initialize()
        return replica

    # ------------------------------------------------------------------ health and lifecycle

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
        from .sql_errors import close_on_checkin

        for replica in self._replicas.built():
            replica.close()
        engine, self._engine = self._engine, None
        async_engine, self._async_engine = self._async_engine, None
        if engine is not None:
            close_on_checkin(engine.pool)
            engine.dispose()
        if async_engine is not None:
            # an AsyncEngine's pool holds connections bound to an event loop that
            # may be gone by now; dropping them without awaiting is the safe choice
            close_on_checkin(async_engine.sync_engine.pool)
            async_engine.sync_engine.dispose(close=False)

    def after_fork(self) -> None:
        # the documented pattern: the child keeps the engine but never touches
        # the parent's sockets
        for replica in self._replicas.existing():
            replica.after_fork()
        for engine in (self._engine, self._async_engine):
            if engine is not None:
                sync = getattr(engine, "sync_engine", engine)
                sync.dispose(close=False)
