"""Twins of services that have no databases to create: a free database number
(Redis), an index prefix (Elasticsearch), a namespace (Pinecone).

Each keeps a test run's data apart on the same server, as far as the service
allows; what it does not cover is said in its class and in the README's
"Testing your application".
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from .store_twins import ServerStoreTwin
from .twins import TwinContext
from .workspace import TestDatabaseError

if TYPE_CHECKING:
    from unifydb.base import Datasource

#: key in database 0 that says which run holds a Redis database number
REDIS_CLAIM = "unifydb_test_claim:"
#: database numbers a Redis server has when CONFIG GET is not allowed (managed Redis)
REDIS_DEFAULT_DATABASES = 16


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisTwin(ServerStoreTwin):
    """Redis: an empty database number of the same server, counting down from
    the highest; claimed by a key in database 0 (``unifydb_test_claim:<n>``, the
    twin's name) so that concurrent runs and workers never share one, and
    flushed at the end. A database that holds keys is never taken."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        self.original_db = int(getattr(context.datasource.options, "db", 0) or 0)
        self.name = context.twin_name(f"db{self.original_db}")
        self.db: int | None = None
        self._databases: dict[int, Datasource[Any]] = {}

    def admin_changes(self) -> dict[str, Any]:
        return {"db": 0}  # where the claims are kept

    def client(self, *, db: int = 0) -> Any:
        if db == 0:
            return super().client()
        if db not in self._databases:
            self._databases[db] = self.context.admin(db=db)
        return self._databases[db].get_client()

    def server(self) -> str:
        # the server without a database number (redis://host:port/0, unix://path?db=0)
        return super().server().removesuffix("/0").removesuffix("?db=0")

    def _database_count(self) -> int:
        try:
            found = self.client(db=0).config_get("databases")
        except Exception:  # CONFIG is often disabled on managed servers
            return REDIS_DEFAULT_DATABASES
        values = {_text(key): _text(value) for key, value in dict(found).items()}
        return int(values.get("databases", REDIS_DEFAULT_DATABASES))

    def create(self) -> None:
        claims = self.client(db=0)
        for db in range(self._database_count() - 1, 0, -1):
            if db == self.original_db or not claims.set(f"{REDIS_CLAIM}{db}", self.name, nx=True):
                continue
            if self.client(db=db).dbsize() == 0:
                self.db = db
                return
            claims.delete(f"{REDIS_CLAIM}{db}")  # someone's data: leave it alone
        raise TestDatabaseError(
            "no empty, unclaimed database number is left on the Redis server",
            datasource=self.context.name,
            key="db",
            fix="raise the server's 'databases' setting, run fewer pytest-xdist workers, "
            "or empty a database number the tests may use",
        )

    def changes(self) -> dict[str, Any]:
        return {"db": self.db}

    def _release(self, db: int, name: str) -> None:
        self.client(db=db).flushdb()
        claims = self.client(db=0)
        if _text(claims.get(f"{REDIS_CLAIM}{db}") or "") == name:
            claims.delete(f"{REDIS_CLAIM}{db}")

    def drop(self) -> None:
        if self.db is not None:
            self._release(self.db, self.name)

    def sweep(self) -> list[str]:
        claims = self.client(db=0)
        held: dict[str, int] = {}
        for key in claims.scan_iter(match=f"{REDIS_CLAIM}*"):
            name = claims.get(key)
            if name is not None:
                held[_text(name)] = int(_text(key).removeprefix(REDIS_CLAIM))
        stale = self.context.stale(list(held))
        for name in stale:
            self._release(held[name], name)
        return stale

    def where(self) -> str:
        return f"database {self.db} on {self.server()}"

    def close(self) -> None:
        databases, self._databases = self._databases, {}
        for datasource in databases.values():
            datasource.close()
        super().close()


class ElasticsearchTwin(ServerStoreTwin):
    """Elasticsearch: an ``index_prefix`` per run and worker; the indexes whose
    names start with it are deleted at the end. Code under test must name its
    indexes through ``datasource.index_name(name)``."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        original = getattr(context.datasource.options, "index_prefix", "") or "index"
        self.prefix = context.twin_name(original.rstrip("_-.") or "index") + "_"

    def changes(self) -> dict[str, Any]:
        return {"index_prefix": self.prefix}

    def _indexes(self, pattern: str) -> list[str]:
        found = self.client().indices.get(
            index=pattern, expand_wildcards="all", allow_no_indices=True, ignore_unavailable=True
        )
        return sorted(found)

    def _delete(self, names: list[str]) -> None:
        # one by name: wildcard deletes are refused by default (action.destructive_requires_name)
        for name in names:
            self.client().indices.delete(index=name, ignore_unavailable=True)

    def drop(self) -> None:
        self._delete(self._indexes(f"{self.prefix}*"))

    def sweep(self) -> list[str]:
        stale = self.context.stale(self._indexes("unifydb_test_*"))
        self._delete(stale)
        return stale

    def where(self) -> str:
        return f"indexes {self.prefix}* on {self.server()}"


class PineconeTwin(ServerStoreTwin):
    """Pinecone: a namespace per run and worker, in the configured index (else
    in every index of the project); its records are deleted at the end. Indexes
    the tests create (``create_collection``) are the project's own: a namespace
    keeps records apart, not indexes."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        original = getattr(context.datasource.options, "namespace", "") or "default"
        self.namespace = context.twin_name(original)

    def changes(self) -> dict[str, Any]:
        return {"namespace": self.namespace}

    def _indexes(self) -> list[Any]:
        datasource: Any = self.admin()
        client = datasource.get_client()
        configured = datasource.options.index_name
        names = [configured] if configured else list(client.list_indexes().names())
        return [datasource.index_for(client, name) for name in names]

    @staticmethod
    def _delete_namespace(index: Any, namespace: str) -> None:
        from pinecone.exceptions import NotFoundException

        with contextlib.suppress(NotFoundException):  # nothing was written to it
            index.delete(delete_all=True, namespace=namespace)

    def drop(self) -> None:
        for index in self._indexes():
            self._delete_namespace(index, self.namespace)

    def sweep(self) -> list[str]:
        swept: list[str] = []
        for index in self._indexes():
            namespaces = list(index.describe_index_stats().namespaces or {})
            for namespace in self.context.stale(namespaces):
                self._delete_namespace(index, namespace)
                swept.append(namespace)
        return swept

    def where(self) -> str:
        return f"namespace {self.namespace} on {self.server()}"
