"""ORM sessions on registry engines, with per-model routing and read replicas.

``session("orders")`` is a ``sqlalchemy.orm.Session`` that commits when the
block succeeds and rolls back when it raises. Models may declare where they
live, as Flask-SQLAlchemy binds and Django routers do::

    class Analytics(DeclarativeBase):
        __datasource__ = "analytics"          # every subclass lives there

    events = Table("events", meta, ..., info={"datasource": "analytics"})

and one session routes each mapper to its datasource's engine (through
``Session.get_bind``); what declares nothing goes to the session's own
datasource. ``readonly=True`` sends reads to one of the datasource's
``replicas`` (the primary when it has none, or none is usable) and refuses
flushes. ``route_reads=True`` (or the datasource's ``route_reads`` setting)
sends an ordinary session's plain SELECTs to a replica until the session
writes; from then on it reads from the primary, so it reads its own writes.
``SELECT ... FOR UPDATE`` always goes to the primary. A session keeps the
replica it first read from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as _sessionmaker

from .errors import ConfigurationError, UnifyDBError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from .registry import Registry

DATASOURCE_ATTRIBUTE = "__datasource__"
DATASOURCE_INFO_KEY = "datasource"
#: a registry with this method, ``(name, *, asynchronous) -> Connection | None``,
#: makes sessions bind to the connection it returns (the pytest plugin's
#: registry returns a test's connection, so that sessions join its transaction)
JOINED_CONNECTION = "joined_connection"


class ReadOnlySessionError(UnifyDBError):
    """A read-only session was asked to write."""


def datasource_of(mapper: Any = None, clause: Any = None) -> str | None:
    """The datasource a mapped class or table declares, if any."""
    if mapper is not None:
        declared = getattr(mapper.class_, DATASOURCE_ATTRIBUTE, None)
        if declared:
            return str(declared)
        for table in getattr(mapper, "tables", ()):
            declared = table.info.get(DATASOURCE_INFO_KEY)
            if declared:
                return str(declared)
    table = getattr(clause, "table", None)
    if table is not None and getattr(table, "info", None):
        declared = table.info.get(DATASOURCE_INFO_KEY)
        if declared:
            return str(declared)
    return None


class RoutingSession(Session):
    """A Session whose ``get_bind`` asks the registry for each model's datasource."""

    def __init__(
        self,
        *args: Any,
        unifydb_registry: Registry,
        unifydb_datasource: str | None = None,
        unifydb_readonly: bool = False,
        unifydb_async: bool = False,
        unifydb_route_reads: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.unifydb_registry = unifydb_registry
        self.unifydb_datasource = unifydb_datasource
        self.unifydb_readonly = unifydb_readonly
        self.unifydb_async = unifydb_async
        self.unifydb_route_reads = unifydb_route_reads
        #: datasources this session wrote to: it reads them from the primary
        self.unifydb_wrote: set[str] = set()
        self._unifydb_read_binds: dict[str, Engine] = {}
        self._unifydb_routes: dict[str, bool] = {}
        if unifydb_readonly:
            event.listen(self, "before_flush", _refuse_flush)

    def get_bind(
        self,
        mapper: Any = None,
        *,
        clause: Any = None,
        bind: Any = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        if bind is not None:
            return bind  # type: ignore[no-any-return]
        name = datasource_of(mapper, clause) or self.unifydb_datasource
        if name is None:
            what = getattr(getattr(mapper, "class_", None), "__name__", None) or "this statement"
            raise ConfigurationError(
                f"{what} declares no datasource and the session has none",
                key=DATASOURCE_ATTRIBUTE,
                fix="open the session with a name, unifydb.session('orders'), or set "
                "__datasource__ on the model's base class (or info={'datasource': ...} "
                "on its table)",
            )
        registry = self.unifydb_registry
        joined = getattr(registry, JOINED_CONNECTION, None)
        if joined is not None:
            # a test's outer transaction (unifydb's pytest plugin): join it
            connection = joined(name, asynchronous=self.unifydb_async)
            if connection is not None:
                return connection  # type: ignore[no-any-return]
        readonly = self.unifydb_readonly
        if readonly or self._routes_reads(name):
            if _is_read(clause, readonly) and name not in self.unifydb_wrote:
                return self._read_bind(name)
            if not readonly:
                self.unifydb_wrote.add(name)
        if self.unifydb_async:
            # an AsyncSession drives this sync session with its engines' sync halves
            return registry.get_async_engine(name).sync_engine
        return registry.get_engine(name)

    def _routes_reads(self, name: str) -> bool:
        if self.unifydb_route_reads is not None:
            return self.unifydb_route_reads
        routes = self._unifydb_routes.get(name)
        if routes is None:
            datasource = self.unifydb_registry.get_datasource(name)
            routes = self._unifydb_routes[name] = bool(getattr(datasource, "routes_reads", False))
        return routes

    def _read_bind(self, name: str) -> Engine:
        bind = self._unifydb_read_binds.get(name)
        if bind is None:
            registry = self.unifydb_registry
            if self.unifydb_async:
                bind = registry.get_replica_async_engine(name).sync_engine
            else:
                bind = registry.get_replica_engine(name)
            self._unifydb_read_binds[name] = bind
        return bind


def _is_read(clause: Any, readonly: bool) -> bool:
    """Whether a statement may go to a replica: never ``FOR UPDATE``; in a
    readonly session anything else; otherwise only a SELECT (text() statements
    are not parsed, so they go to the primary)."""
    if getattr(clause, "_for_update_arg", None) is not None:
        return False
    return readonly or bool(getattr(clause, "is_select", False))


def _refuse_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError(
            "this session is read-only (readonly=True) and cannot write",
            datasource=getattr(session, "unifydb_datasource", None),
            fix="open a writable session for changes: unifydb.session(name)",
        )


def sessionmaker(
    name: str | None = None,
    *,
    readonly: bool = False,
    route_reads: bool | None = None,
    registry: Registry,
    **options: Any,
) -> _sessionmaker[RoutingSession]:
    """A ``sqlalchemy.orm.sessionmaker`` for frameworks that want a factory.

    ``name`` is the datasource for models that declare none; models with
    ``__datasource__`` (or table ``info``) are routed to their own.
    ``route_reads`` (default: each datasource's ``route_reads`` setting) sends
    reads to replicas until the session writes.
    """
    chosen = registry
    if name is not None:
        chosen.entry(name)  # an unknown name is an error now, not at first query
    return _sessionmaker(
        class_=RoutingSession,
        unifydb_registry=chosen,
        unifydb_datasource=name,
        unifydb_readonly=readonly,
        unifydb_route_reads=route_reads,
        **options,
    )


@contextmanager
def session(
    name: str | None = None,
    *,
    readonly: bool = False,
    route_reads: bool | None = None,
    registry: Registry,
    **options: Any,
) -> Iterator[RoutingSession]:
    """A session that commits on success, rolls back on error, and always closes."""
    factory = sessionmaker(
        name, readonly=readonly, route_reads=route_reads, registry=registry, **options
    )
    with factory() as current:
        try:
            yield current
            if not readonly:
                current.commit()
        except BaseException:
            current.rollback()
            raise


def async_sessionmaker_for(
    name: str | None = None,
    *,
    readonly: bool = False,
    route_reads: bool | None = None,
    registry: Registry,
    **options: Any,
) -> async_sessionmaker[AsyncSession]:
    """An ``async_sessionmaker`` with the same routing as :func:`sessionmaker`."""
    chosen = registry
    if name is not None:
        chosen.entry(name)
    options.setdefault("expire_on_commit", False)
    return async_sessionmaker(
        sync_session_class=RoutingSession,
        unifydb_registry=chosen,
        unifydb_datasource=name,
        unifydb_readonly=readonly,
        unifydb_async=True,
        unifydb_route_reads=route_reads,
        **options,
    )


@asynccontextmanager
async def async_session(
    name: str | None = None,
    *,
    readonly: bool = False,
    route_reads: bool | None = None,
    registry: Registry,
    **options: Any,
) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` that commits on success and rolls back on error."""
    factory = async_sessionmaker_for(
        name, readonly=readonly, route_reads=route_reads, registry=registry, **options
    )
    if name is not None:
        # the first use imports the async driver (a few hundred ms): in a worker
        # thread, so no other coroutine on this event loop waits for it
        import asyncio

        chosen = registry
        engine_for = chosen.get_replica_async_engine if readonly else chosen.get_async_engine
        await asyncio.to_thread(engine_for, name)
    async with factory() as current:
        try:
            yield current
            if not readonly:
                await current.commit()
        except BaseException:
            await current.rollback()
            raise
