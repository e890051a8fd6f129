"""unifydb's test suite (see tests/README.md for the layout).

A package, so that test modules in different folders may share a basename and
import ``tests.helpers`` and ``tests.servers``.
"""
