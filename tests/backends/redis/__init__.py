"""Tests of the redis type."""
