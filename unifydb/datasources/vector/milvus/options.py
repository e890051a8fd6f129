"""The settings of a Milvus datasource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from unifydb.options import OptionError, Options, Port, PositiveInt, Secret, doc, number_as_text

_SERVER_SCHEMES = ("http", "https", "tcp", "unix")


def _server_or_lite(value: Any) -> Any:
    value = number_as_text(value)
    if not isinstance(value, str):
        return value
    value = value.strip()
    if value.endswith(".db"):
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in _SERVER_SCHEMES:
        raise ValueError(
            "must be http(s)://host:port for a server, or a file path ending in .db for Milvus Lite"
        )
    after_netloc = value.split("://", 1)[1][len(parts.netloc) :]
    if "@" in after_netloc or parts.netloc.count("@") > 1:
        # urllib would cut the URL inside the password and print the rest
        raise ValueError(
            "has '@', '/', '?' or '#' unescaped in its user or password: percent-encode "
            "them, or give user and password (or token) as separate keys"
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError("must have a numeric port, e.g. http://host:19530") from None
    return value


def _metric_name(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


#: Milvus's metric names -> the vector API's
METRICS = {"COSINE": "cosine", "L2": "l2", "IP": "ip"}


class MilvusOptions(Options, kw_only=True, frozen=True):
    uri: Annotated[
        str | None,
        doc(
            "http(s)://host:port of a Milvus server, or a local file path ending in .db for "
            "Milvus Lite (or give host and port)."
        ),
    ] = None
    host: Annotated[str | None, doc("Milvus server host, instead of uri.")] = None
    port: Annotated[Port, doc("Milvus server port (with host).")] = 19530
    token: Annotated[
        Secret | None, doc("API key, or 'user:password' (instead of user and password).")
    ] = None
    user: Annotated[str | None, doc("User name (with password, instead of token).")] = None
    password: Annotated[Secret | None, doc("Password of user.")] = None
    db_name: Annotated[str | None, doc("Milvus database (the server's default if unset).")] = None
    dim: Annotated[
        PositiveInt | None,
        doc("Default dimension of vectors().create_collection() when none is given."),
    ] = None
    metric_type: Annotated[
        Literal["COSINE", "L2", "IP"] | None,
        doc("Default metric of vectors().create_collection() when none is given."),
    ] = None

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "password")
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "uri": _server_or_lite,
        "metric_type": _metric_name,
    }
    #: ORBIT's: which embedding service fills this store
    application_keys: ClassVar[frozenset[str]] = frozenset({"embedding_provider"})

    def __post_init__(self) -> None:
        if self.uri and self.host:
            raise OptionError("give uri, or host and port, not both")
        if not self.uri and not self.host:
            raise OptionError(
                "is required: a server URL or a Milvus Lite .db file (or give host and port)",
                "uri",
            )
        if self.token is not None and (self.user or self.password is not None):
            raise OptionError("give either 'token' or 'user' and 'password', not both")
        if bool(self.user) != (self.password is not None):
            raise OptionError("'user' and 'password' go together")

    @property
    def address(self) -> str:
        """The server URL or Milvus Lite file: ``uri``, or ``http://host:port``."""
        if self.uri:
            return self.uri
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def is_lite(self) -> bool:
        return self.address.endswith(".db")

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if not self.is_lite and self.uri:
            data["uri"] = without_password(self.uri)
        return data


def without_userinfo(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
