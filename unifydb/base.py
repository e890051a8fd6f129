"""The base every datasource implementation builds on.

The seed's interface is kept: ``initialize()``, ``get_client()``,
``health_check()``, ``close()`` and the ``datasource_name``, ``config`` and
``logger`` properties. Everything a backend would otherwise repeat lives here:
reading settings into typed options (placeholders, ``*_file`` secrets, unknown
keys), checking that the driver is installed, bounding health checks with a
deadline, and keeping secrets out of every message.

:class:`SQLDatasource` adds the relational half: the URL is built with
``sqlalchemy.engine.URL.create`` and the engine with SQLAlchemy's own options.
A relational backend module only declares its options, its drivername and its
URL/connect arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

from ._deadline import call_with_deadline, checked_timeout
from .errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    UnifyDBError,
    UnsupportedOperationError,
)
from .health import HealthStatus, status_from_error
from .options import (
    NUL_MESSAGE,
    SENSITIVE_KEY,
    BaseOptions,
    ServerSQLOptions,
    SQLOptions,
    check_url_userinfo,
    credentials_in,
    mask_credentials,
    parse_options,
    retype_env_values,
)
from .registry import module_available
from .settings import URL_FIELDS, PlaceholderError, is_covered, resolve_placeholders

if TYPE_CHECKING:
    from typing import Self

    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

Category = Literal["relational", "nosql", "vector"]
T = TypeVar("T")

#: Building engines and clients imports driver and dialect modules. SQLAlchemy's
#: dialect loader is not safe when two threads import the same dialect package
#: at once ("cannot access submodule 'mysql' of module 'sqlalchemy.dialects'"),
#: so building is serialized; it is local work and never waits on a network.
_BUILD_LOCK = threading.RLock()


class Datasource(ABC):
    """One named datasource: its validated options and, once asked for, its client."""

    #: the ``type`` this implementation answers to
    type_name: ClassVar[str] = ""
    category: ClassVar[Category] = "relational"
    options_model: ClassVar[type[BaseOptions]] = BaseOptions
    #: ``pip install 'unifydb[<extra>]'`` installs the driver
    extra: ClassVar[str | None] = None
    #: importable modules the driver consists of (checked before first use)
    driver_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, options: BaseOptions | Mapping[str, Any] | None = None) -> None:
        if options is None or isinstance(options, Mapping):
            options = parse_options(
                self.options_model, dict(options or {}), datasource=name, type_name=self.type_name
            )
        self._name = name
        self._options = options
        self._lock = threading.RLock()
        self._initialized = False
        self._logger = logging.getLogger(f"unifydb.datasources.{name}")

    # ------------------------------------------------------------------ building

    @classmethod
    def from_settings(cls, name: str, entry: Mapping[str, Any]) -> Self:
        """Build from one raw settings entry: placeholders, secret files, then typed options."""
        resolved: dict[str, Any] = {}
        unresolved: dict[str, list[str]] = {}
        for key, raw in entry.items():
            try:
                value, missing = resolve_placeholders(raw)
            except PlaceholderError as error:
                raise ConfigurationError(
                    str(error),
                    datasource=name,
                    key=key,
                    fix="see 'Placeholders' in the README",
                ) from None
            if missing:
                unresolved[key] = missing
            elif value != "":  # an empty value means "not given", so defaults apply
                resolved[key] = value
        for key in list(unresolved):
            if is_covered(key, resolved):
                del unresolved[key]
        if unresolved:
            variables = list(
                dict.fromkeys(var for missing in unresolved.values() for var in missing)
            )
            plural = len(variables) > 1
            raise NotConfiguredError(
                f"not configured: environment variable{'s' if plural else ''} "
                f"{', '.join(variables)} {'are' if plural else 'is'} not set",
                missing=variables,
                datasource=name,
                key=next(iter(unresolved)),
                fix=f"export {variables[0]}=... (an empty value counts as set), "
                "or give the key in settings",
            )
        resolved = cls._read_secret_files(name, resolved)
        resolved = cls.prepare_settings(name, resolved)
        resolved = retype_env_values(cls.options_model, resolved)
        options = parse_options(
            cls.options_model, resolved, datasource=name, type_name=cls.type_name
        )
        return cls(name, options)

    @classmethod
    def _read_secret_files(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        for secret in cls.options_model.secret_fields:
            file_key = f"{secret}_file"
            if file_key not in data:
                continue
            path = Path(str(data.pop(file_key))).expanduser()
            if secret in data:
                raise ConfigurationError(
                    f"both {secret!r} and {file_key!r} are set",
                    datasource=name,
                    key=file_key,
                    fix=f"keep only one of {secret!r} and {file_key!r}",
                )
            text, reason = _read_small_text(path)
            if text is None:
                raise ConfigurationError(
                    f"cannot read the {secret} from {str(path)!r}: {reason}",
                    datasource=name,
                    key=file_key,
                    fix="point it at a readable UTF-8 file holding only the secret",
                )
            # files written by editors and `echo` end in a newline that is not part of
            # the secret; Windows editors may start them with a byte-order mark
            text = text.removeprefix("\ufeff")
            text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
            problem = None
            if "\x00" in text:
                problem = f"the file {str(path)!r} {NUL_MESSAGE}"
            elif not text:
                problem = f"the file {str(path)!r} is empty"
            if problem is not None:
                raise ConfigurationError(
                    problem,
                    datasource=name,
                    key=file_key,
                    fix=f"write the {secret} into the file (a trailing newline is fine), "
                    f"or remove {file_key!r} if there is no {secret}",
                )
            data[secret] = text
        return data

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Hook: reshape resolved settings before validation (e.g. split a ``url``)."""
        return data

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._name

    @property
    def datasource_name(self) -> str:
        return self._name

    @property
    def type(self) -> str:
        return self.type_name

    @property
    def config(self) -> BaseOptions:
        """The validated options; their repr hides secrets."""
        return self._options

    @property
    def options(self) -> BaseOptions:
        return self._options

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    @property
    def timeout(self) -> float:
        return self._options.timeout

    @property
    def initialized(self) -> bool:
        return self._initialized

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} name={self._name!r} type={self.type_name!r} "
            f"target={self.target()!r}>"
        )

    def target(self) -> str:
        """Where this datasource points, safe to print: credentials in it are masked
        whatever the backend's :meth:`_target` built."""
        return mask_credentials(self._target())

    def _target(self) -> str:
        """Hook: where this datasource points (backends leave passwords out)."""
        return ""

    def in_process_store(self) -> Path | None:
        """The file or folder an embedded server opens inside this process, if any.

        Datasources naming the same one share it within a process; two
        processes must not open it at once (``unifydb check`` checks them in
        one child).
        """
        return None

    def describe(self) -> dict[str, Any]:
        """Resolved settings for display: secrets redacted."""
        return {
            "name": self._name,
            "type": self.type_name,
            "category": self.category,
            "target": self.target(),
            "options": self._options.redacted(),
        }

    # ------------------------------------------------------------------ secrets

    def secrets(self) -> list[str]:
        """Every secret value this datasource holds, for scrubbing messages.

        Besides the secret fields, credentials inside free-form strings that a
        driver parses (an ODBC ``PWD=``, an Oracle ``user/password@dsn``, a
        libpq ``password=``) count.
        """
        values: list[str] = []
        for field in self._options.secret_fields:
            value = getattr(self._options, field, None)
            if isinstance(value, SecretStr) and value.get_secret_value():
                secret = value.get_secret_value()
                values.append(secret)
                values.extend(_url_passwords(secret))
        for text in _option_strings(self._options):
            values.extend(credentials_in(text))
            values.extend(_url_passwords(text))
        return values

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``.

        Credentials are hidden where they stand as credentials (a URL's
        password, ``password=...``, ``PWD=...``, ``user/password@``). A secret
        found elsewhere in the text is hidden too when it is distinctive
        (:func:`distinctive`); a short or plain-word password ("failed", the
        user name, "127") is not, because masking every "failed" in a message
        would tell the reader the password.
        """
        text = mask_credentials(text)
        for secret in sorted(set(self.secrets()), key=len, reverse=True):
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                if distinctive(form):
                    text = text.replace(form, "***")
        return text

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """A unifydb error for a driver failure, scrubbed of secrets.

        A driver's own timeout becomes :class:`DatasourceTimeoutError`, so it is
        reported like unifydb's deadline (health status "timeout").
        """
        if self.is_timeout(error):
            return self.timeout_error(action, error)
        message = self.redact(f"{action} failed: {type(error).__name__}: {error}".strip())
        return DatasourceConnectionError(
            message,
            datasource=self._name,
            fix="check host, port, credentials and that the server is running",
        )

    def timeout_error(
        self, action: str, error: BaseException | None = None
    ) -> DatasourceTimeoutError:
        cause = f" ({type(error).__name__})" if error is not None else ""
        return DatasourceTimeoutError(
            self.redact(f"{action} did not finish within {self.timeout:g} s{cause}"),
            datasource=self._name,
            key="timeout",
            fix="check that the server is reachable and answering, "
            "or raise this datasource's 'timeout' setting",
        )

    def is_timeout(self, error: BaseException) -> bool:
        """Whether a driver error means "no answer in time". Backends add their own kinds."""
        return any(
            isinstance(item, TimeoutError) or _TIMEOUT_NAME.search(type(item).__name__)
            for item in error_chain(error)
        )

    # ------------------------------------------------------------------ lifecycle

    def require_driver(self) -> None:
        """Raise :class:`DriverNotInstalledError` naming the extra when a driver is missing."""
        for module in self.required_modules():
            if not module_available(module):
                extra = self.extra or self.type_name
                raise DriverNotInstalledError(
                    f"the Python package providing {module!r} is not installed",
                    extra=extra,
                    datasource=self._name,
                    key="type",
                    fix=f"pip install 'unifydb[{extra}]'",
                )

    def required_modules(self) -> tuple[str, ...]:
        return self.driver_modules

    def _import_driver(self) -> None:
        # imports take seconds for some drivers (chromadb, pymilvus): done here,
        # they never eat into the deadline of a connect or a health check
        for module in self.required_modules():
            try:
                importlib.import_module(module)
            except ImportError as error:
                extra = self.extra or self.type_name
                raise DriverNotInstalledError(
                    f"the Python package providing {module!r} is installed but does not "
                    f"import: {error}",
                    extra=extra,
                    datasource=self._name,
                    key="type",
                    fix=f"reinstall it: pip install --force-reinstall 'unifydb[{extra}]'",
                ) from None

    def initialize(self) -> None:
        """Check the driver and build what does not need a connection. Safe to call twice."""
        if self._initialized:
            return
        with self._lock:
            if self._initialized:
                return
            self.require_driver()
            with _BUILD_LOCK:
                self._import_driver()
                self._initialize()
            self._initialized = True
            self._logger.debug("initialized %r", self)

    def _initialize(self) -> None:  # noqa: B027 - optional hook
        """Hook: build engines/clients that do not connect yet."""

    @abstractmethod
    def get_client(self) -> Any:
        """The native client (an Engine for SQL datasources)."""

    def health_check(self, timeout: float | None = None) -> HealthStatus:
        """Contact the server, bounded by ``timeout`` (default: the datasource's).

        Never raises for an unhealthy server: the status says what happened, and
        ``status.raise_for_status()`` raises the unifydb error behind it.
        """
        checked = checked_timeout(timeout, datasource=self._name)
        limit = self.timeout if checked is None else checked
        started = time.perf_counter()
        try:
            self.initialize()
            version = call_with_deadline(
                lambda: self._probe_within(limit),
                limit,
                datasource=self._name,
                action="health check",
                interrupt=self._interrupt_probe,
            )
        except UnifyDBError as error:
            return self._failed_status(error, started)
        except Exception as error:  # a driver's own exception types vary per backend
            return self._failed_status(self.connection_error("health check", error), started)
        return HealthStatus(
            name=self._name,
            type=self.type_name,
            status="ok",
            latency_ms=(time.perf_counter() - started) * 1000,
            server_version=version,
            detail=self.target(),
        )

    def _failed_status(self, error: UnifyDBError, started: float) -> HealthStatus:
        self._logger.debug("health check of %s failed: %s", self._name, error)
        return status_from_error(
            self._name, self.type_name, error, (time.perf_counter() - started) * 1000
        )

    @abstractmethod
    def _probe(self, timeout: float) -> str | None:
        """Talk to the server once; return its version if known.

        Runs under a deadline of ``timeout`` seconds; drivers' own timeouts can
        be set from it so their (more precise) errors arrive first.
        """

    def _probe_within(self, limit: float) -> str | None:
        # a connect started by the probe (get_client) gets no more than the check's limit
        _probe_limit.seconds = limit
        try:
            return self._probe(limit)
        finally:
            _probe_limit.seconds = None

    def _interrupt_probe(self, worker: threading.Thread) -> None:  # noqa: B027 - optional hook
        """Hook: unblock a probe that overran its deadline (e.g. shut its socket down)."""

    def close(self) -> None:
        """Release pools and clients. Safe to call twice; the datasource can be used again."""
        with self._lock:
            if self._initialized:
                self._close()
                self._initialized = False
                self._logger.debug("closed %s", self._name)

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Hook: release what ``_initialize``/``get_client`` built."""

    def after_fork(self) -> None:  # noqa: B027 - optional hook
        """Hook: called in a child process after ``os.fork()``."""

    async def health_check_async(self, timeout: float | None = None) -> HealthStatus:
        """``health_check()`` for asyncio code: runs in a worker thread, so a hung
        server never blocks the event loop."""
        import asyncio

        return await asyncio.to_thread(self.health_check, timeout)

    # ------------------------------------------------------------------ SQL-only API

    def get_engine(self) -> Engine:
        raise UnsupportedOperationError(
            f"{self.type_name} is not a SQL datasource, so it has no SQLAlchemy engine",
            datasource=self._name,
            fix="use get_client() for its native client",
        )

    def get_async_engine(self) -> AsyncEngine:
        return self.get_engine()  # type: ignore[return-value]

    def replica(self) -> Datasource:
        """Where reads may go: a replica when the datasource has them, else itself."""
        return self

    def vectors(self) -> Any:
        """The unified vector API; only vector datasources have one."""
        raise UnsupportedOperationError(
            f"{self.type_name} is not a vector datasource",
            datasource=self._name,
            fix="use a datasource of type chroma or milvus",
        )


class SQLDatasource(Datasource):
    """A relational datasource: a SQLAlchemy engine built from typed options."""

    category: ClassVar[Category] = "relational"
    options_model: ClassVar[type[BaseOptions]] = ServerSQLOptions
    #: ``dialect+driver`` for create_engine
    drivername: ClassVar[str] = ""
    #: ``dialect+driver`` for create_async_engine (None: no async driver)
    async_drivername: ClassVar[str | None] = None
    async_driver_modules: ClassVar[tuple[str, ...]] = ()
    #: URL schemes a ``url`` setting may use: dialect names and, per dialect, drivers
    url_dialects: ClassVar[frozenset[str]] = frozenset()
    url_drivers: ClassVar[frozenset[str]] = frozenset()
    #: one round trip that returns the server version
    version_sql: ClassVar[str] = "SELECT 1"

    def __init__(self, name: str, options: BaseOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._replicas: list[SQLDatasource] | None = None
        self._replica_turn = itertools.count()
        # validated now, with the primary: a typo in a replica must not wait for
        # the first read-only session to surface
        self._replica_options = [
            self._replica_settings(index, spec)
            for index, spec in enumerate(self.sql_options.replicas, start=1)
        ]
        #: thread id -> socket fd of the connection it is pinging or probing with,
        #: so a health check that overran its deadline can be unblocked. Entries
        #: are removed under the lock before the connection can be closed, so a
        #: recorded fd is never a reused one.
        self._in_use: dict[int, int] = {}
        self._in_use_lock = threading.Lock()

    @property
    def sql_options(self) -> SQLOptions:
        assert isinstance(self._options, SQLOptions)
        return self._options

    # ------------------------------------------------------------------ settings

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        url = data.pop("url", None)
        if url is None:
            return data
        from_url = cls.fields_from_url(
            name, str(url.get_secret_value() if isinstance(url, SecretStr) else url)
        )
        # separate keys win over the URL, so a password can live in password_file
        merged = {**from_url, **data}
        given_query = data.get("query", {})
        if isinstance(given_query, Mapping):  # anything else is the options model's to report
            merged["query"] = {**from_url.get("query", {}), **given_query}
        return merged

    @classmethod
    def fields_from_url(cls, name: str, text: str) -> dict[str, Any]:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        check_url_userinfo(text, datasource=name)
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            # raised below, outside the except block: the parser's error quotes a
            # piece of the URL (and so of an unescaped password)
            url = None
        if url is None:
            raise ConfigurationError(
                "is not a database URL",
                datasource=name,
                key="url",
                fix=f"write it as {cls.drivername.split('+')[0]}://user:password@host:port/"
                "database, with special characters in the password percent-encoded",
            )
        dialect, _, driver = url.drivername.partition("+")
        if dialect not in cls.url_dialects or (driver and driver not in cls.url_drivers):
            raise ConfigurationError(
                f"URL scheme {url.drivername!r} does not match type {cls.type_name!r}",
                datasource=name,
                key="url",
                fix=f"use {' or '.join(sorted(cls.url_dialects))}:// (drivers: "
                f"{', '.join(sorted(cls.url_drivers)) or 'none'}), or change 'type'",
            )
        if any(
            "\x00" in str(part)
            for part in (url.host, url.username, url.password, url.database, *url.query.values())
        ):
            raise ConfigurationError(
                NUL_MESSAGE,
                datasource=name,
                key="url",
                fix="remove the NUL (%00) from the URL",
            )
        fields: dict[str, Any] = {}
        for key, value in (
            ("host", url.host),
            ("port", url.port),
            ("database", url.database),
            ("username", url.username),
            ("password", url.password),
        ):
            if value not in (None, ""):
                fields[key] = value
        known = set(cls.options_model.model_fields)
        query: dict[str, str] = {}
        for key, given in url.query.items():
            text_value = given[-1] if isinstance(given, tuple) else given
            if key in known and key not in URL_FIELDS:
                fields[key] = text_value
            else:
                query[key] = text_value
        if query:
            fields["query"] = query
        return fields

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
        assert isinstance(options, ServerSQLOptions)
        password = options.password.get_secret_value() if options.password else None
        return URL.create(
            drivername,
            username=options.username,
            password=password or None,
            host=options.host,
            port=options.port or self.default_port(),
            database=options.database,
            query={**self.url_query(), **options.query},
        )

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
        options = self.sql_options
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
        if isinstance(kwargs.get("poolclass"), str):
            kwargs["poolclass"] = self._pool_class(kwargs["poolclass"])
        return kwargs

    def _pool_class(self, name: str) -> type[Any]:
        """A pool class named in settings (``"NullPool"``, ``"sqlalchemy.pool.QueuePool"``)."""
        import sqlalchemy.pool

        known = {
            attribute: value
            for attribute in dir(sqlalchemy.pool)
            if isinstance(value := getattr(sqlalchemy.pool, attribute), type)
            and issubclass(value, sqlalchemy.pool.Pool)
            and attribute.endswith("Pool")
            and attribute != "Pool"
        }
        short = name.removeprefix("sqlalchemy.pool.").removeprefix("sqlalchemy.pool.impl.")
        if short in known:
            return known[short]
        raise ConfigurationError(
            f"engine_options.poolclass {name!r} is not a SQLAlchemy pool class",
            datasource=self._name,
            key="engine_options",
            fix=f"use one of {', '.join(sorted(known))}, or set use_connection_pool/pool keys",
        )

    def _target(self) -> str:
        try:
            url = self.url()
        except UnifyDBError:
            return ""
        hidden = {
            key: "***" if SENSITIVE_KEY.search(key) else mask_credentials(str(value))
            for key, value in url.query.items()
            if not isinstance(value, tuple)
        }
        # rendering percent-encodes the parts, which would hide a credential
        # written into one of them from the masking of target()
        url = url.set(
            username=mask_credentials(url.username) if url.username else url.username,
            database=mask_credentials(url.database) if url.database else url.database,
        )
        return url.update_query_dict(hidden).render_as_string(hide_password=True)

    def secrets(self) -> list[str]:
        values = super().secrets()
        for table in (self.sql_options.query, self.sql_options.connect_args, self.url_query()):
            values += [
                str(value)
                for key, value in table.items()
                if SENSITIVE_KEY.search(str(key)) and value not in (None, "")
            ]
        return values

    def _initialize(self) -> None:
        self._engine = self._create_engine()

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError

        url = self.url()
        problem = None
        kwargs = self.engine_kwargs()
        try:
            engine = create_engine(
                url,
                connect_args={**self.connect_args(), **self.sql_options.connect_args},
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
        self.configure_engine(engine)
        self._logger.debug("created engine for %s", engine.url.render_as_string(hide_password=True))
        return engine

    def bound_connects(self) -> bool:
        """Whether every new DBAPI connection is bounded by our own deadline."""
        return True

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        """Hook: adjust the DBAPI connect() arguments SQLAlchemy derived from the URL."""

    def _prepared_connect(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        self.prepare_connect(cargs, cparams)
        return None  # SQLAlchemy connects with the (adjusted) arguments

    def _connect_with_deadline(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        self.prepare_connect(cargs, cparams)
        try:
            return call_with_deadline(
                lambda: dialect.connect(*cargs, **cparams),
                self.timeout,
                datasource=self._name,
                action="connect",
                discard=lambda late: late.close(),
            )
        except DatasourceTimeoutError:
            failure = self.sql_error("connect", None, timeout=True)
        raise failure

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
        from ._sqlerrors import SQLConnectionError, SQLTimeoutError

        if timeout or (error is not None and self.is_timeout(error)):
            cause = f" ({type(error).__name__})" if error is not None else ""
            return SQLTimeoutError(
                self.redact(f"{action} did not finish within {self.timeout:g} s{cause}"),
                orig=error,
                statement=statement,
                connection_invalidated=invalidated,
                datasource=self._name,
                key="timeout",
                fix="check that the server is reachable and answering, "
                "or raise this datasource's 'timeout' setting",
            )
        assert error is not None
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return SQLConnectionError(
            self.redact(f"{action} failed: {type(error).__name__}: {detail}".rstrip(": ")),
            orig=error,
            statement=statement,
            connection_invalidated=invalidated,
            datasource=self._name,
            fix="check host, port, credentials and that the server is running",
        )

    def _connection_failure(self, context: Any) -> BaseException | None:
        """``handle_error``: connection failures become :meth:`sql_error`s."""
        from ._sqlerrors import SQLConnectionError

        original = context.original_exception
        if isinstance(original, SQLConnectionError):
            return None
        if context.connection is not None and not context.is_disconnect:
            return None  # an error in a statement: SQLAlchemy's own, untouched
        action = "connect" if context.connection is None else "query"
        return self.sql_error(
            action,
            original,
            statement=context.statement,
            invalidated=bool(context.is_disconnect),
        )

    def _track_pings(self, engine: Engine) -> None:
        # pool_pre_ping pings a pooled connection before handing it out; against a
        # server that stopped answering that ping blocks, so it is tracked too
        dialect = engine.dialect
        ping = dialect.do_ping

        def tracked_ping(dbapi_connection: Any) -> bool:
            return bool(self._tracked(dbapi_connection, ping, dbapi_connection))

        dialect.do_ping = tracked_ping  # type: ignore[method-assign]

    def _tracked(self, dbapi_connection: Any, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` with the connection's socket recorded for ``_interrupt_probe``.

        On every pooled checkout (pre-ping), so kept to a few dict operations: the
        entry is added without the lock (only this thread writes its key) and
        removed under it, so an interrupt never shuts down a reused descriptor.
        """
        fd = self.socket_fd(dbapi_connection)
        if fd is None:
            return call(*args)
        ident = threading.get_ident()
        self._in_use[ident] = fd
        try:
            return call(*args)
        finally:
            with self._in_use_lock:
                self._in_use.pop(ident, None)

    def socket_fd(self, dbapi_connection: Any) -> int | None:
        """The connection's socket file descriptor, where the driver exposes it."""
        fileno = getattr(dbapi_connection, "fileno", None)
        try:
            return int(fileno()) if fileno is not None else None
        except Exception:  # closed, or a driver that refuses: nothing to interrupt
            return None

    def configure_engine(self, engine: Engine) -> None:
        """Hook: add event listeners (SQLite pragmas, session settings)."""

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
                with _BUILD_LOCK:
                    self._async_engine = self._create_async_engine()
            return self._async_engine

    def _create_async_engine(self) -> AsyncEngine:
        url = self.async_url()
        for module in self.async_driver_modules:
            if not module_available(module):
                raise DriverNotInstalledError(
                    f"the async driver {module!r} is not installed",
                    extra=self.extra,
                    datasource=self._name,
                    key="type",
                    fix=f"pip install 'unifydb[{self.extra or self.type_name}]'",
                )
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(
            url,
            connect_args={**self.async_connect_args(), **self.sql_options.connect_args},
            **self.engine_kwargs(),
        )
        event.listen(engine.sync_engine, "do_connect", self._async_connect_with_deadline)
        event.listen(engine.sync_engine, "handle_error", self._connection_failure)
        self.configure_engine(engine.sync_engine)
        return engine

    #: ``"module:attribute.path"`` of the async driver's connect coroutine function,
    #: bounded by ``timeout`` (None: a local database, nothing to bound)
    async_connect_function: ClassVar[str | None] = None

    def _async_connect_with_deadline(
        self, dialect: Any, connection_record: Any, cargs: Any, cparams: Any
    ) -> Any:
        """Bound the async driver's whole connect (TCP, TLS, handshake, login) by
        ``timeout`` with ``asyncio.wait_for``: the drivers' own connect timeouts
        cover the TCP connect only, so a server that accepts and never answers
        held the event loop's task for minutes."""
        self.prepare_connect(cargs, cparams)
        target = self.async_connect_function
        if target is None or "async_creator_fn" in cparams:
            return None
        module_name, _, path = target.partition(":")
        connect: Any = importlib.import_module(module_name)
        for attribute in path.split("."):
            connect = getattr(connect, attribute)
        timeout = self.timeout

        async def bounded(*args: Any, **kwargs: Any) -> Any:
            import asyncio

            try:
                return await asyncio.wait_for(connect(*args, **kwargs), timeout)
            except asyncio.TimeoutError:
                failure = self.sql_error("connect (asyncio)", None, timeout=True)
            raise failure

        cparams["async_creator_fn"] = bounded
        return None

    # ------------------------------------------------------------------ replicas

    def replica(self) -> SQLDatasource:
        """The next read replica, round-robin; the primary itself when there are none."""
        replicas = self.replicas()
        if not replicas:
            return self
        return replicas[next(self._replica_turn) % len(replicas)]

    def replicas(self) -> list[SQLDatasource]:
        """One datasource per ``replicas`` entry, built on first use."""
        if self._replicas is None:
            with self._lock:
                if self._replicas is None:
                    self._replicas = [
                        self._build_replica(index)
                        for index in range(1, len(self._replica_options) + 1)
                    ]
        return self._replicas

    def _replica_settings(self, index: int, spec: dict[str, Any] | str) -> BaseOptions:
        name = f"{self._name}.replica{index}"
        inherited = self._options.model_dump(exclude_unset=True, exclude={"replicas"})
        try:
            if isinstance(spec, str):
                override = self.fields_from_url(name, spec)
            else:
                override = self.prepare_settings(name, self._read_secret_files(name, dict(spec)))
                override = retype_env_values(self.options_model, override)
            return parse_options(
                self.options_model,
                {**inherited, **override},
                datasource=name,
                type_name=self.type_name,
            )
        except ConfigurationError as error:
            # reported against the datasource the user named, at the replica's key
            problem = ConfigurationError(
                f"replica {index}: {error.message}",
                datasource=self._name,
                key=f"replicas.{index}" + (f".{error.key}" if error.key else ""),
                fix=error.fix,
            )
        raise problem

    def _build_replica(self, index: int) -> SQLDatasource:
        replica: SQLDatasource = type(self)(
            f"{self._name}.replica{index}", self._replica_options[index - 1]
        )
        replica.initialize()
        return replica

    # ------------------------------------------------------------------ health and lifecycle

    def _probe(self, timeout: float) -> str | None:
        from sqlalchemy import text

        with self.get_engine().connect() as connection:
            dbapi_connection = connection.connection.dbapi_connection
            self.bound_statement(dbapi_connection, timeout)
            version = self._tracked(
                dbapi_connection, lambda: connection.execute(text(self.version_sql)).scalar()
            )
        return None if version is None else str(version).splitlines()[0]

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        """Hook: give the probe's statement a driver-side timeout where one exists."""

    def _interrupt_probe(self, worker: threading.Thread) -> None:
        # shutdown() wakes the blocked read; SQLAlchemy then sees a disconnect
        # and the pool drops that connection. Nothing else shares the socket.
        with self._in_use_lock:
            fd = self._in_use.pop(worker.ident or -1, None)
            if fd is not None:
                shutdown_socket(fd)

    def _close(self) -> None:
        replicas, self._replicas = self._replicas or [], None
        for replica in replicas:
            replica.close()
        engine, self._engine = self._engine, None
        async_engine, self._async_engine = self._async_engine, None
        if engine is not None:
            _close_on_checkin(engine.pool)
            engine.dispose()
        if async_engine is not None:
            # an AsyncEngine's pool holds connections bound to an event loop that
            # may be gone by now; dropping them without awaiting is the safe choice
            _close_on_checkin(async_engine.sync_engine.pool)
            async_engine.sync_engine.dispose(close=False)

    def after_fork(self) -> None:
        # the documented pattern: the child keeps the engine but never touches
        # the parent's sockets
        for replica in self._replicas or []:
            replica.after_fork()
        for engine in (self._engine, self._async_engine):
            if engine is not None:
                sync = getattr(engine, "sync_engine", engine)
                sync.dispose(close=False)


#: exception class names drivers use for their own timeouts (httpx.ReadTimeout,
#: pymongo's NetworkTimeout, cassandra's OperationTimedOut, ...)
_TIMEOUT_NAME = re.compile(r"Time(d)?[Oo]ut")


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


#: the limit of the health check running in this thread, if any
_probe_limit = threading.local()

#: a secret file larger than this is not a secret file
_SECRET_FILE_LIMIT = 64 * 1024


def _read_small_text(path: Path) -> tuple[str | None, str]:
    """(text, "") from a small regular UTF-8 file, or (None, why not).

    A FIFO or device (/dev/stdin, /dev/zero) would block or never end.
    """
    try:
        if not path.is_file():
            return None, "not a regular file" if path.exists() else "no such file"
        with path.open("rb") as handle:
            raw = handle.read(_SECRET_FILE_LIMIT + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        return None, getattr(error, "strerror", None) or type(error).__name__
    if len(raw) > _SECRET_FILE_LIMIT:
        return None, f"larger than {_SECRET_FILE_LIMIT // 1024} KiB"
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8"


def shutdown_socket(fd: int) -> None:
    """shutdown() the socket behind ``fd`` (a duplicate is used, so the owner's fd stays valid)."""
    import os
    import socket

    with socket.socket(fileno=os.dup(fd)) as duplicate:
        duplicate.shutdown(socket.SHUT_RDWR)


def _url_passwords(text: str) -> list[str]:
    """The password inside a URL's userinfo, as written and decoded.

    Split at the last "@" the way database drivers do, not with urllib: a raw
    "#", "/" or "?" in a password would make urllib cut the URL short and miss it.
    """
    from urllib.parse import unquote

    _, separator, rest = text.partition("://")
    if not separator or "@" not in rest:
        return []
    forms: set[str] = set()
    # at the last '@' (drivers), and at the first (parsers that stop there)
    for userinfo in {rest[: rest.rfind("@")], rest[: rest.find("@")]}:
        if ":" in userinfo:
            raw = userinfo.split(":", 1)[1]
            forms |= {raw, unquote(raw), unquote(raw.replace("+", " "))}
    return [form for form in forms if form]


def _close_on_checkin(pool: Any) -> None:
    """Connections checked out of a pool being disposed are closed when they
    come back, instead of idling in a pool nobody uses until the garbage
    collector finds it."""
    from sqlalchemy import event

    def close(dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is not None and dbapi_connection is not None:
            connection_record.invalidate()

    event.listen(pool, "checkin", close)


def distinctive(secret: str) -> bool:
    """Whether ``secret`` is unlikely to occur in a message by chance: 8 or more
    characters, not all letters, or 16 or more characters."""
    return len(secret) >= 16 or (len(secret) >= 8 and not secret.isalpha())


def _option_strings(options: BaseOptions) -> Iterator[str]:
    """Every string inside the options (tables and lists included), secrets excluded."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)

    for _field, value in options:
        if not isinstance(value, SecretStr):
            yield from walk(value)


_store_locks: dict[Path, threading.Lock] = {}
_store_locks_guard = threading.Lock()


def _store_lock(store: Path | None) -> threading.Lock | contextlib.nullcontext[None]:
    """One lock per in-process store: chromadb and milvus_lite each keep one
    server per path, and two datasources opening the same path at the same
    moment raced (chromadb: KeyError, Milvus Lite: "Open local milvus failed")."""
    if store is None:
        return contextlib.nullcontext()
    with _store_locks_guard:
        return _store_locks.setdefault(store, threading.Lock())


class ClientDatasource(Datasource):
    """The adapter protocol for NoSQL and vector datasources.

    The parallel path to :class:`SQLDatasource`: ``initialize()`` validates and
    checks the driver without connecting; ``get_client()`` builds the native
    client once, bounded by the datasource's ``timeout``; ``health_check()``
    talks to the server under the same deadline; ``close()`` releases the
    client. A backend implements ``_connect`` (build the client), ``_probe``
    (one round trip, returns the server version) and, where the client needs
    more than ``.close()``, ``_close_client``.
    """

    category: ClassVar[Category] = "nosql"

    def __init__(self, name: str, options: BaseOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._client: Any = None

    def get_client(self) -> Any:
        """The native client, built on first call (connecting, bounded by ``timeout``)."""
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self.initialize()
                with _store_lock(self.in_process_store()):
                    self._client = self._guarded(
                        "connect", self._connect, discard=self._close_client
                    )
            return self._client

    def _guarded(self, action: str, fn: Any, *, discard: Any = None) -> Any:
        """Run ``fn`` under the deadline; driver errors become scrubbed unifydb errors."""
        failure: DatasourceConnectionError | None = None
        limit = getattr(_probe_limit, "seconds", None)
        timeout = self.timeout if limit is None else min(self.timeout, limit)
        try:
            return call_with_deadline(
                fn, timeout, datasource=self._name, action=action, discard=discard
            )
        except UnifyDBError:
            raise
        except Exception as error:
            failure = self.connection_error(action, error)
        # raised outside the except block, so the driver's error (which may quote
        # a secret, e.g. a header value it could not encode) is not kept as context
        raise failure

    @abstractmethod
    def _connect(self) -> Any:
        """Build the native client; may contact the server. Runs under a deadline."""

    def _close_client(self, client: Any) -> None:
        client.close()

    def after_fork(self) -> None:
        # the parent's client owns sockets and driver threads that do not exist
        # (or must not be touched) in the child: forget it, and build anew on use
        self._client = None

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._close_client(client)

    async def get_async_client(self) -> Any:
        """The driver's asyncio client, where it has one."""
        raise UnsupportedOperationError(
            f"the {self.type_name} driver has no asyncio client",
            datasource=self._name,
            fix="use get_client() in a thread (asyncio.to_thread)",
        )
