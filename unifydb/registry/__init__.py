"""Registries: one settings tree -> one datasource object per name.

* ``types.py``: which implementation serves which type (catalog, in-process
  registrations, entry points);
* ``entries.py``: names, raw entries and types, known without building;
* ``core.py``: :class:`Registry` and the default registry behind
  ``unifydb.get_engine()`` and friends.
"""

from .core import Registry, default_registry, set_default_registry
from .entries import EntryInfo
from .types import (
    ENTRY_POINT_GROUP,
    available_types,
    canonical_type,
    is_known_type,
    load_type,
    register,
    type_info,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "EntryInfo",
    "Registry",
    "available_types",
    "canonical_type",
    "default_registry",
    "is_known_type",
    "load_type",
    "register",
    "set_default_registry",
    "type_info",
    "unregister",
]
