"""Where reads go: a usable replica in turn, else the primary.

A replica is *usable* unless its last check failed, and, with
``max_replica_lag``, only while its last check found it at most that many
seconds behind the primary. The checks run in the background, one daemon
thread per replica, every ``replica_check_interval`` seconds, each bounded by
the replica's ``timeout``; they start when the first read is routed, so a
datasource nobody reads from replicas of costs nothing.

A replica's engine never fails a request because its replica went away: a new
connection that cannot reach the replica (or is asked for while the replica
is down or behind) is made to the primary instead, and a pooled connection
whose replica changed state is swapped when it is checked out (to the primary
when the replica went down or fell behind, back to the replica once it is
usable again). Only statements in flight on a replica when it dies fail.

Reads of a thread or asyncio task that wrote less than
``primary_reads_after_write`` seconds ago go to the primary: the primary's
engine notes every write in a context variable, which is per thread and per
task.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unifydb._deadline import call_with_deadline
from unifydb.status import NodeStatus

from .connect import connect_with_deadline, resolve_async_connect
from .sockets import shutdown_socket

#: whose probe connection: a replica's index, or ("primary", index), the primary's
#: for that replica's checks
ProbeKey = int | tuple[str, int]

if TYPE_CHECKING:
    from .replicas import Replicas
    from .sql import SQLDatasource

#: ``record.info`` key: True when a replica engine's connection went to the primary
ON_PRIMARY = "unifydb_on_primary"

_logger = logging.getLogger("unifydb.replicas")

#: primary (its router's token) -> time.monotonic() of the last write, per thread and task
_last_writes: ContextVar[dict[int, float] | None] = ContextVar("unifydb_last_writes", default=None)
#: tokens told apart primaries of the same name in different registries
_tokens = itertools.count(1)

#: first words of statements that never write (anything else counts as a write)
_READ_WORDS = frozenset(
    {"SELECT", "SHOW", "EXPLAIN", "VALUES", "TABLE", "DESCRIBE", "DESC", "PRAGMA", "SET"}
    | {"BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
)


def note_write(token: int) -> None:
    """Remember, in this thread or task, that primary ``token`` was just written to."""
    current = _last_writes.get()
    updated = dict(current) if current else {}
    updated[token] = time.monotonic()
    _last_writes.set(updated)


def wrote_within(token: int, seconds: float) -> bool:
    """Whether this thread or task wrote to primary ``token`` less than ``seconds`` ago."""
    current = _last_writes.get()
    if not current:
        return False
    at = current.get(token)
    return at is not None and time.monotonic() - at < seconds


def is_write(statement: str, context: Any) -> bool:
    """Whether a statement the engine ran may have written (when unsure: yes)."""
    if context is not None:
        if context.isinsert or context.isupdate or context.isdelete or context.isddl:
            return True
        compiled = context.compiled
        if compiled is not None and getattr(compiled.statement, "is_select", False):
            return False
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    return not words or words[0].upper() not in _READ_WORDS


def track_writes(engine: Any, token: int) -> None:
    """Note every write through ``engine`` (primary ``token``'s) for :func:`wrote_within`."""
    from sqlalchemy import event

    def after_execute(*arguments: Any) -> None:
        # (connection, cursor, statement, parameters, context, executemany)
        if is_write(arguments[2], arguments[4]):
            note_write(token)

    event.listen(engine, "after_cursor_execute", after_execute)


def install_routing(
    engine: Any, router: ReplicaRouter | None, serving: tuple[ReplicaRouter, int] | None
) -> None:
    """A replica's engine swaps pooled connections when its replica changes state;
    a primary's notes its writes when ``primary_reads_after_write`` is set."""
    from sqlalchemy import event

    if serving is not None:
        serving_router, index = serving
        event.listen(engine.pool, "checkout", serving_router.checkout_check(index))
    elif router is not None and router.after_write:
        track_writes(engine, router.token)


def connect_params(
    datasource: SQLDatasource[Any], dialect: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The DBAPI ``connect()`` arguments SQLAlchemy would derive for ``datasource``
    (before :meth:`~SQLDatasource.connect_arguments` adds the current password
    and the type's own preparation)."""
    asynchronous = getattr(dialect, "is_async", False)
    url = datasource.async_url() if asynchronous else datasource.url()
    cargs, cparams = dialect.create_connect_args(url)
    arguments = datasource.async_connect_args() if asynchronous else datasource.connect_args()
    return list(cargs), {**cparams, **arguments, **datasource.options.connect_args}


@dataclass
class ReplicaState:
    """What the last check of one replica found."""

    up: bool | None = None  # None: not checked yet
    lag: float | None = None
    version: str | None = None
    error: str = ""


class ReplicaRouter:
    """The replicas of one primary: their health, and which one serves the next read."""

    def __init__(self, primary: SQLDatasource[Any], replicas: Replicas[SQLDatasource[Any]]) -> None:
        options = primary.options
        self._primary = primary
        self._replicas = replicas
        self._states = [ReplicaState() for _ in range(len(replicas))]
        self._max_lag = options.max_replica_lag
        self._interval = options.replica_check_interval
        self._random = options.replica_selection == "random"
        self.after_write = options.primary_reads_after_write
        self._turn = itertools.count()
        #: this primary, in the record of recent writes
        self.token = next(_tokens)
        self._guard = threading.Lock()
        self._check_locks = [threading.Lock() for _ in self._states]
        self._probes: dict[ProbeKey, Any] = {}
        self._stop: threading.Event | None = None

    # ------------------------------------------------------------------ choosing

    def usable(self, index: int) -> bool:
        state = self._states[index]
        if state.up is False:
            return False
        if self._max_lag is None:
            return True
        return state.up is True and state.lag is not None and state.lag <= self._max_lag

    def choose(self) -> SQLDatasource[Any]:
        """The datasource the next read goes to."""
        if self._stop is None:
            self.start()
        if self.after_write and wrote_within(self.token, self.after_write):
            return self._primary
        usable = [index for index in range(len(self._states)) if self.usable(index)]
        if not usable:
            return self._primary
        turn = next(self._turn)
        index = random.choice(usable) if self._random else usable[turn % len(usable)]
        return self._replicas.all()[index]

    def states(self) -> list[ReplicaState]:
        return list(self._states)

    # ------------------------------------------------------------------ connecting

    def connect(
        self, index: int, dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        """``do_connect`` of replica ``index``'s engine: the replica while it is
        usable and reachable, the primary otherwise."""
        replica = self._replicas.all()[index]
        if self.usable(index):
            try:
                connection = connect_with_deadline(replica, dialect, cargs, cparams)
            except Exception as error:  # any failure to reach it: the primary serves instead
                self.mark_down(index, replica.redact(f"connect: {type(error).__name__}: {error}"))
            else:
                record.info[ON_PRIMARY] = False
                return connection
        record.info[ON_PRIMARY] = True
        primary_args, primary_params = connect_params(self._primary, dialect)
        return connect_with_deadline(self._primary, dialect, primary_args, primary_params)

    def async_connect(self, index: int, dialect: Any, record: Any, cparams: dict[str, Any]) -> None:
        """The async engine's ``do_connect``: SQLAlchemy connects through a creator
        that tries the replica, then the primary, each bounded by its timeout."""
        import asyncio

        replica = self._replicas.all()[index]
        connect = resolve_async_connect(replica)
        if connect is None:
            return
        primary = self._primary

        async def creator(*raw_args: Any, **raw_kwargs: Any) -> Any:
            if self.usable(index):
                args, kwargs = await asyncio.to_thread(
                    replica.connect_arguments, dialect, raw_args, raw_kwargs
                )
                try:
                    connection = await asyncio.wait_for(connect(*args, **kwargs), replica.timeout)
                except Exception as error:  # unreachable: the primary serves instead
                    self.mark_down(index, replica.redact(f"connect: {type(error).__name__}"))
                else:
                    record.info[ON_PRIMARY] = False
                    return connection
            record.info[ON_PRIMARY] = True
            primary_args, primary_params = await asyncio.to_thread(
                primary.connect_arguments, dialect, *connect_params(primary, dialect)
            )
            try:
                return await asyncio.wait_for(
                    connect(*primary_args, **primary_params), primary.timeout
                )
            except asyncio.TimeoutError:
                failure = primary.sql_error("connect (asyncio)", None, timeout=True)
            raise failure

        cparams["async_creator_fn"] = creator

    def checkout_check(self, index: int) -> Callable[[Any, Any, Any], None]:
        """A pool ``checkout`` listener for replica ``index``'s engine: a pooled
        connection on the wrong side of a state change is replaced."""
        from sqlalchemy.exc import DisconnectionError

        def check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            if record.info.get(ON_PRIMARY, False) == self.usable(index):
                raise DisconnectionError("the replica's state changed")

        return check

    # ------------------------------------------------------------------ checking

    def mark_down(self, index: int, error: str) -> None:
        if self._states[index].up is not False:
            _logger.warning("replica %s is down: %s", self._name(index), error)
        self._states[index] = ReplicaState(up=False, error=error)

    def check(self, index: int, limit: float | None = None) -> ReplicaState:
        """Check replica ``index`` now (bounded by ``limit``, default its timeout)."""
        replica = self._replicas.all()[index]
        limit = replica.timeout if limit is None else limit
        lock = self._check_locks[index]
        if not lock.acquire(timeout=limit):
            return self._states[index]  # another check is at it: its result stands
        try:
            started = time.monotonic()
            position = self._primary_position(index, limit)
            version, lag = call_with_deadline(
                lambda: self._measure(index, replica, position),
                max(0.001, limit - (time.monotonic() - started)),
                datasource=replica.name,
                action="replica check",
                interrupt=lambda worker: self._interrupt(index, replica),
            )
        except Exception as error:  # down, whatever the driver raised
            self._drop_probe(index)
            self.mark_down(index, replica.redact(f"{type(error).__name__}: {error}"))
        else:
            if self._states[index].up is False:
                _logger.warning("replica %s is back", self._name(index))
            self._states[index] = ReplicaState(up=True, lag=lag, version=version)
        finally:
            lock.release()
        return self._states[index]

    def _measure(
        self, index: int, replica: SQLDatasource[Any], primary_position: str | None
    ) -> tuple[str | None, float | None]:
        return replica.replica_state(self._probe(index, replica), primary_position)

    def _probe(self, key: ProbeKey, datasource: SQLDatasource[Any]) -> Any:
        """The raw connection that checks ``key`` (a replica's index, or the
        primary as seen for one): never the engines' pools, whose use would count
        as reads or writes."""
        connection = self._probes.get(key)
        if connection is None:
            dialect = datasource.get_engine().dialect
            cargs, cparams = connect_params(datasource, dialect)
            connection = dialect.connect(*cargs, **cparams)
            self._probes[key] = connection
        return connection

    def _primary_position(self, index: int, limit: float) -> str | None:
        """Where the primary's log is now (None: the type has no such measure, or
        the primary did not say within ``limit``): a replica that has replayed up
        to it is not behind, whether or not it has heard of later changes."""
        primary = self._primary
        if primary.primary_position_sql is None:
            return None
        key: ProbeKey = ("primary", index)
        try:
            return call_with_deadline(
                lambda: primary.primary_position(self._probe(key, primary)),
                limit / 2,
                datasource=primary.name,
                action="primary log position",
                interrupt=lambda worker: self._interrupt(key, primary),
            )
        except Exception as error:  # the replica is still measured, on its own
            self._drop_probe(key)
            _logger.debug("reading the primary's log position failed: %r", error)
            return None

    def _interrupt(self, key: ProbeKey, datasource: SQLDatasource[Any]) -> None:
        connection = self._probes.get(key)
        fd = datasource.socket_fd(connection) if connection is not None else None
        if fd is not None:
            shutdown_socket(fd)

    def _drop_probe(self, key: ProbeKey) -> None:
        connection = self._probes.pop(key, None)
        if connection is not None:
            try:
                connection.close()
            except Exception as error:  # already broken: nothing more to release
                _logger.debug("closing a replica probe failed: %r", error)

    def _name(self, index: int) -> str:
        return f"{self._primary.name}.replica{index + 1}"

    def nodes(self, limit: float) -> list[NodeStatus]:
        """Every replica checked now, in parallel, within ``limit`` seconds."""
        deadline = time.monotonic() + limit
        threads = [
            threading.Thread(
                target=self.check, args=(index, limit), name="unifydb:replica-check", daemon=True
            )
            for index in range(len(self._states))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        replicas = self._replicas.all()
        nodes = []
        for index, state in enumerate(self._states):
            behind = self._max_lag is not None and (state.lag is None or state.lag > self._max_lag)
            detail = state.error
            if state.up and state.lag is not None:
                detail = f"lag {state.lag:.3f} s" + (" (over max_replica_lag)" if behind else "")
            elif state.up and behind:
                detail = "lag unknown (replication stopped?), and max_replica_lag is set"
            nodes.append(
                NodeStatus(
                    address=replicas[index].target(),
                    state="up" if state.up and not behind else "down",
                    role="replica",
                    version=state.version,
                    detail=detail or ("not checked yet" if state.up is None else ""),
                )
            )
        return nodes

    # ------------------------------------------------------------------ background checks

    def start(self) -> None:
        with self._guard:
            if self._stop is not None:
                return
            stop = self._stop = threading.Event()
        for index in range(len(self._states)):
            threading.Thread(
                target=self._watch,
                args=(index, stop),
                name=f"unifydb:{self._name(index)}:check",
                daemon=True,
            ).start()

    def _watch(self, index: int, stop: threading.Event) -> None:
        while not stop.is_set():
            self.check(index)
            stop.wait(self._interval)
        self._drop_probe(index)
        self._drop_probe(("primary", index))

    def stop(self) -> None:
        """Stop the background checks (they start again with the next routed read)."""
        with self._guard:
            stop, self._stop = self._stop, None
        if stop is not None:
            stop.set()
        self._states = [ReplicaState() for _ in self._states]

    def after_fork(self) -> None:
        # the checking threads do not exist in a child, and the probe
        # connections are the parent's: forget both, never touch them
        self._stop = None
        self._probes = {}
        self._check_locks = [threading.Lock() for _ in self._states]
