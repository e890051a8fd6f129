"""Tests of the milvus datasource type."""
