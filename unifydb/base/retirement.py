"""Retirement: a datasource removed or replaced at runtime hands out nothing new.

The registry retires it and closes it once nothing is checked out (see
:mod:`unifydb.registry.draining`); code that kept a reference gets a clear
error instead of a connection to a datasource that no longer exists.
"""

from __future__ import annotations

import threading
from typing import Any

from unifydb.errors import UnifyDBError


class Retirement:
    """The retirement half of :class:`~unifydb.base.Datasource`."""

    _name: str
    _lock: threading.RLock
    #: removed or replaced at runtime: hands out nothing new, ever
    _retired: bool = False

    @property
    def retired(self) -> bool:
        """Removed or replaced at runtime (see :meth:`retire`)."""
        return self._retired

    def retire(self) -> None:
        """Hand out nothing new from now on: no engine, client or pooled
        connection; what is in use keeps working until it is returned. The
        registry closes the datasource once :meth:`in_use` says nothing is
        (or its drain timeout passes)."""
        with self._lock:
            self._retired = True
            self._refuse_new_work()

    def _refuse_new_work(self) -> None:
        """Hook: make the existing engines or clients refuse new work."""

    def pools(self) -> list[Any]:
        """The connection pools built so far (SQL datasources have them)."""
        return []

    def in_use(self) -> bool | None:
        """Whether connections are checked out right now; None when the driver
        cannot tell (a client type), so a drain waits its whole timeout."""
        return None

    def removed_error(self) -> UnifyDBError:
        from unifydb.errors import DatasourceRemovedError

        return DatasourceRemovedError(
            "was removed or replaced at runtime and hands out no new connections",
            datasource=self._name,
            fix="ask the registry again (registry.get_engine(name)) for its replacement",
        )
