"""Test suites a backend's own tests can reuse (they need pytest).

- :mod:`unifydb.testing.vectors`: :class:`~unifydb.testing.vectors.VectorStoreConformance`,
  the conformance tests of the unified vector API; subclass it to run them
  against a vector datasource.

Nothing here is imported by ``import unifydb``.
"""
