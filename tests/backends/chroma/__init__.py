"""Tests of the chroma datasource type."""
