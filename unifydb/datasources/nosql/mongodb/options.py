"""The settings of a MongoDB datasource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from unifydb.options import (
    NonNegativeInt,
    OptionError,
    Options,
    Port,
    PositiveFloat,
    PositiveInt,
    Secret,
    doc,
    split_list,
)

from .urls import SENSITIVE_OPTION, check_url


def _write_concern(value: Any) -> Any:
    """``w``: a number of nodes ("2" from an environment variable is 2), or a tag
    such as "majority"."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


class MongoDBOptions(Options, kw_only=True, frozen=True):
    url: Annotated[Secret | None, doc("mongodb:// or mongodb+srv:// connection string.")] = None
    host: Annotated[
        list[str] | None, doc("Host name(s), a list or comma-separated; 'host:port' allowed.")
    ] = None
    port: Annotated[Port, doc("Port for hosts given without one.")] = 27017
    database: Annotated[str | None, doc("Default database for .database.")] = None
    username: str | None = None
    password: Annotated[
        Secret | None, doc("Passed to the client as given: no escaping needed.")
    ] = None
    auth_source: Annotated[str | None, doc("Database holding the user (often 'admin').")] = None
    auth_mechanism: Annotated[str | None, doc("E.g. SCRAM-SHA-256 (negotiated when unset).")] = None
    replica_set: str | None = None
    direct_connection: Annotated[
        bool | None, doc("Talk to the one host given, not the replica set it advertises.")
    ] = None
    tls: bool | None = None
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    tls_allow_invalid_certificates: bool | None = None
    app_name: Annotated[str | None, doc("Shown in the server's logs and currentOp.")] = "unifydb"
    max_pool_size: NonNegativeInt | None = None
    min_pool_size: NonNegativeInt | None = None
    socket_timeout: Annotated[
        PositiveFloat | None,
        doc("Seconds a single operation may wait on the socket (unset: no limit)."),
    ] = None
    retry_writes: Annotated[bool | None, doc("Retry a write once after a network error.")] = None
    w: Annotated[int | str | None, doc("Write concern: a number of nodes, or 'majority'.")] = None
    wait_queue_timeout_ms: Annotated[
        NonNegativeInt | None, doc("Milliseconds to wait for a free pooled connection.")
    ] = None
    server_selection_timeout_ms: Annotated[
        PositiveInt | None,
        doc("Milliseconds to find a server (default: timeout, in milliseconds)."),
    ] = None
    client_options: Annotated[dict[str, Any], doc("Any other MongoClient keyword argument.")] = {}

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url")
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "host": split_list,
        "url": check_url,
        "w": _write_concern,
    }
    aliases: ClassVar[Mapping[str, str]] = {"connection_string": "url"}
    #: ORBIT keeps the name of its API-key collection here
    application_keys: ClassVar[frozenset[str]] = frozenset({"apikey_collection"})

    def __post_init__(self) -> None:
        if self.url is None and not self.host:
            raise OptionError("give 'url', or 'host' (with port, username, ...)")

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if self.client_options:
            data["client_options"] = {
                key: "***" if SENSITIVE_OPTION.search(key) else value
                for key, value in self.client_options.items()
            }
        return data
