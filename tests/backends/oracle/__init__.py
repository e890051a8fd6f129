"""Tests of the oracle datasource type."""
