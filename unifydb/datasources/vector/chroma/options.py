"""The settings of a Chroma datasource."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from unifydb.options import OptionError, Options, Port, Secret, doc

TokenHeader = Literal["Authorization", "X-Chroma-Token"]

#: header names whose values are credentials: hidden in describe() and error messages
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|password|cookie", re.IGNORECASE)


def _non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


def _ascii_token(value: Any) -> Any:
    # HTTP header values are Latin-1 at most; refused here rather than failing
    # (with the value in the error) inside the HTTP client
    if isinstance(value, str) and not value.isascii():
        raise ValueError("must be ASCII text (it is sent in an HTTP header)")
    return value


def _ascii_headers(value: Any) -> Any:
    if isinstance(value, Mapping) and not all(
        str(name).isascii() and (not isinstance(item, str) or item.isascii())
        for name, item in value.items()
    ):
        raise ValueError("header names and values must be ASCII text")
    return value


class ChromaOptions(Options, kw_only=True, frozen=True):
    use_local: Annotated[
        bool | None,
        doc(
            "true: an embedded Chroma (at path, or in memory); host and port are then "
            "ignored. false: the server at host and port. Unset: host decides."
        ),
    ] = None
    path: Annotated[
        str | None,
        doc(
            "Folder of an embedded, persistent Chroma; created if missing. "
            "Ignored when host is set."
        ),
    ] = None
    host: Annotated[
        str | None, doc("Chroma server host; when set, unifydb talks HTTP and ignores path.")
    ] = None
    port: Annotated[Port, doc("Chroma server port.")] = 8000
    ssl: Annotated[bool, doc("Talk HTTPS to the server.")] = False
    ssl_verify: Annotated[bool, doc("Verify the server's TLS certificate.")] = True
    ca_file: Annotated[
        str | None, doc("CA bundle to verify the server's TLS certificate with.")
    ] = None
    headers: Annotated[dict[str, str], doc("Extra HTTP headers sent with every request.")] = {}
    token: Annotated[Secret | None, doc("Token for a server with token auth.")] = None
    token_header: Annotated[
        TokenHeader,
        doc(
            "'Authorization' sends 'Bearer <token>' (Chroma's default); "
            "'X-Chroma-Token' sends the bare token (Chroma Cloud)."
        ),
    ] = "Authorization"
    tenant: Annotated[str | None, doc("Chroma tenant (chromadb's default if unset).")] = None
    database: Annotated[str | None, doc("Chroma database (chromadb's default if unset).")] = None

    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "host": _non_empty,
        "path": _non_empty,
        "token": _ascii_token,
        "headers": _ascii_headers,
    }
    #: ORBIT's name for path
    aliases: ClassVar[Mapping[str, str]] = {"db_path": "path"}
    #: ORBIT's: which embedding service fills this store
    application_keys: ClassVar[frozenset[str]] = frozenset({"embedding_provider"})

    def __post_init__(self) -> None:
        if self.use_local is False and not self.host:
            raise OptionError("use_local = false means a Chroma server: set host", "host")

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if self.headers:
            data["headers"] = {
                name: "***" if SENSITIVE_HEADER.search(name) else value
                for name, value in self.headers.items()
            }
        return data
