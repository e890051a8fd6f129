"""The settings of a Qdrant datasource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from unifydb.options import OptionError, Options, Port, Secret, doc, number_as_text

MEMORY = ":memory:"


def _server_url(value: Any) -> Any:
    value = number_as_text(value)
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        return None  # an unset ${VAR:-} in settings: no server
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be http(s)://host[:port], e.g. http://localhost:6333")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: give api_key instead")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError("must have a numeric port, e.g. http://localhost:6333") from None
    return value


def _blank_is_unset(value: Any) -> Any:
    # shipped settings write ${DATASOURCE_QDRANT_HOST:-}: empty means "not this mode"
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _ascii(value: Any) -> Any:
    # sent in an HTTP header: refused here rather than failing (value quoted) in httpx
    if isinstance(value, str) and not value.isascii():
        raise ValueError("must be ASCII text (it is sent in an HTTP header)")
    return value


class QdrantOptions(Options, kw_only=True, frozen=True):
    url: Annotated[
        str | None, doc("http(s)://host:port of a Qdrant server (or give host and port).")
    ] = None
    host: Annotated[
        str | None, doc("Qdrant server host, instead of url (either one: path is ignored).")
    ] = None
    port: Annotated[Port, doc("Qdrant server REST port (with host).")] = 6333
    grpc_port: Annotated[Port, doc("Qdrant server gRPC port (with prefer_grpc).")] = 6334
    prefer_grpc: Annotated[bool, doc("Talk gRPC to the server instead of REST.")] = False
    https: Annotated[bool | None, doc("Talk HTTPS to the server (default: the url's scheme).")] = (
        None
    )
    api_key: Annotated[Secret | None, doc("API key of the server (Qdrant Cloud).")] = None
    prefix: Annotated[str | None, doc("URL path prefix of the REST API, e.g. behind a proxy.")] = (
        None
    )
    path: Annotated[
        str | None,
        doc(
            "qdrant-client's local mode: a folder (created if missing), or ':memory:'; "
            "ignored when url or host is set. One client at a time may open a folder; "
            "unifydb shares it within a process."
        ),
    ] = None

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "url": _server_url,
        "host": _blank_is_unset,
        "path": _blank_is_unset,
        "api_key": _ascii,
    }
    aliases: ClassVar[Mapping[str, str]] = {"location": "path"}
    #: ORBIT's: the application's collection and its embedding service
    application_keys: ClassVar[frozenset[str]] = frozenset(
        {"collection", "collection_name", "embedding_provider"}
    )

    def __post_init__(self) -> None:
        if self.url and self.host:
            raise OptionError("give url, or host and port, not both")
        if not (self.url or self.host or self.path):
            raise OptionError(
                "is required: a server (url, or host and port), or a local folder or ':memory:'",
                "path",
            )

    @property
    def mode(self) -> Literal["memory", "local", "server"]:
        if self.url or self.host:
            return "server"
        return "memory" if self.path == MEMORY else "local"
