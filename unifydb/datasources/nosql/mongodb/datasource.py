"""MongoDB through pymongo: ``MongoClient`` (and ``AsyncMongoClient`` for asyncio).

Give a ``url`` (``mongodb://`` or ``mongodb+srv://``), or fields. Credentials
given as fields are passed to the client as keyword arguments, never pasted
into a URL, so ``@ : / ? # %`` in a password need no escaping; inside a ``url``
they must be percent-escaped as usual (``urllib.parse.quote_plus``). Server
selection and connecting are bounded by ``timeout`` by default.

Health checks report ``timeout`` whenever no server answered in time, whether
the server hangs or refuses connections: pymongo never fails fast on a refused
connection (server selection keeps retrying until its timeout), so a closed
port and a silent one can only be told apart by the reason in the detail.
"""

from __future__ import annotations

import math
from typing import Any, Literal
from urllib.parse import unquote_plus

from unifydb.base import ClientDatasource
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
)

from .options import MongoDBOptions
from .urls import SENSITIVE_OPTION, sensitive_url_options, url_password, without_credentials

#: MongoDB's error code for a failed SCRAM/X.509/... login
_AUTHENTICATION_FAILED = 18


class MongoDBDatasource(ClientDatasource[MongoDBOptions]):
    type_name = "mongodb"

    def client_arguments(self) -> tuple[Any, dict[str, Any]]:
        """(host argument, keyword arguments) for MongoClient/AsyncMongoClient."""
        options = self.options
        milliseconds = max(1, math.ceil(self.timeout * 1000))
        kwargs: dict[str, Any] = {
            "serverSelectionTimeoutMS": milliseconds,
            "connectTimeoutMS": milliseconds,
        }
        if options.socket_timeout is not None:
            kwargs["socketTimeoutMS"] = math.ceil(options.socket_timeout * 1000)
        for key, argument in (
            ("username", "username"),
            ("auth_source", "authSource"),
            ("auth_mechanism", "authMechanism"),
            ("replica_set", "replicaSet"),
            ("direct_connection", "directConnection"),
            ("tls", "tls"),
            ("tls_ca_file", "tlsCAFile"),
            ("tls_certificate_key_file", "tlsCertificateKeyFile"),
            ("tls_allow_invalid_certificates", "tlsAllowInvalidCertificates"),
            ("app_name", "appname"),
            ("max_pool_size", "maxPoolSize"),
            ("min_pool_size", "minPoolSize"),
            ("retry_writes", "retryWrites"),
            ("w", "w"),
            ("wait_queue_timeout_ms", "waitQueueTimeoutMS"),
            ("server_selection_timeout_ms", "serverSelectionTimeoutMS"),
        ):
            value = getattr(options, key)
            if value is not None:
                kwargs[argument] = value
        if options.password is not None:
            kwargs["password"] = options.password.get_secret_value()
        kwargs.update(options.client_options)
        if options.url is not None:
            host: Any = options.url.get_secret_value()
        else:
            host = list(options.host or [])
            kwargs["port"] = options.port
        return host, kwargs

    def _connect(self) -> Any:
        from pymongo import MongoClient

        host, kwargs = self.client_arguments()
        try:
            # does not wait for a server: pymongo connects in the background. A
            # mongodb+srv:// URL is resolved here, though (a DNS query, under
            # the connect deadline).
            return MongoClient(host, **kwargs)
        except Exception as error:
            raise self._construction_error(error) from None

    async def get_async_client(self) -> Any:
        """A new ``AsyncMongoClient`` with the same settings; the caller closes it.

        Not cached: an AsyncMongoClient belongs to the event loop that first uses it.
        """
        import asyncio

        # importing pymongo's async client takes a while: not on the event loop
        await asyncio.to_thread(self._import_async_client)
        from pymongo import AsyncMongoClient

        host, kwargs = self.client_arguments()
        try:
            return AsyncMongoClient(host, **kwargs)
        except Exception as error:
            raise self._construction_error(error) from None

    def _import_async_client(self) -> None:
        self.initialize()
        import pymongo.asynchronous.mongo_client  # noqa: F401

    def _construction_error(self, error: Exception) -> Exception:
        """What building a client failed with: bad settings, or a failed SRV lookup."""
        from pymongo.errors import ConfigurationError as MongoConfigurationError
        from pymongo.errors import InvalidURI

        if not isinstance(error, (InvalidURI, MongoConfigurationError, ValueError, TypeError)):
            return self.connection_error("connect", error)
        dns_failure = _dns_failure(error)
        if dns_failure == "timeout":
            # dnspython gives up after connectTimeoutMS, as the connect deadline
            # does: either way the status is "timeout"
            return DatasourceTimeoutError(
                self.redact(f"DNS lookup of the mongodb+srv:// host timed out: {error}"),
                datasource=self.name,
                key="timeout",
                fix="check that DNS resolves from this machine, "
                "or raise this datasource's 'timeout' setting",
            )
        if dns_failure:
            # the URL may well be right: resolving it failed (NXDOMAIN, no network, ...)
            return DatasourceConnectionError(
                self.redact(f"DNS lookup of the mongodb+srv:// host failed: {error}"),
                datasource=self.name,
                key="url",
                fix="check the host name in the URL and that DNS (SRV and TXT records) "
                "resolves from this machine",
            )
        return ConfigurationError(
            self.redact(str(error)),
            datasource=self.name,
            key="url" if self.options.url is not None else "host",
            fix="check the MongoDB connection settings (see the README's mongodb keys)",
        )

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """pymongo's timeouts become status "timeout", failed logins say so plainly."""
        from pymongo.errors import OperationFailure, PyMongoError

        if isinstance(error, PyMongoError) and error.timeout:
            return DatasourceTimeoutError(
                self.redact(f"{action}: no server answered in time: {_short(error)}"),
                datasource=self.name,
                key="timeout",
                fix="check that the server is running and reachable on that host and port, "
                "or raise this datasource's 'timeout' setting",
            )
        if isinstance(error, OperationFailure) and error.code == _AUTHENTICATION_FAILED:
            options = self.options
            user = f" as {options.username!r}" if options.username else ""
            source = f" (auth_source {options.auth_source!r})" if options.auth_source else ""
            in_url = options.password is None and options.url is not None
            return DatasourceConnectionError(
                self.redact(f"{action} failed: authentication{user}{source} failed"),
                datasource=self.name,
                key="url" if in_url else "password",
                fix="check username, password and auth_source (the database holding the user)",
            )
        return super().connection_error(action, error)

    @property
    def database(self) -> Any:
        """The configured database (``database`` key, else the URL's default)."""
        from pymongo.errors import ConfigurationError as MongoConfigurationError

        client = self.get_client()
        name = self.options.database
        if name:
            return client[name]
        try:
            return client.get_default_database()
        except MongoConfigurationError:
            raise ConfigurationError(
                "no database is configured",
                datasource=self.name,
                key="database",
                fix="set 'database', or end the url with /<database>",
            ) from None

    def _probe(self, timeout: float) -> str | None:
        import pymongo
        from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

        client = self.get_client()
        try:
            # pymongo checks its server-selection timeout only every half second
            # or so; a budget below the deadline lets its own error (which says
            # why: "Connection refused", "timed out") arrive before unifydb's
            # generic one
            with pymongo.timeout(_selection_budget(timeout)):
                client.admin.command("ping")
        except ServerSelectionTimeoutError:
            # A server that rejected the login stays "Unknown" until its next
            # heartbeat, so from the second attempt on pymongo reports a
            # selection timeout; the real reason is kept in the topology.
            for server in client.topology_description.server_descriptions().values():
                if isinstance(server.error, OperationFailure):
                    raise self.connection_error("health check", server.error) from None
            raise
        try:
            version = client.admin.command("buildInfo").get("version")
        except Exception:  # some MongoDB-compatible servers do not implement buildInfo
            return None
        return str(version) if version else None

    def _target(self) -> str:
        options = self.options
        if options.url is not None:
            return self.redact(without_credentials(options.url.get_secret_value()))
        hosts = ",".join(
            host if ":" in host else f"{host}:{options.port}" for host in options.host or []
        )
        user = f"{options.username}@" if options.username else ""
        return f"mongodb://{user}{hosts}/{options.database or ''}"

    def secrets(self) -> list[str]:
        values = super().secrets()
        options = self.options
        if options.url is not None:
            # the base reads URL passwords the way urllib splits URLs; pymongo
            # splits them differently ('#' is not special to it)
            password = url_password(options.url.get_secret_value())
            if password:
                values += [password, unquote_plus(password)]
            values += sensitive_url_options(options.url.get_secret_value())
        values += [
            str(value)
            for key, value in options.client_options.items()
            if SENSITIVE_OPTION.search(key) and value
        ]
        return values


def _selection_budget(timeout: float) -> float:
    return timeout - min(0.6, timeout / 2)


def _short(error: BaseException) -> str:
    # ServerSelectionTimeoutError appends the whole topology description
    return str(error).split(", Timeout: ", 1)[0]


def _dns_failure(error: BaseException) -> Literal["timeout", "failed"] | None:
    """Whether pymongo's error stands for a failed SRV/TXT lookup (and how it failed)."""
    try:
        from dns.exception import DNSException, Timeout
    except ImportError:  # dnspython is only needed for mongodb+srv://
        return None
    if isinstance(error.__cause__, Timeout):
        return "timeout"
    return "failed" if isinstance(error.__cause__, DNSException) else None
