"""Tests of the athena type."""
