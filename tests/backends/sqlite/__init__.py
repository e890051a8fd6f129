"""Tests of the sqlite datasource type."""
