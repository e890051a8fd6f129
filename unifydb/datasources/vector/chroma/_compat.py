"""What unifydb needs from chromadb that its public API does not offer.

chromadb builds its HTTP clients without a timeout, keeps every client's
System in a class-level table that closing does not always empty, and its
async client has no ``close()``. The helpers here bound requests and forget
Systems no client holds; each names the private attribute it relies on, and
degrades to doing nothing when chromadb changes it.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def bounded_http_client_class() -> type[Any]:
    """A chromadb ``Client`` whose HTTP requests time out.

    chromadb builds its ``httpx.Client(timeout=None)`` itself and its Settings
    have no timeout, so requests to a server that accepts and never answers
    would wait forever. The constructor already sends requests (user identity,
    then tenant and database through an admin client with a System and session
    of its own), so the timeout is set just before each of those.
    """
    from chromadb.api.client import Client

    class BoundedHttpClient(Client):  # type: ignore[misc]
        def __init__(self, *, timeout: float, **kwargs: Any) -> None:
            self._unifydb_timeout = timeout
            super().__init__(**kwargs)

        def get_user_identity(self) -> Any:
            bound_session(getattr(self, "_server", None), self._unifydb_timeout)
            return super().get_user_identity()

        def _validate_tenant_database(self, tenant: str, database: str) -> None:
            bound_session(admin_server(self), self._unifydb_timeout)
            super()._validate_tenant_database(tenant=tenant, database=database)

        # chromadb's classes refuse overriding methods not marked by the
        # `overrides` package, whose decorator cannot see this class's bases
        for _method in (get_user_identity, _validate_tenant_database):
            setattr(_method, "__override__", True)  # noqa: B010
        del _method

    return BoundedHttpClient


def admin_server(client: Any) -> Any:
    return getattr(getattr(client, "_admin_client", None), "_server", None)


def http_session(server: Any) -> Any:
    import httpx

    session = getattr(server, "_session", None)
    return session if isinstance(session, httpx.Client) else None


def bound_session(server: Any, timeout: float) -> None:
    session = http_session(server)
    if session is not None:
        session.timeout = timeout  # httpx turns a number into Timeout(connect=read=write=pool)


def bound_async_requests(client: Any, timeout: float) -> None:
    """Give the httpx.AsyncClient chromadb creates per event loop a timeout."""
    for server in (getattr(client, "_server", None), admin_server(client)):
        make = getattr(server, "_get_client", None)
        if server is None or make is None:
            continue

        def bounded(make: Any = make) -> Any:
            http = make()
            http.timeout = timeout
            return http

        server._get_client = bounded


def systems_of(client: Any) -> set[int]:
    """ids of the chromadb Systems a client (and its admin client) uses."""
    from chromadb.api.shared_system_client import SharedSystemClient

    table = getattr(SharedSystemClient, "_identifier_to_system", {})
    systems: set[int] = set()
    for owner in (client, getattr(client, "_admin_client", None)):
        system = table.get(getattr(owner, "_identifier", None))
        if system is not None:
            systems.add(id(system))
    return systems


def forget_systems(systems: set[int], *, release: bool = False) -> None:
    """Drop chromadb's table entries for these Systems that no client holds any more
    (``release``: drop them even if held, for clients that cannot be closed).

    ``SharedSystemClient`` keeps every System in a class-level table. Closing
    a client stops its System once the reference count reaches zero, but HTTP
    clients also register an extra, uncounted alias (``from_system``), and the
    async client has no ``close()`` at all; without this those Systems, and
    their connection pools, would live as long as the process. The async
    client's Systems are not stopped: stopping one runs chromadb's
    ``async_to_sync`` cleanup, which needs an event loop we do not have here;
    its pooled connections go with the garbage collector.
    """
    if not systems:
        return
    from chromadb.api.shared_system_client import SharedSystemClient

    table = getattr(SharedSystemClient, "_identifier_to_system", None)
    counts = getattr(SharedSystemClient, "_identifier_to_refcount", None)
    lock = getattr(SharedSystemClient, "_refcount_lock", None)
    if not isinstance(table, dict) or not isinstance(counts, dict) or lock is None:
        return
    with lock:
        held = set() if release else {id(table[key]) for key in counts if key in table}
        for key, system in list(table.items()):
            if id(system) in systems and id(system) not in held:
                del table[key]
                counts.pop(key, None)
