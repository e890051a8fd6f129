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
import re
from typing import Any, ClassVar, Literal
from urllib.parse import unquote_plus

from pydantic import Field, SecretStr, field_validator, model_validator

from unifydb.base import ClientDatasource
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
)
from unifydb.options import BaseOptions

_SCHEMES = ("mongodb://", "mongodb+srv://")
#: client keyword arguments and URL options whose values are credentials
_SENSITIVE_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.IGNORECASE)
#: a '%' that does not start a percent-escape (pymongo rejects those in userinfo)
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: what separates a URL's options (pymongo takes both)
_OPTION_SEPARATOR = re.compile(r"[&;]")
#: MongoDB's error code for a failed SCRAM/X.509/... login
_AUTHENTICATION_FAILED = 18


class MongoDBOptions(BaseOptions):
    url: SecretStr | None = Field(
        None, description="mongodb:// or mongodb+srv:// connection string."
    )
    host: list[str] | None = Field(
        None, description="Host name(s), a list or comma-separated; 'host:port' allowed."
    )
    port: int = Field(27017, ge=1, le=65535, description="Port for hosts given without one.")
    database: str | None = Field(None, description="Default database for .database.")
    username: str | None = None
    password: SecretStr | None = Field(
        None, description="Passed to the client as given: no escaping needed."
    )
    auth_source: str | None = Field(None, description="Database holding the user (often 'admin').")
    auth_mechanism: str | None = Field(
        None, description="E.g. SCRAM-SHA-256 (negotiated when unset)."
    )
    replica_set: str | None = None
    direct_connection: bool | None = Field(
        None, description="Talk to the one host given, not the replica set it advertises."
    )
    tls: bool | None = None
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    tls_allow_invalid_certificates: bool | None = None
    app_name: str | None = Field("unifydb", description="Shown in the server's logs and currentOp.")
    max_pool_size: int | None = Field(None, ge=0)
    min_pool_size: int | None = Field(None, ge=0)
    socket_timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds a single operation may wait on the socket (unset: no limit).",
    )
    client_options: dict[str, Any] = Field(
        default_factory=dict, description="Any other MongoClient keyword argument."
    )

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url")

    @field_validator("host", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("host")
    @classmethod
    def _plain_hosts(cls, value: list[str] | None) -> list[str] | None:
        # pymongo would take an entry with '/' for a whole connection string, and
        # target() would then print whatever credentials it holds
        if value and any("/" in host or "@" in host for host in value):
            raise ValueError("must be host names or host:port; put a connection string in 'url'")
        return value

    @field_validator("url")
    @classmethod
    def _mongodb_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        url = value.get_secret_value()
        if not url.startswith(_SCHEMES):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        # checked here, with a message that names no part of the value: pymongo's
        # own parser would split an unescaped password at its '/' or '?' and could
        # echo a piece of it (e.g. as a bad port number)
        # a URL has one '@' (between credentials and hosts); more means an
        # unescaped one in the password, wherever the parser would split it
        if url.count("@") > 1 or _misplaced_at(url) or _bad_userinfo(url):
            raise ValueError(
                "the username and password in the URL must be percent-escaped "
                "(urllib.parse.quote_plus), or given as the 'username'/'password' keys"
            )
        return value

    @model_validator(mode="after")
    def _url_or_host(self) -> MongoDBOptions:
        if self.url is None and not self.host:
            raise ValueError("give 'url', or 'host' (with port, username, ...)")
        return self

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if self.client_options:
            data["client_options"] = {
                key: "***" if _SENSITIVE_OPTION.search(key) else value
                for key, value in self.client_options.items()
            }
        return data


class MongoDBDatasource(ClientDatasource):
    type_name = "mongodb"
    category = "nosql"
    options_model: ClassVar[type[BaseOptions]] = MongoDBOptions
    extra = "mongodb"
    driver_modules = ("pymongo",)

    @property
    def mongo_options(self) -> MongoDBOptions:
        assert isinstance(self._options, MongoDBOptions)
        return self._options

    def client_arguments(self) -> tuple[Any, dict[str, Any]]:
        """(host argument, keyword arguments) for MongoClient/AsyncMongoClient."""
        options = self.mongo_options
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
            key="url" if self.mongo_options.url is not None else "host",
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
            options = self.mongo_options
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
        name = self.mongo_options.database
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
        options = self.mongo_options
        if options.url is not None:
            return self.redact(_without_credentials(options.url.get_secret_value()))
        hosts = ",".join(
            host if ":" in host else f"{host}:{options.port}" for host in options.host or []
        )
        user = f"{options.username}@" if options.username else ""
        return f"mongodb://{user}{hosts}/{options.database or ''}"

    def secrets(self) -> list[str]:
        values = super().secrets()
        options = self.mongo_options
        if options.url is not None:
            # the base reads URL passwords the way urllib splits URLs; pymongo
            # splits them differently ('#' is not special to it)
            password = _url_password(options.url.get_secret_value())
            if password:
                values += [password, unquote_plus(password)]
            values += _sensitive_url_options(options.url.get_secret_value())
        values += [
            str(value)
            for key, value in options.client_options.items()
            if _SENSITIVE_OPTION.search(key) and value
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


def _split(url: str) -> tuple[str, str | None, str]:
    """(scheme://, userinfo or None, the rest), split the way pymongo splits."""
    scheme = next((scheme for scheme in _SCHEMES if url.startswith(scheme)), "")
    rest = url[len(scheme) :]
    host_and_path, question, query = rest.partition("?")
    host_part, slash, path = host_and_path.partition("/")
    if "@" not in host_part:
        return scheme, None, rest
    userinfo, _, hosts = host_part.rpartition("@")
    return scheme, userinfo, hosts + slash + path + question + query


def _misplaced_at(url: str) -> bool:
    """An '@' after the host part: a password with a raw '/' or '?' in it."""
    _, _, rest = _split(url)
    host_and_path, _, query = rest.partition("?")
    if "@" in host_and_path.partition("/")[2]:
        return True
    return any("@" in piece.partition("=")[0] for piece in _OPTION_SEPARATOR.split(query))


def _bad_userinfo(url: str) -> bool:
    _, userinfo, _ = _split(url)
    return userinfo is not None and (
        "@" in userinfo or userinfo.count(":") > 1 or bool(_BARE_PERCENT.search(userinfo))
    )


def _url_password(url: str) -> str | None:
    _, userinfo, _ = _split(url)
    if userinfo is None or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def _without_credentials(url: str) -> str:
    """The URL with its password and credential-like options replaced by ``***``."""
    scheme, userinfo, rest = _split(url)
    if userinfo is not None:
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:***@{rest}" if ":" in userinfo else f"{user}@{rest}"
    head, question, query = rest.partition("?")
    if query:
        # pymongo accepts ';' between options as well as '&'
        pieces = _OPTION_SEPARATOR.split(query)
        separators = _OPTION_SEPARATOR.findall(query)
        shown = []
        for piece in pieces:
            key, equals, _ = piece.partition("=")
            shown.append(f"{key}=***" if equals and _SENSITIVE_OPTION.search(key) else piece)
        rest = head + question + shown[0]
        for separator, piece in zip(separators, shown[1:], strict=True):
            rest += separator + piece
    return scheme + rest


def _sensitive_url_options(url: str) -> list[str]:
    """Values of credential-like options in the URL's query (raw and decoded)."""
    _, _, rest = _split(url)
    query = rest.partition("?")[2]
    values: list[str] = []
    for piece in _OPTION_SEPARATOR.split(query):
        key, equals, value = piece.partition("=")
        if equals and value and _SENSITIVE_OPTION.search(key):
            values += [value, unquote_plus(value)]
    return values
