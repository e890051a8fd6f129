"""The vector conformance suite on a real Pinecone project, when
``UNIFYDB_TEST_PINECONE_API_KEY`` is set (skipped otherwise: Pinecone is a hosted
service and cannot run here). ``UNIFYDB_TEST_PINECONE_CLOUD`` and
``UNIFYDB_TEST_PINECONE_REGION`` choose where the test indexes are created
(default aws / us-east-1). Indexes are created and dropped per test: it is slow,
and Pinecone's eventual consistency may make a read lag a write."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from tests.helpers import skip_unless_env
from unifydb.datasources.vector.pinecone import PineconeDatasource
from unifydb.testing.vectors import VectorStoreConformance


@pytest.mark.live
class TestPineconeLive(VectorStoreConformance):
    def unique(self, prefix: str) -> str:
        # index names: lowercase letters, digits and '-'
        return f"unifydb-{prefix.replace('_', '-').lower()}-{secrets.token_hex(3)}"

    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls) -> Iterator[PineconeDatasource]:
        api_key = skip_unless_env("UNIFYDB_TEST_PINECONE_API_KEY")
        source = PineconeDatasource(
            "vec",
            {
                "api_key": api_key,
                "cloud": os.environ.get("UNIFYDB_TEST_PINECONE_CLOUD", "aws"),
                "region": os.environ.get("UNIFYDB_TEST_PINECONE_REGION", "us-east-1"),
                "timeout": 60,
            },
        )
        yield source
        source.close()
