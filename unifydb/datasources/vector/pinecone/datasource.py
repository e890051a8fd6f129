"""Pinecone through the ``pinecone`` client (``pinecone.Pinecone``).

The client talks HTTPS to Pinecone's control plane (indexes) and to each
index's own data-plane host (records). Nothing connects until used; the health
check asks the index at ``host`` for its statistics when a host is given, else
the control plane for the list of indexes, bounded by ``timeout`` either way.
Pinecone is a hosted service: unifydb's tests run it only when
``UNIFYDB_TEST_PINECONE_API_KEY`` is set.
"""

from __future__ import annotations

from typing import Any

from unifydb.base import VectorDatasource

from .options import PineconeOptions
from .store import PineconeVectorStore


class PineconeDatasource(VectorDatasource[PineconeOptions]):
    """A Pinecone project: native client ``pinecone.Pinecone``, vectors through
    :meth:`vectors` (one index per collection)."""

    type_name = "pinecone"
    store_class = PineconeVectorStore

    @property
    def default_namespace(self) -> str | None:
        return self.options.namespace or None

    def _target(self) -> str:
        options = self.options
        if options.host:
            return options.host if "://" in options.host else f"https://{options.host}"
        return options.controller_host or "https://api.pinecone.io"

    def _connect(self) -> Any:
        from pinecone import Pinecone

        options = self.options
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if options.controller_host:
            kwargs["host"] = options.controller_host
        assert options.api_key is not None  # checked by the options
        return Pinecone(api_key=options.api_key.get_secret_value(), **kwargs)

    def index_for(self, client: Any, name: str) -> Any:
        """The data-plane client of index ``name`` (``host`` for ``index_name``)."""
        options = self.options
        if options.host and name == (options.index_name or name):
            return client.Index(host=options.host)
        return client.Index(name=name)

    def _probe(self, timeout: float) -> str | None:
        client = self.get_client()
        if self.options.host:
            self.index_for(client, self.options.index_name or "").describe_index_stats()
        else:
            client.list_indexes()
        return None

    def _close_client(self, client: Any) -> None:
        close = getattr(client, "close", None)
        if close is not None:
            close()
