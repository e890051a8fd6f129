"""Tests of the cassandra datasource type."""
