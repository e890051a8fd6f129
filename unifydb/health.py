"""Health status of a datasource, and checking many datasources at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from .errors import (
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    UnifyDBError,
)

if TYPE_CHECKING:
    from .registry import Registry

Status = Literal["ok", "error", "timeout", "not_configured", "driver_missing"]

#: statuses that mean "configured but not healthy": these fail `unifydb check`
FAILING: frozenset[str] = frozenset({"error", "timeout"})


@dataclass(frozen=True)
class HealthStatus:
    """What one health check found. ``ok`` is True only when the server answered."""

    name: str
    type: str
    status: Status
    latency_ms: float | None = None
    server_version: str | None = None
    detail: str = ""
    error: UnifyDBError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        """Configured, installed, and still not healthy."""
        return self.status in FAILING

    def raise_for_status(self) -> HealthStatus:
        """Raise the unifydb error behind a failed check; return self when healthy."""
        if self.error is not None and not self.ok:
            raise self.error
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "ok": self.ok,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "server_version": self.server_version,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthStatus:
        """The status :meth:`as_dict` described (without the error object)."""
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            status=data["status"],
            latency_ms=data["latency_ms"],
            server_version=data["server_version"],
            detail=str(data["detail"]),
        )


def status_from_error(
    name: str, type_name: str, error: UnifyDBError, latency_ms: float | None = None
) -> HealthStatus:
    """The status a unifydb error stands for, with a short detail for tables."""
    status: Status
    if isinstance(error, NotConfiguredError):
        status, detail = "not_configured", "set " + ", ".join(error.missing)
    elif isinstance(error, DriverNotInstalledError):
        status, detail = "driver_missing", error.fix or str(error)
    elif isinstance(error, DatasourceTimeoutError):
        status, detail = "timeout", str(error)
    else:
        status, detail = "error", str(error)
    return HealthStatus(
        name=name,
        type=type_name,
        status=status,
        latency_ms=latency_ms,
        detail=detail,
        error=error,
    )


def check_all(
    checks: Iterable[tuple[str, Callable[[], HealthStatus]]], *, grace: float
) -> dict[str, HealthStatus]:
    """Run every check in its own thread and wait for all of them.

    Each check bounds itself by its datasource's timeout; ``grace`` is only a
    backstop for a check that misbehaves, after which it is reported as timed
    out rather than waited for. Threads, not a pool: a check stuck in a C call
    cannot be cancelled, and an executor would wait for it on shutdown.
    """
    results: dict[str, HealthStatus] = {}
    threads: list[tuple[str, threading.Thread]] = []
    lock = threading.Lock()

    def run(name: str, check: Callable[[], HealthStatus]) -> None:
        status = check()
        with lock:
            results[name] = status

    for name, check in checks:
        thread = threading.Thread(
            target=run, args=(name, check), name=f"unifydb:check:{name}", daemon=True
        )
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + grace
    for _, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name, _ in threads:
            if name not in results:
                results[name] = HealthStatus(
                    name=name,
                    type="?",
                    status="timeout",
                    detail=f"no answer within {grace:g} s",
                )
        return {name: results[name] for name, _ in threads}


def check_in_processes(
    registry: Registry,
    names: Iterable[str] | None = None,
    *,
    timeout: float | None = None,
    grace: float = 5.0,
) -> dict[str, HealthStatus]:
    """Like :meth:`Registry.health_check`, each datasource in a forked child process.

    For the command line, not for an application: the children import their
    drivers on every core at once instead of under one GIL, and a check that
    outlives its deadline (a driver stuck in a C call) is killed instead of
    left running. What every check needs (SQLAlchemy, the option models) is
    imported once before forking, so each child imports only its own driver.
    Where ``os.fork`` does not exist, it is ``registry.health_check``.

    ``timeout`` (default: each datasource's own) counts from this call, not
    from the moment a check's driver has loaded: the command answers within
    about ``timeout`` however long the imports took. A check whose driver
    took most of that to load still gets a quarter of it to connect. A child
    that has not answered ``grace`` seconds after its timeout (stuck in a
    driver's import or initializer, where no deadline reaches) is killed and
    reported as timed out.
    """
    import os

    started = time.monotonic()
    selected = list(dict.fromkeys(name.lower() for name in names)) if names else registry.names()
    if not hasattr(os, "fork"):
        return registry.health_check(selected, timeout=timeout)
    groups, largest_timeout = _process_groups(registry, selected)
    if len(groups) < 2:
        return registry.health_check(selected, timeout=timeout)
    children: dict[int, tuple[list[str], int]] = {}  # read end -> (names, pid)
    for group in groups:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(read_end)
            _answer_and_exit(registry, group, timeout, started, write_end)
        os.close(write_end)
        children[read_end] = (group, pid)
    limit = (timeout if timeout is not None else largest_timeout) + grace
    results = _collect(children, limit)
    return {name: results[name] for name in selected}


def _process_groups(registry: Registry, selected: list[str]) -> tuple[list[list[str]], float]:
    """One process per datasource, except that those sharing an in-process store
    (a Milvus Lite file, a Chroma folder) share one; and the largest timeout among
    them. What the checks have in common (SQLAlchemy, the option models and their
    schemas) is imported here, once."""
    from pathlib import Path

    from .base import SQLDatasource
    from .options import DEFAULT_TIMEOUT
    from .registry import load_type

    groups: list[list[str]] = []
    by_store: dict[Path, list[str]] = {}
    largest_timeout = DEFAULT_TIMEOUT
    for name in selected:
        try:
            if issubclass(load_type(registry.type_of(name), datasource=name), SQLDatasource):
                import sqlalchemy  # noqa: F401
            datasource = registry.build(name)
        except Exception:  # the child reports it, worded as every build failure is
            groups.append([name])
            continue
        largest_timeout = max(largest_timeout, datasource.timeout)
        store = datasource.in_process_store()
        if store is None:
            groups.append([name])
        elif store in by_store:
            by_store[store].append(name)
        else:
            by_store[store] = [name]
            groups.append(by_store[store])
    return groups, largest_timeout


def _answer_and_exit(
    registry: Registry, names: list[str], timeout: float | None, started: float, write_end: int
) -> NoReturn:  # pragma: no cover - runs in the forked child
    import json
    import os

    code = 0
    try:
        statuses = registry.health_check(names, timeout=timeout, started=started)
        payload = json.dumps([status.as_dict() for status in statuses.values()]).encode()
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:  # the parent reports a child that ended without answering
        code = 1
    finally:
        # no interpreter teardown: it could block in a driver's threads
        os._exit(code)


def _collect(children: dict[int, tuple[list[str], int]], limit: float) -> dict[str, HealthStatus]:
    import contextlib
    import json
    import os
    import selectors
    import signal

    received: dict[int, bytearray] = {fd: bytearray() for fd in children}
    deadline = time.monotonic() + limit
    with selectors.DefaultSelector() as selector:
        for fd in children:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    received[key.fd] += chunk
                else:
                    selector.unregister(key.fd)
        unanswered = set(selector.get_map())
    results: dict[str, HealthStatus] = {}
    for fd, (names, pid) in children.items():
        os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # harmless for a child that answered and exited
        os.waitpid(pid, 0)
        try:
            for answer in json.loads(received[fd]):
                status = HealthStatus.from_dict(answer)
                results[status.name] = status
        except (ValueError, KeyError, TypeError):
            for name in names:
                results[name] = HealthStatus(
                    name=name,
                    type="?",
                    status="timeout" if fd in unanswered else "error",
                    detail=f"no answer within {limit:g} s"
                    if fd in unanswered
                    else "the check's process ended without an answer",
                )
    return results
