"""Tests of the duckdb type."""
