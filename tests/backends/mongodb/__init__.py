"""Tests of the mongodb datasource type."""
