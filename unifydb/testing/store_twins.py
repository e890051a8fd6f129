"""Twins of document, wide-column and vector stores: a database (MongoDB, a
Chroma or Milvus server), a keyspace (Cassandra), or a temp folder or file
for the embedded ones (Chroma, Milvus Lite)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .twins import Twin, TwinContext

if TYPE_CHECKING:
    from unifydb.base import Datasource


class ServerStoreTwin(Twin):
    """A twin on a server reached through the datasource's own client."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        self._admin: Datasource[Any] | None = None

    def admin_changes(self) -> dict[str, Any]:
        return {}

    def admin(self) -> Datasource[Any]:
        if self._admin is None:
            self._admin = self.context.admin(**self.admin_changes())
        return self._admin

    def client(self) -> Any:
        return self.admin().get_client()

    def server(self) -> str:
        return self.admin().target()

    def check(self) -> None:
        status = self.admin().health_check()
        if not status.ok:
            status.raise_for_status()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()


class MongoDBTwin(ServerStoreTwin):
    """MongoDB: a database (created by the first write, as MongoDB does).

    Code under test must name its database through the datasource (its
    ``database`` setting, e.g. ``get_datasource(name).database``), not a
    database name of its own."""

    name_limit = 63

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        options = context.datasource.options
        original = getattr(options, "database", None)
        url = getattr(options, "url", None)
        if not original and url is not None:
            text = url.get_secret_value()
            if text.startswith("mongodb://"):
                original = urlsplit(text).path.lstrip("/")
        self.database = context.twin_name(original or "db", limit=self.name_limit)

    def changes(self) -> dict[str, Any]:
        return {"database": self.database}

    def drop(self) -> None:
        self.client().drop_database(self.database)

    def sweep(self) -> list[str]:
        client = self.client()
        stale = self.context.stale(list(client.list_database_names()))
        for name in stale:
            client.drop_database(name)
        return stale

    def where(self) -> str:
        return f"database {self.database} on {self.server()}"


class CassandraTwin(ServerStoreTwin):
    """Cassandra: a keyspace with the original keyspace's replication (else
    SimpleStrategy, one replica)."""

    name_limit = 48

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        self.original = getattr(context.datasource.options, "keyspace", None) or "ks"
        self.keyspace = context.twin_name(self.original, limit=self.name_limit)

    def changes(self) -> dict[str, Any]:
        return {"keyspace": self.keyspace}

    def admin_changes(self) -> dict[str, Any]:
        return {"keyspace": None}

    def create(self) -> None:
        session = self.client()
        replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        original = session.cluster.metadata.keyspaces.get(self.original)
        if original is not None and original.replication_strategy is not None:
            replication = original.replication_strategy.export_for_schema()
        session.execute(
            f'CREATE KEYSPACE IF NOT EXISTS "{self.keyspace}" WITH replication = {replication}'
        )

    def drop(self) -> None:
        self.client().execute(f'DROP KEYSPACE IF EXISTS "{self.keyspace}"')

    def sweep(self) -> list[str]:
        session = self.client()
        session.cluster.refresh_schema_metadata()
        stale = self.context.stale(list(session.cluster.metadata.keyspaces))
        for name in stale:
            session.execute(f'DROP KEYSPACE IF EXISTS "{name}"')
        return stale

    def where(self) -> str:
        return f"keyspace {self.keyspace} on {self.server()}"


class ChromaTwin(ServerStoreTwin):
    """Chroma: embedded (a path, or in memory) -> a temp folder; a server -> a
    database of the configured tenant."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        options = context.datasource.options
        self.remote = getattr(context.datasource, "mode", None) == "http"
        if self.remote:
            self.database = context.twin_name(getattr(options, "database", None) or "default")
        else:
            path = getattr(options, "path", None)
            original = Path(path).name if path else "memory"
            self.path = context.folder / context.twin_name(original)

    def changes(self) -> dict[str, Any]:
        if self.remote:
            return {"database": self.database}
        return {"path": str(self.path), "use_local": True}

    def server(self) -> str:
        return super().server() if self.remote else ""

    def check(self) -> None:
        if self.remote:
            super().check()

    def _admin_client(self) -> Any:
        import chromadb

        return chromadb.AdminClient(self.client().get_settings())

    def _tenant(self) -> str:
        from chromadb.config import DEFAULT_TENANT

        return getattr(self.context.datasource.options, "tenant", None) or DEFAULT_TENANT

    def create(self) -> None:
        if self.remote:
            self._admin_client().create_database(self.database, tenant=self._tenant())
        else:
            self.path.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        if self.remote:
            self._admin_client().delete_database(self.database, tenant=self._tenant())
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def sweep(self) -> list[str]:
        if not self.remote:
            return []  # temp folders go with pytest's own basetemp rotation
        admin = self._admin_client()
        names = [database["name"] for database in admin.list_databases(tenant=self._tenant())]
        stale = self.context.stale(names)
        for name in stale:
            admin.delete_database(name, tenant=self._tenant())
        return stale

    def where(self) -> str:
        if self.remote:
            return f"database {self.database} on {self.server()}"
        return f"folder {self.path}"


class MilvusTwin(ServerStoreTwin):
    """Milvus: Milvus Lite (a .db file) -> a temp file; a server -> a database
    (``db_name``), dropped with its collections."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        options = context.datasource.options
        self.lite = bool(getattr(options, "is_lite", False))
        if self.lite:
            original = Path(str(getattr(options, "address", "milvus"))).stem
            self.path = context.folder / f"{context.twin_name(original)}.db"
        else:
            self.database = context.twin_name(getattr(options, "db_name", None) or "default")

    def changes(self) -> dict[str, Any]:
        if self.lite:
            return {"uri": str(self.path)}
        return {"db_name": self.database}

    def admin_changes(self) -> dict[str, Any]:
        return {"db_name": None}

    def server(self) -> str:
        return "" if self.lite else super().server()

    def check(self) -> None:
        if not self.lite:
            super().check()

    def create(self) -> None:
        if self.lite:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            self.client().create_database(self.database)

    def _drop_database(self, name: str) -> None:
        client = self.client()
        client.using_database(name)
        for collection in client.list_collections():
            client.drop_collection(collection)
        client.using_database("default")
        client.drop_database(name)

    def drop(self) -> None:
        if self.lite:
            # Milvus Lite keeps a folder under the .db name, and a lock file beside it
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.unlink(missing_ok=True)
            self.path.with_name(f".{self.path.name}.lock").unlink(missing_ok=True)
        elif self.database in self.client().list_databases():
            self._drop_database(self.database)

    def sweep(self) -> list[str]:
        if self.lite:
            return []
        stale = self.context.stale(list(self.client().list_databases()))
        for name in stale:
            self._drop_database(name)
        return stale

    def where(self) -> str:
        return f"file {self.path}" if self.lite else f"database {self.database} on {self.server()}"


class QdrantTwin(Twin):
    """Qdrant: qdrant-client's local mode in a temp folder. A server has no
    databases to keep runs apart, so a server datasource's twin is local mode
    too: the same client API, run in the test process (server-only features,
    such as gRPC or cluster calls, are not there)."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        options = context.datasource.options
        path = getattr(options, "path", None)
        self.was_server = getattr(options, "mode", "local") == "server"
        if self.was_server:
            original = urlsplit(getattr(options, "url", None) or "").hostname or getattr(
                options, "host", None
            )
        else:
            original = Path(path).name if path and path != ":memory:" else "memory"
        self.path = context.folder / context.twin_name(original or "qdrant")

    def changes(self) -> dict[str, Any]:
        return {"path": str(self.path), "url": None, "host": None, "api_key": None}

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def where(self) -> str:
        instead = " (local mode, instead of the server)" if self.was_server else ""
        return f"folder {self.path}{instead}"
