"""Test suites a backend's own tests can reuse (they need pytest).

- :mod:`unifydb.testing.vectors`: :class:`~unifydb.testing.vectors.VectorStoreConformance`,
  the conformance tests of the unified vector API; subclass it to run them
  against a vector datasource.
- :mod:`unifydb.testing.plugin`: the pytest plugin (entry point ``pytest11``
  ``unifydb``): throwaway twins of an application's datasources per run and
  xdist worker (:mod:`.workspace`, :mod:`.twins` and the twins of each kind in
  :mod:`.sql_twins` and :mod:`.store_twins`, named by :mod:`.naming`), and
  sessions rolled back after each test (:mod:`.isolation`).

Nothing here is imported by ``import unifydb``.
"""
