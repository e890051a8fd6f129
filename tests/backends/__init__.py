"""Tests by backend: one folder per datasource type, and what the SQL types share."""
