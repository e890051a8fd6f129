"""Tests of the elasticsearch type."""
