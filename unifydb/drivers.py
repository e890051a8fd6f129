"""Finding drivers without importing them.

``unifydb list`` tells whether each datasource's driver is installed without
paying for its import (chromadb alone takes a second), the way SQLAlchemy's
dialect registry only names its drivers until one is used.
"""

from __future__ import annotations

import importlib.util


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(modules: tuple[str, ...] | list[str]) -> list[str]:
    """Those of ``modules`` that cannot be imported."""
    return [module for module in modules if not module_available(module)]
