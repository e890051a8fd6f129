"""Elasticsearch through the official client: ``elasticsearch.Elasticsearch``.

``nodes`` (ORBIT's ``node``; a list, or comma-separated) are ``http(s)://host:port``
URLs without credentials; a ``url`` may carry them (``https://user:pass@host:9200``)
and is split into ``nodes``, ``username`` and ``password``. Credentials are
``username``/``password`` (or ORBIT's nested ``auth: {username, password}``),
or an ``api_key``, or Elastic Cloud's ``cloud_id``.

The client's major version must match the server's (elasticsearch-py 9 talks
to Elasticsearch 9 only; for an 8.x cluster install ``elasticsearch<9``). It
does not connect until its first request. Requests are bounded by
``request_timeout`` (default: ``timeout``); a health check asks for the
cluster's info once, without retries, bounded by the check's limit.

No vector API: kNN search needs a running Elasticsearch, and none can run on
the machines this library is tested on, so it could not be verified live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

from unifydb.base import ClientDatasource
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    UnsupportedOperationError,
)
from unifydb.options import (
    NonNegativeInt,
    OptionError,
    Options,
    PositiveFloat,
    Secret,
    check_url_userinfo,
    doc,
    split_list,
)

#: what Elasticsearch refuses in an index name
_NOT_IN_INDEX_NAMES = frozenset(' \\/*?"<>|,#:')
#: the keys ORBIT nests under ``auth:``
AUTH_KEYS = ("username", "password", "api_key", "password_file", "api_key_file")


def _node(value: str) -> str | None:
    """Why ``value`` is no node URL, or None."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return "must be http(s)://host:port URLs (the port a number)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be http(s)://host:port URLs"
    if "@" in parts.netloc:
        return (
            "must not hold credentials: give username and password (or api_key) as keys, "
            "or the whole URL as 'url'"
        )
    return None


class ElasticsearchOptions(Options, kw_only=True, frozen=True):
    nodes: Annotated[
        list[str] | None,
        doc("Node URLs, http(s)://host:9200, a list or comma-separated (ORBIT: node)."),
    ] = None
    url: Annotated[
        Secret | None, doc("One node URL that may hold credentials: https://user:pass@host:9200.")
    ] = None
    cloud_id: Annotated[str | None, doc("Elastic Cloud deployment id, instead of nodes.")] = None
    username: Annotated[str | None, doc("Basic-auth user (ORBIT: auth.username).")] = None
    password: Annotated[Secret | None, doc("Basic-auth password (ORBIT: auth.password).")] = None
    api_key: Annotated[
        Secret | None, doc("API key: the encoded form, or 'id:api_key'; instead of a password.")
    ] = None
    verify_certs: Annotated[bool, doc("Verify the server's TLS certificate.")] = True
    ca_certs: Annotated[str | None, doc("CA bundle to verify the server with.")] = None
    request_timeout: Annotated[
        PositiveFloat | None, doc("Seconds per request (default: timeout).")
    ] = None
    max_retries: Annotated[NonNegativeInt, doc("Retries of a failed request.")] = 3
    retry_on_timeout: Annotated[bool, doc("Retry a request that timed out, too.")] = False
    http_compress: Annotated[bool, doc("gzip request bodies.")] = False
    headers: Annotated[dict[str, str], doc("Extra HTTP headers sent with every request.")] = {}
    client_options: Annotated[
        dict[str, Any], doc("Any other elasticsearch.Elasticsearch keyword.")
    ] = {}
    index_prefix: Annotated[
        str,
        doc(
            "Put before the application's index names by datasource.index_name(name); the "
            "pytest plugin's twin sets it per run (lower case, no '*', ',' or spaces)."
        ),
    ] = ""

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "api_key", "url")
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"nodes": split_list}
    aliases: ClassVar[Mapping[str, str]] = {"node": "nodes"}
    application_keys: ClassVar[frozenset[str]] = frozenset({"embedding_provider"})

    def __post_init__(self) -> None:
        if not self.nodes and not self.cloud_id:
            raise OptionError("give 'node'/'nodes' (or 'url'), or 'cloud_id'", "nodes")
        if self.nodes and self.cloud_id:
            raise OptionError("give nodes or cloud_id, not both", "cloud_id")
        for node in self.nodes or []:
            problem = _node(node)
            if problem is not None:
                raise OptionError(problem, "nodes")
        if self.api_key is not None and (self.username or self.password is not None):
            raise OptionError("give either api_key or username and password, not both", "api_key")
        if self.password is not None and not self.username:
            raise OptionError("needs username as well", "password")
        if self.index_prefix != self.index_prefix.lower() or any(
            character in self.index_prefix for character in _NOT_IN_INDEX_NAMES
        ):
            raise OptionError(
                'must be lower case, without spaces or any of \\ / * ? " < > | , #',
                "index_prefix",
            )


class ElasticsearchDatasource(ClientDatasource[ElasticsearchOptions]):
    type_name = "elasticsearch"

    @classmethod
    def options_from_settings(
        cls, name: str, entry: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Options:
        return super().options_from_settings(name, _flatten_auth(name, entry), environ)

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        url = data.pop("url", None)
        if url is None:
            return data
        text = url.get_secret_value() if isinstance(url, Secret) else str(url)
        check_url_userinfo(text, datasource=name)
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            port, parts = -1, None
        if parts is None or port == -1 or parts.scheme not in ("http", "https"):
            raise ConfigurationError(
                "is not an http(s):// node URL",
                datasource=name,
                key="url",
                fix="write it as https://user:password@host:9200, with special characters in "
                "the password percent-encoded",
            )
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        from_url: dict[str, Any] = {
            "nodes": [urlunsplit((parts.scheme, netloc, parts.path, "", ""))]
        }
        if parts.username:
            from_url["username"] = unquote(parts.username)
        if parts.password:
            from_url["password"] = unquote(parts.password)
        return {**from_url, **data}

    def index_name(self, name: str) -> str:
        """The application's index ``name`` with ``index_prefix`` before it: name
        indexes through this, and a test run's twin keeps its indexes apart."""
        return f"{self.options.index_prefix}{name}"

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch``."""
        options = self.options
        kwargs: dict[str, Any] = {
            "request_timeout": options.request_timeout or self.timeout,
            "max_retries": options.max_retries,
            "retry_on_timeout": options.retry_on_timeout,
            "http_compress": options.http_compress,
            "verify_certs": options.verify_certs,
        }
        if options.nodes:
            kwargs["hosts"] = list(options.nodes)
        if options.cloud_id:
            kwargs["cloud_id"] = options.cloud_id
        if options.ca_certs:
            kwargs["ca_certs"] = options.ca_certs
        if options.headers:
            kwargs["headers"] = dict(options.headers)
        if options.username:
            password = options.password.get_secret_value() if options.password else ""
            kwargs["basic_auth"] = (options.username, password)
        if options.api_key is not None:
            key = options.api_key.get_secret_value()
            # an encoded key is base64, which has no ':'; "id:key" is the pair
            kwargs["api_key"] = tuple(key.split(":", 1)) if ":" in key else key
        kwargs.update(options.client_options)
        return kwargs

    def _connect(self) -> Any:
        from elasticsearch import Elasticsearch

        try:
            return Elasticsearch(**self.client_arguments())  # connects on the first request
        except (TypeError, ValueError) as error:
            problem = self.redact(f"{type(error).__name__}: {error}")
        raise ConfigurationError(
            f"the Elasticsearch client refused the settings: {problem}",
            datasource=self.name,
            key="cloud_id" if self.options.cloud_id else "client_options",
            fix="check cloud_id, nodes and client_options (see the README's elasticsearch keys)",
        )

    def _probe(self, timeout: float) -> str | None:
        client = self.get_client().options(request_timeout=timeout, max_retries=0)
        info = client.info()
        version = info.get("version", {}).get("number")
        return str(version) if version else None

    async def get_async_client(self) -> Any:
        raise UnsupportedOperationError(
            "unifydb does not build AsyncElasticsearch (it needs aiohttp)",
            datasource=self.name,
            fix="build one yourself: AsyncElasticsearch(**datasource.client_arguments()), "
            "or use get_client() in a thread",
        )

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """Rejected credentials, and a server that is not Elasticsearch, say so."""
        from elastic_transport import ConnectionError as TransportConnectionError
        from elasticsearch import AuthenticationException, UnsupportedProductError

        options = self.options
        if isinstance(error, AuthenticationException):
            key = "api_key" if options.api_key is not None else "password"
            return DatasourceConnectionError(
                f"{action} failed: the cluster refused the credentials (HTTP 401)",
                datasource=self.name,
                key=key if (options.api_key is not None or options.username) else "username",
                fix="check username and password (or api_key)"
                if options.api_key is not None or options.username
                else "the cluster requires a login: set username and password, or api_key",
            )
        if isinstance(error, UnsupportedProductError):
            return DatasourceConnectionError(
                f"{action} failed: the server does not say it is Elasticsearch "
                "(no X-Elastic-Product header)",
                datasource=self.name,
                key="nodes",
                fix="point nodes at an Elasticsearch cluster of the client's major version "
                "(OpenSearch needs its own client)",
            )
        if isinstance(error, TransportConnectionError) and not self.is_timeout(error):
            from unifydb.base import error_chain

            underneath = [*error.errors, *list(error_chain(error))[1:]]
            causes = "; ".join(f"{type(cause).__name__}: {cause}" for cause in underneath)
            return DatasourceConnectionError(
                self.redact(f"{action} failed: no answer from the nodes ({causes or error})"),
                datasource=self.name,
                key="nodes",
                fix="check nodes (scheme, host and port) and that Elasticsearch is running",
            )
        return super().connection_error(action, error)

    def _target(self) -> str:
        options = self.options
        user = f" as {options.username}" if options.username else ""
        where = ",".join(options.nodes or []) or f"cloud:{options.cloud_id}"
        return f"elasticsearch {where}{user}"


def _flatten_auth(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """ORBIT's ``auth: {username, password}`` as the top-level keys they stand for."""
    flat = {key: value for key, value in entry.items() if key != "auth"}
    auth = entry.get("auth")
    if auth is None:
        return flat
    if not isinstance(auth, Mapping):
        raise ConfigurationError(
            "must be a table of username and password (or api_key)",
            datasource=name,
            key="auth",
            fix="write auth = {username = '...', password = '...'}",
        )
    for key, value in auth.items():
        if key not in AUTH_KEYS:
            raise ConfigurationError(
                f"unknown key {str(key)!r} in auth",
                datasource=name,
                key=f"auth.{key}",
                fix=f"auth holds {', '.join(AUTH_KEYS)}",
            )
        if key in flat and flat[key] != value:
            raise ConfigurationError(
                f"is given twice, in auth and as '{key}', with different values",
                datasource=name,
                key=f"auth.{key}",
                fix="keep one of them",
            )
        flat[key] = value
    return flat
