"""The base every datasource implementation builds on.

The seed's interface is kept: ``initialize()``, ``get_client()``,
``health_check()``, ``close()`` and the ``datasource_name``, ``config`` and
``logger`` properties. Everything a backend would otherwise repeat lives here:
reading settings into typed options (placeholders, ``*_file`` secrets),
checking that the driver is installed, bounding health checks with a
deadline, and keeping secrets out of every message.

A backend names its options model once, as the type parameter
(``class PostgresDatasource(SQLDatasource[PostgresOptions])``), and gets
``self.options`` typed as that model; its category, pip extra and driver
modules come from :mod:`unifydb.catalog`.
"""

from __future__ import annotations

import logging
import threading
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from unifydb.catalog import BUILTIN, Category, TypeInfo
from unifydb.drivers import missing_modules
from unifydb.errors import (
    DatasourceConnectionError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
    UnsupportedOperationError,
)
from unifydb.options import Options, OptionsT, parse_options
from unifydb.redaction import redact
from unifydb.settings import URL_FIELDS
from unifydb.status import HealthStatus
from unifydb.telemetry import DatasourceMetrics

from .drivers import driver_missing, import_driver
from .ingest import resolve_entry, split_application_keys
from .retirement import Retirement
from .secret_files import read_secret_files
from .secrets import is_timeout_error, option_secrets

if TYPE_CHECKING:
    from typing import Self

    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

#: Building engines and clients imports driver and dialect modules. SQLAlchemy's
#: dialect loader is not safe when two threads import the same dialect package
#: at once ("cannot access submodule 'mysql' of module 'sqlalchemy.dialects'"),
#: so building is serialized; it is local work and never waits on a network.
BUILD_LOCK = threading.RLock()

#: the limit of the health check running in this thread, if any
probe_limit = threading.local()


class Datasource(Retirement, ABC, Generic[OptionsT]):
    """One named datasource: its validated options and, once asked for, its client."""

    #: the ``type`` this implementation answers to
    type_name: ClassVar[str] = ""
    #: what the catalog says about the type (built-ins); plugins may set their own
    type_info: ClassVar[TypeInfo | None] = None
    category: ClassVar[Category] = "relational"
    #: ``pip install 'unifydb[<extra>]'`` installs the driver
    extra: ClassVar[str | None] = None
    #: importable modules the default driver consists of (checked before first use)
    driver_modules: ClassVar[tuple[str, ...]] = ()
    #: the options model: the class's type parameter
    options_model: ClassVar[type[Options]] = Options

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            for argument in typing.get_args(base):
                if isinstance(argument, type) and issubclass(argument, Options):
                    cls.options_model = argument
        info = cls.__dict__.get("type_info") or BUILTIN.get(cls.__dict__.get("type_name", ""))
        if info is not None:
            cls.type_info = info
            for attribute, value in (
                ("category", info.category),
                ("extra", info.extra),
                ("driver_modules", info.drivers),
            ):
                if attribute not in cls.__dict__:
                    setattr(cls, attribute, value)

    def __init__(self, name: str, options: OptionsT | Mapping[str, Any] | None = None) -> None:
        if options is None or isinstance(options, Mapping):
            options = typing.cast(
                OptionsT,
                parse_options(
                    self.options_model,
                    dict(options or {}),
                    datasource=name,
                    type_name=self.type_name,
                ),
            )
        from .credentials import attach_credentials

        self._name = name
        self._options: OptionsT = typing.cast(
            OptionsT, attach_credentials(options, datasource=name, type_name=self.type_name)
        )
        self._application: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._initialized = False
        #: removed or replaced at runtime: hands out nothing new, ever
        self._retired = False
        #: connects, connect failures and the last health check (``unifydb serve``)
        self.metrics = DatasourceMetrics()
        self._logger = logging.getLogger(f"unifydb.datasources.{name}")

    # ------------------------------------------------------------------ building

    @classmethod
    def from_settings(
        cls, name: str, entry: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Self:
        """Build from one raw settings entry: placeholders (from ``environ``, default
        the process's environment), secret files, then typed options; the
        application's own keys are kept aside (:attr:`settings`)."""
        own, application = split_application_keys(
            name, entry, cls.options_model.application_keys, environ
        )
        options = cls.options_from_settings(name, own, environ)
        datasource = cls(name, typing.cast(OptionsT, options))
        datasource._application = application
        return datasource

    @classmethod
    def url_fields(cls) -> frozenset[str]:
        """The keys a ``url`` setting stands for (their unset placeholders are fine
        when a URL is given)."""
        return cls.type_info.url_fields if cls.type_info is not None else URL_FIELDS

    @classmethod
    def options_from_settings(
        cls, name: str, entry: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Options:
        """The typed options of one raw settings entry (placeholders resolved,
        ``*_file`` secrets read, the URL split), or a unifydb error naming the key."""
        secret_fields = cls.options_model.secret_fields
        resolved = resolve_entry(name, entry, cls.url_fields(), environ, secret_fields)
        resolved = read_secret_files(name, cls.options_model.secret_fields, resolved)
        resolved = cls.prepare_settings(name, resolved)
        return parse_options(cls.options_model, resolved, datasource=name, type_name=cls.type_name)

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
    def options(self) -> OptionsT:
        """The validated, typed options; their repr hides secrets."""
        return self._options

    @property
    def settings(self) -> Mapping[str, Any]:
        """The application's own keys of this entry (unifydb does not use them): the
        ones its type declares, such as ORBIT's ``apikey_collection``, and those
        listed in ``application_keys``."""
        return types.MappingProxyType(self._application)

    @property
    def config(self) -> OptionsT:
        """The seed's name for :attr:`options`."""
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
        from unifydb.redaction import mask_credentials

        return mask_credentials(self._target())

    def _target(self) -> str:
        """Hook: where this datasource points (backends leave passwords out)."""
        return ""

    def in_process_store(self) -> Path | None:
        """The file or folder an embedded server opens inside this process, if any.

        Datasources naming the same one share it within a process; two
        processes must not open it at once (``unifydb check`` checks them in
        one worker).
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
        libpq ``password=``) and values under credential-like keys count.
        """
        return option_secrets(self._options)

    def redact(self, text: str) -> str:
        """``text`` with this datasource's secrets masked (see :mod:`unifydb.redaction`)."""
        return redact(text, self.secrets())

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """A unifydb error for a driver failure, scrubbed of secrets; a driver's
        own timeout becomes :class:`DatasourceTimeoutError` (health status "timeout")."""
        from .checking import connection_error

        return connection_error(self, action, error)

    def timeout_error(
        self, action: str, error: BaseException | None = None
    ) -> DatasourceTimeoutError:
        from .checking import timeout_error

        return timeout_error(self, action, error)

    def is_timeout(self, error: BaseException) -> bool:
        """Whether a driver error means "no answer in time". Backends add their own kinds."""
        return is_timeout_error(error)

    def is_authentication_failure(self, error: BaseException) -> bool:
        """Whether a driver error means "login rejected" (never retried blindly:
        once, after resolving the credentials again). Backends add their own kinds."""
        from .retry import is_authentication_failure

        return is_authentication_failure(error)

    def is_transient_failure(self, error: BaseException) -> bool:
        """Whether a failed connect may succeed when tried again (refused,
        unreachable, starting up), so ``connect_retries`` applies."""
        from .retry import is_transient_failure

        return is_transient_failure(error)

    def refresh_credentials(self) -> bool:
        """Resolve every rotating secret again (re-read files, re-run
        ``password_command``, new tokens); whether there was any."""
        from .credentials import refresh_all, rotating_secrets

        return refresh_all(rotating_secrets(self._options))

    # ------------------------------------------------------------------ lifecycle

    def require_driver(self) -> None:
        """Raise :class:`DriverNotInstalledError` naming the extra when a driver is missing."""
        missing = missing_modules(self.required_modules())
        if missing:
            raise self.driver_missing(missing[0])

    def driver_missing(self, module: str) -> DriverNotInstalledError:
        return driver_missing(self._name, self.type_name, self.extra, self.type_info, module)

    def required_modules(self) -> tuple[str, ...]:
        """The driver modules this datasource needs (its settings may pick a variant)."""
        if self.type_info is not None and self.type_info.variant is not None:
            return self.type_info.driver_modules(self._options.to_dict())
        return self.driver_modules

    def _import_driver(self) -> None:
        # imports take seconds for some drivers (chromadb, pymilvus): done here,
        # they never eat into the deadline of a connect or a health check
        import_driver(self._name, self.type_name, self.extra, self.required_modules())

    def initialize(self) -> None:
        """Check the driver and build what does not need a connection. Safe to call twice."""
        if self._initialized:
            return
        with self._lock:
            if self._retired:
                raise self.removed_error()
            if self._initialized:
                return
            self.require_driver()
            with BUILD_LOCK:
                self._import_driver()
                self._initialize()
            self._initialized = True
            self._logger.debug("initialized %r", self)

    def _initialize(self) -> None:
        """Hook: build engines/clients that do not connect yet."""

    @abstractmethod
    def get_client(self) -> Any:
        """The native client (an Engine for SQL datasources)."""

    def health_check(self, timeout: float | None = None) -> HealthStatus:
        """Contact the server, bounded by ``timeout`` (default: the datasource's).

        Never raises for an unhealthy server: the status says what happened, and
        ``status.raise_for_status()`` raises the unifydb error behind it.
        """
        from .checking import run_health_check

        return run_health_check(self, timeout)

    @abstractmethod
    def _probe(self, timeout: float) -> str | None:
        """Talk to the server once; return its version if known.

        Runs under a deadline of ``timeout`` seconds; drivers' own timeouts can
        be set from it so their (more precise) errors arrive first.
        """

    def _probe_within(self, limit: float) -> str | None:
        # a connect started by the probe (get_client) gets no more than the check's limit
        probe_limit.seconds = limit
        try:
            return self._probe(limit)
        finally:
            probe_limit.seconds = None

    def _interrupt_probe(self, worker: threading.Thread) -> None:
        """Hook: unblock a probe that overran its deadline (e.g. shut its socket down)."""

    def close(self) -> None:
        """Release pools and clients. Safe to call twice; the datasource can be used again."""
        with self._lock:
            if self._initialized:
                self._close()
                self._initialized = False
                self._logger.debug("closed %s", self._name)

    def _close(self) -> None:
        """Hook: release what ``_initialize``/``get_client`` built."""

    def timed_connect(self, connect: Callable[[], T]) -> T:
        """``connect()``, counted in :attr:`metrics` (and traced when instrumented)."""
        from .checking import timed_connect

        return timed_connect(self, connect)

    def after_fork(self) -> None:
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

    def replica(self) -> Datasource[Any]:
        """Where reads may go: a replica when the datasource has them, else itself."""
        return self

    def vectors(self) -> Any:
        """The unified vector API; only vector datasources have one."""
        raise UnsupportedOperationError(
            f"{self.type_name} is not a vector datasource",
            datasource=self._name,
            fix="use a datasource of a vector type (chroma, milvus, qdrant, pgvector, pinecone)",
        )

    def async_vectors(self) -> Any:
        """The asyncio twin of :meth:`vectors`; only vector datasources have one."""
        return self.vectors().as_async()
