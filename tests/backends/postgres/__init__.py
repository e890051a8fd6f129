"""Tests of the postgres datasource type."""
