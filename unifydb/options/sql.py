"""The options every relational type shares: SQLAlchemy engine and pool keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from unifydb._deadline import MAX_TIMEOUT

from .model import (
    NonNegativeInt,
    OptionError,
    Options,
    Port,
    PositiveFloat,
    PositiveInt,
    Seconds,
    Secret,
    doc,
)


def _upper_isolation(value: Any) -> Any:
    return value.upper().replace("_", " ") if isinstance(value, str) and value else value


class SQLOptions(Options, kw_only=True, frozen=True):
    """SQLAlchemy engine options every relational type accepts."""

    url: Annotated[Secret | None, doc("A full database URL instead of the separate fields.")] = None
    pool_size: Annotated[PositiveInt | None, doc("Connections kept open in the pool.")] = None
    max_overflow: Annotated[
        Annotated[int, Meta(ge=-1)] | None, doc("Extra connections beyond pool_size.")
    ] = None
    pool_recycle: Annotated[
        Annotated[int, Meta(ge=-1)] | None,
        doc("Seconds after which a pooled connection is replaced."),
    ] = 1800
    pool_timeout: Annotated[
        PositiveFloat | None, doc("Seconds to wait for a free pooled connection.")
    ] = None
    pool_pre_ping: Annotated[bool, doc("Test a pooled connection before handing it out.")] = True
    pool_use_lifo: bool | None = None
    use_connection_pool: Annotated[
        bool, doc("false: open a new connection for every use (SQLAlchemy's NullPool).")
    ] = True
    min_pool_size: Annotated[
        NonNegativeInt | None,
        doc(
            "Connections opened in the background at first use and kept in the pool "
            "(pool_size grows to it when smaller)."
        ),
    ] = None
    idle_timeout: Annotated[
        PositiveFloat | None,
        doc("Seconds a pooled connection may sit unused; an older one is replaced at checkout."),
    ] = None
    statement_timeout: Annotated[
        NonNegativeInt | None,
        doc(
            "Milliseconds a statement may run, set the database's own way on every "
            "connection (0: no limit)."
        ),
    ] = None
    echo: bool | Literal["debug"] = False
    echo_pool: bool | Literal["debug"] = False
    isolation_level: Annotated[
        str | None, doc("E.g. READ COMMITTED, SERIALIZABLE, AUTOCOMMIT.")
    ] = None
    connect_args: Annotated[dict[str, Any], doc("Passed to the DBAPI driver's connect().")] = {}
    engine_options: Annotated[
        dict[str, Any], doc("Any other sqlalchemy.create_engine() keyword.")
    ] = {}
    query: Annotated[dict[str, str], doc("Extra URL query parameters.")] = {}
    models: Annotated[
        str | None,
        doc(
            "The application's models as module:attribute (e.g. myapp.models:Base.metadata), "
            "for `unifydb migrate check`."
        ),
    ] = None
    replicas: Annotated[
        list[dict[str, Any] | str],
        doc(
            "Read replicas for readonly sessions and get_replica_engine(): each a URL, "
            "or a table of keys that override the primary's (e.g. {host = 'replica-1'})."
        ),
    ] = []
    replica_selection: Annotated[
        Literal["round_robin", "random"],
        doc("How reads are spread over the usable replicas."),
    ] = "round_robin"
    route_reads: Annotated[
        bool,
        doc(
            "Ordinary sessions send plain SELECTs to a replica until they write "
            "(then everything goes to the primary); readonly sessions always read from replicas."
        ),
    ] = False
    primary_reads_after_write: Annotated[
        Annotated[float, Meta(ge=0, le=MAX_TIMEOUT)],
        doc(
            "Seconds after a write during which reads of the same thread or asyncio task "
            "go to the primary (0: only the session that wrote)."
        ),
    ] = 0.0
    max_replica_lag: Annotated[
        Seconds | None,
        doc(
            "Seconds a replica may be behind its primary and still be read from "
            "(PostgreSQL, MySQL, MariaDB; unset: lag is not checked)."
        ),
    ] = None
    replica_check_interval: Annotated[
        Seconds,
        doc(
            "Seconds between background checks of each replica's health and lag; "
            "a replica that failed is read from again after the first check it passes."
        ),
    ] = 1.0

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url")
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"isolation_level": _upper_isolation}
    #: ORBIT's names for keys unifydb has under another name
    aliases: ClassVar[Mapping[str, str]] = {
        "connection_timeout": "timeout",
        "max_connection_lifetime": "pool_recycle",
        "validate_on_borrow": "pool_pre_ping",
    }


class ServerSQLOptions(SQLOptions, kw_only=True, frozen=True):
    """Host-based relational servers."""

    host: str | None = None
    port: Port | None = None
    database: str | None = None
    username: str | None = None
    password: Secret | None = None

    def __post_init__(self) -> None:
        if self.host is not None and not self.host.strip():
            raise OptionError("must not be empty", "host")
