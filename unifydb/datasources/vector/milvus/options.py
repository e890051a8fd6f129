"""The settings of a Milvus datasource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from unifydb.options import OptionError, Options, Secret, doc

_SERVER_SCHEMES = ("http", "https", "tcp", "unix")


def _server_or_lite(value: Any) -> Any:
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


class MilvusOptions(Options, kw_only=True, frozen=True):
    uri: Annotated[
        str,
        doc(
            "http(s)://host:port of a Milvus server, or a local file path ending in .db for "
            "Milvus Lite."
        ),
    ]
    token: Annotated[
        Secret | None, doc("API key, or 'user:password' (instead of user and password).")
    ] = None
    user: Annotated[str | None, doc("User name (with password, instead of token).")] = None
    password: Annotated[Secret | None, doc("Password of user.")] = None
    db_name: Annotated[str | None, doc("Milvus database (the server's default if unset).")] = None

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "password")
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"uri": _server_or_lite}

    def __post_init__(self) -> None:
        if self.token is not None and (self.user or self.password is not None):
            raise OptionError("give either 'token' or 'user' and 'password', not both")
        if bool(self.user) != (self.password is not None):
            raise OptionError("'user' and 'password' go together")

    @property
    def is_lite(self) -> bool:
        return self.uri.endswith(".db")

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if not self.is_lite:
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
