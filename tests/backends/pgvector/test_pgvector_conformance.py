"""The vector conformance suite (``unifydb.testing.vectors``) on pgvector: PGlite with
the pgvector extension, served over the PostgreSQL wire protocol (started once per
session), and a real PostgreSQL with pgvector when ``UNIFYDB_TEST_PGVECTOR_URL`` names
one (this machine's PostgreSQL 15 has no pgvector package in Debian 12).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import skip_unless_env
from unifydb.datasources.relational.postgres.pgvector import PgvectorDatasource
from unifydb.testing.vectors import VectorStoreConformance


@pytest.mark.live
class TestPgvectorOnPGlite(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls, pglite_server: Any) -> Iterator[PgvectorDatasource]:
        source = PgvectorDatasource("vec", pglite_server.settings())
        yield source
        source.close()


@pytest.mark.live
class TestPgvectorOnPostgres(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls) -> Iterator[PgvectorDatasource]:
        url = skip_unless_env("UNIFYDB_TEST_PGVECTOR_URL")
        source = PgvectorDatasource("vec", {"url": url})
        yield source
        source.close()
