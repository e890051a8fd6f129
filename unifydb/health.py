"""``unifydb check``: health checks in a bounded pool of forked worker processes.

For the command line (and operators' tools), not for an application, which
checks in threads with :meth:`unifydb.Registry.health_check`. The status
types live in :mod:`unifydb.status`; they are re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NoReturn

from .status import FAILING, CheckRun, HealthStatus, Status, check_all, status_from_error

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "FAILING",
    "CheckRun",
    "HealthStatus",
    "Status",
    "check_all",
    "check_in_processes",
    "default_workers",
    "status_from_error",
]


#: seconds the command waits past the timeout for a worker stuck where no
#: deadline reaches (a driver's import or initializer) before killing it
WORKER_GRACE = 1.0
#: datasources handed to a worker at once: small enough to balance the load
#: between workers, large enough that handing out is cheap
_TASK_SIZE = 64
#: tasks in the queue at most: 4 bytes each must fit in a pipe's 64 KiB buffer
_MAX_TASKS = 8192


def default_workers() -> int:
    """Worker processes of ``unifydb check``: the CPU count, at least 2."""
    import os

    return max(2, os.cpu_count() or 1)


def check_in_processes(
    registry: Registry,
    names: Iterable[str] | None = None,
    *,
    timeout: float | None = None,
    workers: int | None = None,
    grace: float = WORKER_GRACE,
) -> dict[str, HealthStatus]:
    """Like :meth:`Registry.health_check`, in a bounded pool of forked worker processes.

    For the command line, not for an application: the workers import drivers
    on every core at once instead of under one GIL, and a worker stuck where
    no deadline reaches (a driver's import) is killed instead of left running.
    ``workers`` processes (default: :func:`default_workers`) take datasources
    from a shared queue, a few dozen at a time and grouped by type, so each
    imports a driver once and checks many datasources; what every check needs
    (SQLAlchemy, the option models) is imported once before forking.
    Datasources sharing an embedded store (a Milvus Lite file, a Chroma
    folder) are checked by the same worker. Where ``os.fork`` does not exist,
    this is ``registry.health_check``.

    ``timeout`` (default: each datasource's own) counts from this call, not
    from the moment a check's driver has loaded: the call returns within
    about ``timeout`` + ``grace`` however many datasources there are, and a
    datasource not checked by then is reported as timed out.
    """
    import os

    from ._deadline import checked_timeout

    started = time.monotonic()
    timeout = checked_timeout(timeout)
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    selected = list(dict.fromkeys(name.lower() for name in names)) if names else registry.names()
    if not hasattr(os, "fork"):
        return registry.health_check(selected, timeout=timeout)
    tasks, largest_timeout = _tasks(registry, selected, workers or default_workers())
    if len(selected) < 2:
        return registry.health_check(selected, timeout=timeout)
    count = min(len(tasks), workers or default_workers())
    limit = (timeout if timeout is not None else largest_timeout) + grace
    results = _run_workers(
        registry, tasks, count, timeout=timeout, started=started, deadline=started + limit
    )
    return {
        name: results.get(name)
        or HealthStatus(
            name=name, type="?", status="timeout", detail=f"no answer within {limit:g} s"
        )
        for name in selected
    }


def _tasks(registry: Registry, selected: list[str], workers: int) -> tuple[list[list[str]], float]:
    """The work for the pool: lists of datasource names, grouped by type, each
    datasource sharing an embedded store in the same list; and the largest
    timeout among them.

    Builds one datasource per type (not initialized: no driver is imported),
    so the option models and SQLAlchemy are loaded before forking, and only
    the datasources whose type has an embedded store besides; the rest are
    validated by the workers.
    """
    from pathlib import Path

    from ._deadline import DEFAULT_TIMEOUT
    from .base import Datasource, SQLDatasource
    from .registry import load_type

    by_type: dict[str, list[list[str]]] = {}
    by_store: dict[Path, list[str]] = {}
    largest_timeout = DEFAULT_TIMEOUT
    warmed: set[str] = set()
    for name in selected:
        try:
            type_name = registry.type_of(name)
            cls = load_type(type_name, datasource=name)
            has_store = cls.in_process_store is not Datasource.in_process_store
            if type_name not in warmed or has_store:
                warmed.add(type_name)
                if issubclass(cls, SQLDatasource):
                    import sqlalchemy  # noqa: F401
                datasource = registry.build(name)
                largest_timeout = max(largest_timeout, datasource.timeout)
                store = datasource.in_process_store()
            else:
                largest_timeout = max(largest_timeout, _declared_timeout(registry, name))
                store = None
        except Exception:  # the worker reports it, worded as every build failure is
            by_type.setdefault("?", []).append([name])
            continue
        if store is None:
            by_type.setdefault(type_name, []).append([name])
        elif store in by_store:
            by_store[store].append(name)
        else:
            by_store[store] = [name]
            by_type.setdefault(type_name, []).append(by_store[store])
    tasks: list[list[str]] = []
    for groups in by_type.values():
        size = max(1, min(_TASK_SIZE, -(-len(groups) // workers)))
        for start in range(0, len(groups), size):
            tasks.append([name for group in groups[start : start + size] for name in group])
    if len(tasks) > _MAX_TASKS:  # the queue must fit in a pipe's buffer
        per = -(-len(tasks) // _MAX_TASKS)
        tasks = [
            [name for task in tasks[i : i + per] for name in task]
            for i in range(0, len(tasks), per)
        ]
    return tasks, largest_timeout


def _declared_timeout(registry: Registry, name: str) -> float:
    from ._deadline import DEFAULT_TIMEOUT
    from .settings import resolve_placeholders

    raw = registry.entry(name).get("timeout")
    try:
        value = float(resolve_placeholders(raw)[0]) if raw is not None else DEFAULT_TIMEOUT
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_TIMEOUT


def _run_workers(
    registry: Registry,
    tasks: list[list[str]],
    count: int,
    *,
    timeout: float | None,
    started: float,
    deadline: float,
) -> dict[str, HealthStatus]:
    """Fork ``count`` workers that take ``tasks`` from a shared pipe and stream
    their statuses back; collect until every datasource answered or ``deadline``.
    A worker that dies is replaced while tasks are left."""
    import os
    import struct

    # the whole queue is written before forking: 4 bytes a task, far below a
    # pipe's buffer (see _tasks), and no feeder thread exists at fork time
    task_read, task_write = os.pipe()
    payload = b"".join(struct.pack("=I", index) for index in range(len(tasks)))
    view = memoryview(payload)
    while view:
        view = view[os.write(task_write, view) :]
    os.close(task_write)
    children: dict[int, int] = {}  # read end of the results pipe -> pid

    def spawn() -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(read_end)
            for other in children:
                os.close(other)
            _work_and_exit(registry, tasks, task_read, write_end, timeout=timeout, started=started)
        os.close(write_end)
        children[read_end] = pid

    try:
        for _ in range(count):
            spawn()
        return _collect(children, tasks, deadline, spawn)
    finally:
        os.close(task_read)


def _work_and_exit(
    registry: Registry,
    tasks: list[list[str]],
    task_read: int,
    write_end: int,
    *,
    timeout: float | None,
    started: float,
) -> NoReturn:  # pragma: no cover - runs in the forked child
    import json
    import os
    import struct

    lock = threading.Lock()

    def send(status: HealthStatus | int) -> None:
        # a task index says "taken by this worker"; a status is one answer
        message = {"task": status} if isinstance(status, int) else status.as_dict()
        line = json.dumps(message).encode() + b"\n"
        with lock:
            view = memoryview(line)
            while view:
                view = view[os.write(write_end, view) :]

    code = 0
    try:
        run = CheckRun(on_result=send)
        latest = time.monotonic()
        while len(record := os.read(task_read, 4)) == 4:
            (index,) = struct.unpack("=I", record)
            send(index)
            latest = max(latest, registry.start_checks(tasks[index], run, timeout, started))
        run.wait(latest + 1.0)
    except BaseException:  # the parent reports what this worker did not answer
        code = 1
    finally:
        # no interpreter teardown: it could block in a driver's threads
        os._exit(code)


def _collect(
    children: dict[int, int],
    tasks: list[list[str]],
    deadline: float,
    spawn: Callable[[], None],
) -> dict[str, HealthStatus]:
    import contextlib
    import json
    import os
    import selectors
    import signal

    expected = sum(len(task) for task in tasks)
    results: dict[str, HealthStatus] = {}
    taken: dict[int, list[int]] = {}
    ended: set[int] = set()
    pending: dict[int, bytearray] = {}
    with selectors.DefaultSelector() as selector:

        def watch() -> None:
            for fd in children:
                if fd not in pending:
                    pending[fd], taken[fd] = bytearray(), []
                    selector.register(fd, selectors.EVENT_READ)

        watch()
        while (
            selector.get_map()
            and len(results) < expected
            and (remaining := deadline - time.monotonic()) > 0
        ):
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    ended.add(key.fd)
                    if sum(map(len, taken.values())) < len(tasks):
                        spawn()  # tasks are left and this worker is gone: replace it
                        watch()
                    continue
                buffer = pending[key.fd]
                buffer += chunk
                *lines, rest = bytes(buffer).split(b"\n")
                pending[key.fd] = bytearray(rest)
                for line in lines:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        message = json.loads(line)
                        if "task" in message:
                            taken[key.fd].append(int(message["task"]))
                            continue
                        status = HealthStatus.from_dict(message)
                        results[status.name] = status
    for fd, pid in children.items():
        os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # harmless for a worker that answered and exited
        os.waitpid(pid, 0)
    for fd in ended:  # a worker that exited (or died) without answering all it took
        for index in taken[fd]:
            for name in tasks[index]:
                results.setdefault(
                    name,
                    HealthStatus(
                        name=name,
                        type="?",
                        status="error",
                        detail="the check's worker process ended without an answer",
                    ),
                )
    return results
