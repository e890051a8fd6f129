"""The unified vector API on pgvector tables.

A collection is a table in ``schema_name``::

    namespace text NOT NULL DEFAULT '',  id text NOT NULL,
    embedding vector(n) NOT NULL,  metadata jsonb NOT NULL,  document text,
    PRIMARY KEY (namespace, id)

with a comment naming its metric, a GIN index on ``metadata`` and (by
default) an HNSW index on ``embedding`` with the metric's operator class.
Namespaces are the ``namespace`` column ('' is the default one). Scores:
``1 - (a <=> b)`` for cosine, ``-(a <#> b)`` for ip and ``-(a <-> b)^2`` for
l2. The asyncio twins run the same SQL on the datasource's async engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from unifydb.errors import UnifyDBError
from unifydb.vectorstore import (
    CollectionInfo,
    CollectionNotFoundError,
    Filter,
    Metric,
    Scalar,
    VectorHit,
    VectorRecord,
    Vectors,
)

from .statements import PgvectorStatements, Statement


class PgvectorStore(PgvectorStatements):
    """:class:`~unifydb.vectorstore.VectorStore` on pgvector tables (see the module docs)."""

    def __init__(self, datasource: Any) -> None:
        super().__init__(datasource)
        self._async_loop: Any = None

    @property
    def native_async(self) -> bool:
        return True

    def _client(self) -> Any:
        return self._pg.get_engine()

    # ------------------------------------------------------------------ SQL

    def _exec(self, statements: Sequence[Statement]) -> list[Any]:
        """Run ``statements`` in one transaction; the rows of the fetching ones."""
        from sqlalchemy import text

        results: list[Any] = []
        with self._client().begin() as connection:
            for statement in statements:
                result = connection.execute(text(statement.sql), statement.params)
                if statement.fetch:
                    results.append(result.fetchall())
        return results

    async def _aexec(self, statements: Sequence[Statement]) -> list[Any]:
        from sqlalchemy import text

        engine = await self._aclient()
        results: list[Any] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement.sql), statement.params)
                if statement.fetch:
                    results.append(result.fetchall())
        return results

    async def _aclient(self) -> Any:
        engine = await asyncio.to_thread(self._pg.get_async_engine)
        loop = asyncio.get_running_loop()
        if self._async_loop is not loop:
            # pooled asyncio connections belong to the loop that opened them
            if self._async_loop is not None:
                engine.sync_engine.dispose(close=False)
            self._async_loop = loop
        return engine

    async def _aclose(self) -> None:
        engine = self._pg.__dict__.get("_async_engine")
        if engine is not None:
            await engine.dispose()
        self._async_loop = None

    # ------------------------------------------------------------------ collections

    def _ensure_extension(self) -> None:
        installed, available = self._exec(self._extension_statements())
        if installed:
            return
        if not self._pg.options.create_extension:
            raise self._missing_extension(bool(available))
        if not available:
            raise self._missing_extension(False)
        try:
            self._exec([Statement("CREATE EXTENSION IF NOT EXISTS vector")])
        except Exception as error:
            raise self._missing_extension(True, error) from None

    async def _aensure_extension(self) -> None:
        installed, available = await self._aexec(self._extension_statements())
        if installed:
            return
        if not self._pg.options.create_extension or not available:
            raise self._missing_extension(bool(available))
        try:
            await self._aexec([Statement("CREATE EXTENSION IF NOT EXISTS vector")])
        except Exception as error:
            raise self._missing_extension(True, error) from None

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        self._forget(name)
        if not self._exec([self._exists_statement(name)])[0]:
            self._ensure_extension()
            try:
                self._exec(self._create_statements(name, dimension, metric))
                return
            except Exception:
                if not self._exec([self._exists_statement(name)])[0]:
                    raise
        self._check_existing(self._describe(name), dimension, metric, exist_ok)

    async def _acreate_collection(
        self, name: str, dimension: int, metric: Metric, exist_ok: bool
    ) -> None:
        self._forget(name)
        if not (await self._aexec([self._exists_statement(name)]))[0]:
            await self._aensure_extension()
            try:
                await self._aexec(self._create_statements(name, dimension, metric))
                return
            except Exception:
                if not (await self._aexec([self._exists_statement(name)]))[0]:
                    raise
        self._check_existing(await self._adescribe(name), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        self._forget(name)
        return bool(self._exec(self._drop_statements(name))[0])

    async def _adrop_collection(self, name: str) -> bool:
        self._forget(name)
        return bool((await self._aexec(self._drop_statements(name)))[0])

    def _has_collection(self, name: str) -> bool:
        return bool(self._exec([self._exists_statement(name)])[0])

    async def _ahas_collection(self, name: str) -> bool:
        return bool((await self._aexec([self._exists_statement(name)]))[0])

    def _list_collections(self) -> list[str]:
        return [row[0] for row in self._exec([self._list_statement()])[0]]

    async def _alist_collections(self) -> list[str]:
        return [row[0] for row in (await self._aexec([self._list_statement()]))[0]]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        return self._info(name, self._exec([self._info_statement(name)])[0])

    async def _afetch_info(self, client: Any, name: str) -> CollectionInfo:
        return self._info(name, (await self._aexec([self._info_statement(name)]))[0])

    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> None:
        self._exec(
            self._upsert_statements(info, ids, vectors, metadatas, documents, namespace=namespace)
        )

    async def _aupsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> None:
        await self._aexec(
            self._upsert_statements(info, ids, vectors, metadatas, documents, namespace=namespace)
        )

    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        return self._hits(
            info, self._exec(self._query_statements(info, vector, top_k, where, namespace))[-1]
        )

    async def _aquery(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        rows = (await self._aexec(self._query_statements(info, vector, top_k, where, namespace)))[
            -1
        ]
        return self._hits(info, rows)

    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        return self._records(self._exec([self._get_statement(info, ids, namespace)])[0])

    async def _aget(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        return self._records((await self._aexec([self._get_statement(info, ids, namespace)]))[0])

    def _delete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        self._exec([self._delete_statement(info, ids, where, namespace)])

    async def _adelete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        await self._aexec([self._delete_statement(info, ids, where, namespace)])

    def _count(self, info: CollectionInfo, where: Filter | None, *, namespace: str | None) -> int:
        return int(self._exec([self._count_statement(info, where, namespace)])[0][0][0])

    async def _acount(
        self, info: CollectionInfo, where: Filter | None, *, namespace: str | None
    ) -> int:
        rows = (await self._aexec([self._count_statement(info, where, namespace)]))[0]
        return int(rows[0][0])

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        self._forget()
        text = str(getattr(error, "orig", None) or error)
        if "does not exist" in text and "relation" in text:
            return CollectionNotFoundError(
                self.datasource.redact(f"{action} failed: {text.splitlines()[0]}"),
                datasource=self.datasource.name,
            )
        if isinstance(error, UnifyDBError):
            return error
        return self.datasource.connection_error(action, error)
