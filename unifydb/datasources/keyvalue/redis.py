"""Redis through redis-py: ``redis.Redis`` (and ``redis.asyncio.Redis`` for asyncio).

Give a ``url`` (``redis://``, ``rediss://`` for TLS, ``unix://``) or fields; a
URL is split into the fields here, and fields given as well win over its parts
(so the password can live in ``password_file``). Credentials are passed to the
client as keyword arguments, so a password needs no escaping outside a URL.

Connecting and every reply are bounded: ``socket_connect_timeout`` is
``timeout`` and ``socket_timeout`` defaults to it (0: no limit, for blocking
commands and pub/sub). redis-py reconnects by itself after a server restart,
retrying a failed command (``retries`` times, with a backoff of at most a
second), so a command against a server that stopped answering fails after
about ``(retries + 1) x socket_timeout``. A health check
uses a connection of its own, without retries, bounded by the check's limit.

No vector API: Redis's vector search is the RediSearch module (Redis Stack,
or Redis 8), which plain Redis 7 lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from msgspec import Meta

from unifydb.base import ClientDatasource
from unifydb.errors import ConfigurationError, DatasourceConnectionError
from unifydb.options import (
    NUL_MESSAGE,
    NonNegativeInt,
    OptionError,
    Options,
    Port,
    PositiveInt,
    Secret,
    check_url_userinfo,
    doc,
)

_SCHEMES = ("redis", "rediss", "unix")


class RedisOptions(Options, kw_only=True, frozen=True):
    url: Annotated[
        Secret | None,
        doc("redis://[user:password@]host:port/db, rediss:// (TLS) or unix:///path?db=N."),
    ] = None
    host: Annotated[str | None, doc("Server host (or give url, or unix_socket_path).")] = None
    port: Port = 6379
    unix_socket_path: Annotated[str | None, doc("A Unix socket instead of host and port.")] = None
    db: Annotated[NonNegativeInt, doc("Database number.")] = 0
    username: Annotated[str | None, doc("ACL user (Redis 6+); unset: the default user.")] = None
    password: Annotated[Secret | None, doc("requirepass, or the ACL user's password.")] = None
    ssl: Annotated[bool, doc("TLS (rediss://).")] = False
    ssl_ca_certs: Annotated[str | None, doc("CA bundle to verify the server with.")] = None
    ssl_cert_reqs: Annotated[
        Literal["required", "optional", "none"], doc("Whether the server's certificate is checked.")
    ] = "required"
    ssl_check_hostname: bool = True
    max_connections: Annotated[
        PositiveInt | None, doc("Size limit of the connection pool (unset: no limit).")
    ] = None
    socket_timeout: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        doc("Seconds a command waits for its reply (unset: timeout; 0: no limit)."),
    ] = None
    retries: Annotated[
        NonNegativeInt,
        doc("Retries of a command after a connection error or timeout (short backoff)."),
    ] = 3
    decode_responses: Annotated[bool, doc("Return str instead of bytes.")] = False
    client_name: Annotated[str | None, doc("Shown by CLIENT LIST.")] = None
    client_options: Annotated[dict[str, Any], doc("Any other redis.Redis keyword.")] = {}

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url")
    aliases: ClassVar[Mapping[str, str]] = {"use_ssl": "ssl", "pool_size": "max_connections"}
    #: ORBIT's, for its Redis vector store
    application_keys: ClassVar[frozenset[str]] = frozenset(
        {"vector_field", "text_field", "distance_metric", "embedding_provider"}
    )

    def __post_init__(self) -> None:
        if not self.host and not self.unix_socket_path:
            raise OptionError("give 'url', or 'host' (with port, db, password, ...)")
        if self.host and self.unix_socket_path:
            raise OptionError("give host or unix_socket_path, not both", "unix_socket_path")
        if self.host is not None and ("/" in self.host or "@" in self.host):
            raise OptionError("must be a host name or address (a URL goes in 'url')", "host")
        if self.ssl and self.unix_socket_path:
            raise OptionError("TLS is not used over a Unix socket", "ssl")


def fields_from_url(name: str, text: str, known: frozenset[str]) -> dict[str, Any]:
    """The keys a Redis URL stands for (never quoting the URL in an error)."""
    check_url_userinfo(text, datasource=name)
    problem = None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        problem = "is not a Redis URL (a port must be a number)"
    if problem is None and parts.scheme not in _SCHEMES:
        problem = "must start with redis://, rediss:// or unix://"
    if problem is not None:
        raise ConfigurationError(
            problem,
            datasource=name,
            key="url",
            fix="write it as redis://:password@host:6379/0 (rediss:// for TLS), with special "
            "characters in the password percent-encoded",
        )
    fields: dict[str, Any] = {}
    if parts.username:
        fields["username"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    if parts.scheme == "unix":
        fields["unix_socket_path"] = unquote(parts.path)
    else:
        if parts.hostname:
            fields["host"] = unquote(parts.hostname)
        if port:
            fields["port"] = port
        database = unquote(parts.path).strip("/")
        if database:
            fields["db"] = database
        if parts.scheme == "rediss":
            fields["ssl"] = True
    if any("\x00" in str(value) for value in fields.values()):
        raise ConfigurationError(
            NUL_MESSAGE, datasource=name, key="url", fix="remove the NUL (%00) from the URL"
        )
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in known or key in ("url", "password", "client_options"):
            # not quoted: a URL's query is no place for a secret, but may hold one
            raise ConfigurationError(
                "the URL's query has an option the redis type does not know",
                datasource=name,
                key="url",
                fix="use the options of the README's redis table (e.g. ?db=1), "
                "or give the option as a key of its own",
            )
        fields[key] = value
    return fields


class RedisDatasource(ClientDatasource[RedisOptions]):
    type_name = "redis"

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        url = data.pop("url", None)
        if url is None:
            return data
        text = url.get_secret_value() if isinstance(url, Secret) else str(url)
        from_url = fields_from_url(name, text, frozenset(cls.options_model.fields()))
        if "host" in data and "unix_socket_path" in from_url:
            del from_url["unix_socket_path"]
        return {**from_url, **data}

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis`` / ``redis.asyncio.Redis``."""
        options = self.options
        socket_timeout = options.socket_timeout
        kwargs: dict[str, Any] = {
            "db": options.db,
            "socket_connect_timeout": self.timeout,
            "socket_timeout": self.timeout if socket_timeout is None else socket_timeout or None,
            "decode_responses": options.decode_responses,
        }
        if options.unix_socket_path:
            kwargs["unix_socket_path"] = options.unix_socket_path
        else:
            kwargs["host"] = options.host
            kwargs["port"] = options.port
        if options.username:
            kwargs["username"] = options.username
        if options.password is not None:
            kwargs["password"] = options.password.get_secret_value()
        if options.ssl:
            kwargs["ssl"] = True
            kwargs["ssl_cert_reqs"] = options.ssl_cert_reqs
            kwargs["ssl_check_hostname"] = options.ssl_check_hostname
            if options.ssl_ca_certs:
                kwargs["ssl_ca_certs"] = options.ssl_ca_certs
        for key in ("max_connections", "client_name"):
            value = getattr(options, key)
            if value is not None:
                kwargs[key] = value
        kwargs.update(options.client_options)
        return kwargs

    def _retry_argument(self, retry_class: Any) -> dict[str, Any]:
        """``retry=``: redis-py's policy, with a backoff short enough that a failing
        command gives up in about (retries + 1) x socket_timeout."""
        from redis.backoff import ExponentialWithJitterBackoff

        backoff = ExponentialWithJitterBackoff(base=0.05, cap=1.0)
        return {"retry": retry_class(backoff, self.options.retries)}

    def _construct(self, client_class: Any, retry_class: Any) -> Any:
        kwargs = {**self.client_arguments(), **self._retry_argument(retry_class)}
        try:
            return client_class(**kwargs)
        except TypeError as error:  # an unknown keyword in client_options
            problem = self.redact(str(error))
        raise ConfigurationError(
            f"redis-py refused the client options: {problem}",
            datasource=self.name,
            key="client_options",
            fix=f"check client_options against {client_class.__module__}.Redis()",
        )

    def _connect(self) -> Any:
        import redis
        from redis.retry import Retry

        # builds the pool; nothing connects until the first command
        return self._construct(redis.Redis, Retry)

    async def get_async_client(self) -> Any:
        """A new ``redis.asyncio.Redis`` with the same settings; the caller closes it
        (``await client.aclose()``).

        Not cached: an asyncio client belongs to the event loop that uses it.
        """
        import asyncio

        await asyncio.to_thread(self.initialize)  # imports redis: not on the event loop
        import redis.asyncio
        import redis.asyncio.retry

        return self._construct(redis.asyncio.Redis, redis.asyncio.retry.Retry)

    def _probe(self, timeout: float) -> str | None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # one connection of its own, no retries, no longer than the check may take
        kwargs = {
            **self.client_arguments(),
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
            "single_connection_client": True,
        }
        kwargs.pop("max_connections", None)
        client = redis.Redis(**kwargs)
        try:
            info = client.info("server")
        finally:
            client.close()
        version = info.get("redis_version") or info.get("valkey_version")
        return str(version) if version else None

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """Rejected logins name the key to check."""
        from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError

        text = str(error)
        refused_login = isinstance(error, (AuthenticationError, AuthorizationError)) or (
            isinstance(error, ResponseError) and text.startswith(("NOAUTH", "WRONGPASS"))
        )
        if refused_login:
            options = self.options
            key = "password" if options.password is not None else "username"
            return DatasourceConnectionError(
                self.redact(f"{action} failed: the server refused the login: {text}"),
                datasource=self.name,
                key=key,
                fix="check username and password"
                if options.password is not None
                else "the server requires a password: set password (or password_file)",
            )
        return super().connection_error(action, error)

    def _target(self) -> str:
        options = self.options
        user = f"{options.username}@" if options.username else ""
        if options.unix_socket_path:
            return f"unix://{user}{options.unix_socket_path}?db={options.db}"
        scheme = "rediss" if options.ssl else "redis"
        host = f"[{options.host}]" if options.host and ":" in options.host else options.host
        return f"{scheme}://{user}{host}:{options.port}/{options.db}"
