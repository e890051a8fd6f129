"""Tests of the sqlserver datasource type."""
