"""Token providers: ``auth = "aws_rds_iam"`` or ``auth = {provider = "...", ...}``.

A provider turns the datasource's host, port and user into a short-lived
token that the driver sends as the password. Built in: ``aws_rds_iam``
(boto3's ``generate_db_auth_token``, signed locally, valid 15 minutes, renewed
after 10) and ``azure_entra`` (azure-identity's ``DefaultAzureCredential``,
renewed 5 minutes before it expires). More come from the ``unifydb.credentials``
entry-point group: a class called with the table's other keys, whose
``token(request)`` returns a string or a :class:`Token`.

A token is a secret everywhere: it is kept only in the rotating password,
scrubbed from every message, and never printed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DriverNotInstalledError,
    UnifyDBError,
)
from unifydb.options import Options

from .sources import CachedSource

ENTRY_POINT_GROUP = "unifydb.credentials"
_PROVIDER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
#: seconds before a token's expiry at which it is renewed
RENEW_MARGIN = 300.0


@dataclass(frozen=True)
class TokenRequest:
    """What a provider knows about the connection it makes a token for."""

    datasource: str
    type_name: str
    host: str | None
    port: int | None
    username: str | None
    database: str | None
    timeout: float


@dataclass(frozen=True)
class Token:
    value: str
    #: seconds since the epoch when it stops working (None: never, as far as we know)
    expires_at: float | None = None


class TokenProvider(Protocol):
    def token(self, request: TokenRequest) -> Token | str: ...


class AwsRdsIam:
    """IAM database authentication for Amazon RDS and Aurora (PostgreSQL, MySQL,
    MariaDB). Options: ``region`` (default: boto3's), ``profile``. The connection
    must use TLS (``sslmode = "require"``, ``ssl_mode = "required"``)."""

    types = frozenset({"postgres", "supabase", "mysql", "mariadb"})
    #: a token works for 15 minutes; renewing after 10 leaves room for slow connects
    lifetime = 600.0

    def __init__(self, region: str | None = None, profile: str | None = None) -> None:
        self.region = region
        self.profile = profile
        self._client: Any = None

    def token(self, request: TokenRequest) -> Token:
        try:
            import boto3
        except ImportError:
            raise _extra_missing(request, "aws", "boto3") from None
        if self._client is None:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            if not session.region_name:
                raise ConfigurationError(
                    "aws_rds_iam needs an AWS region",
                    datasource=request.datasource,
                    key="auth",
                    fix='set auth = {provider = "aws_rds_iam", region = "eu-west-1"}, '
                    "or AWS_DEFAULT_REGION",
                )
            self._client = session.client("rds")
        if not (request.host and request.port and request.username):
            raise ConfigurationError(
                "aws_rds_iam needs host, port and username",
                datasource=request.datasource,
                key="auth",
                fix="set host, port and username of the RDS instance",
            )
        value = self._client.generate_db_auth_token(
            DBHostname=request.host,
            Port=request.port,
            DBUsername=request.username,
            Region=self._client.meta.region_name,
        )
        return Token(value, time.time() + self.lifetime + RENEW_MARGIN)


class AzureEntra:
    """Microsoft Entra ID tokens for Azure Database for PostgreSQL and MySQL, and
    Azure SQL. Options: ``client_id`` (a user-assigned managed identity),
    ``scope`` (default: the one the database type needs)."""

    types = frozenset({"postgres", "mysql", "sqlserver"})
    _scopes = {
        "sqlserver": "https://database.windows.net/.default",
    }
    _default_scope = "https://ossrdbms-aad.database.windows.net/.default"

    def __init__(self, client_id: str | None = None, scope: str | None = None) -> None:
        self.client_id = client_id
        self.scope = scope
        self._credential: Any = None

    def token(self, request: TokenRequest) -> Token:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise _extra_missing(request, "azure", "azure-identity") from None
        if self._credential is None:
            self._credential = DefaultAzureCredential(managed_identity_client_id=self.client_id)
        scope = self.scope or self._scopes.get(request.type_name, self._default_scope)
        access = self._credential.get_token(scope)
        return Token(access.token, float(access.expires_on))


BUILTIN_PROVIDERS: dict[str, Any] = {"aws_rds_iam": AwsRdsIam, "azure_entra": AzureEntra}


class TokenSource(CachedSource):
    """A rotating password made of a provider's tokens."""

    key = "auth"

    def __init__(self, provider: TokenProvider, name: str, request: TokenRequest) -> None:
        super().__init__(request.datasource)
        self.provider = provider
        self.provider_name = name
        self.request = request

    def configure(self, *, datasource: str, timeout: float, ttl: float) -> None:
        super().configure(datasource=datasource, timeout=timeout, ttl=ttl)

    def _resolve(self, force: bool) -> tuple[str, float]:
        from unifydb._deadline import call_with_deadline

        failure: UnifyDBError | None = None
        try:
            token = call_with_deadline(
                lambda: self.provider.token(self.request),
                self.request.timeout,
                datasource=self.datasource,
                action=f"getting a token from {self.provider_name}",
            )
        except UnifyDBError:
            raise
        except Exception as error:
            # the provider's error may quote what it was signing: its type only
            failure = DatasourceConnectionError(
                f"the {self.provider_name!r} token provider failed: {type(error).__name__}",
                datasource=self.datasource,
                key="auth",
                fix="check the provider's own configuration (credentials, region, identity)",
            )
        if failure is not None:
            raise failure
        if isinstance(token, str):
            token = Token(token)
        valid = (
            float("inf")
            if token.expires_at is None
            else time.monotonic() + max(0.0, token.expires_at - time.time() - RENEW_MARGIN)
        )
        return token.value, valid


def token_source(options: Options, *, datasource: str, type_name: str) -> TokenSource:
    """The source of ``options.auth``'s tokens (the provider is checked here, so a
    typo is reported when the datasource is built)."""
    spec = options.auth
    settings: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        settings = dict(spec)
        name = settings.pop("provider", None)
    else:
        name = spec
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            "a token provider table needs 'provider'",
            datasource=datasource,
            key="auth",
            fix='write auth = {provider = "aws_rds_iam", region = "..."}',
        )
    factory = _factory(name, datasource=datasource)
    supported = getattr(factory, "types", None)
    if supported is not None and type_name not in supported:
        raise ConfigurationError(
            f"the {name!r} token provider does not work with type {type_name!r} "
            f"(it does with {', '.join(sorted(supported))})",
            datasource=datasource,
            key="auth",
            fix="use a password, password_file or password_command for this datasource",
        )
    try:
        provider = factory(**settings)
    except TypeError:
        raise ConfigurationError(
            f"the {name!r} token provider does not take these options: "
            f"{', '.join(sorted(settings)) or 'none'}",
            datasource=datasource,
            key="auth",
            fix="see the provider's options in the README ('Rotating credentials')",
        ) from None
    host = getattr(options, "host", None)
    if isinstance(host, list):
        host = host[0] if host else None
    request = TokenRequest(
        datasource=datasource,
        type_name=type_name,
        host=host,
        port=getattr(options, "port", None),
        username=getattr(options, "username", None),
        database=getattr(options, "database", None),
        timeout=options.timeout,
    )
    return TokenSource(provider, name, request)


def _factory(name: str, *, datasource: str) -> Any:
    if name in BUILTIN_PROVIDERS:
        return BUILTIN_PROVIDERS[name]
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()
    known = sorted({*BUILTIN_PROVIDERS, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})
    # a value that is no provider name may be a secret pasted into the wrong key
    shown = repr(name) if _PROVIDER_NAME.fullmatch(name) else "(not a provider name)"
    raise ConfigurationError(
        f"unknown token provider {shown} (known: {', '.join(known)})",
        datasource=datasource,
        key="auth",
        fix="use one of them, or install a package that adds the provider to the "
        f"{ENTRY_POINT_GROUP!r} entry-point group",
    )


def _extra_missing(request: TokenRequest, extra: str, package: str) -> DriverNotInstalledError:
    return DriverNotInstalledError(
        f"the token provider needs {package}, which is not installed",
        extra=extra,
        datasource=request.datasource,
        key="auth",
        fix=f"pip install 'unifydb[{extra}]'",
    )
