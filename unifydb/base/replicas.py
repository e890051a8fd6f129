"""Read replicas of a SQL datasource: validated with the primary, built on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from unifydb.errors import ConfigurationError
from unifydb.options import Options

D = TypeVar("D")


class Replicas(Generic[D]):
    """The replicas of one primary (which one serves a read is
    :class:`~unifydb.base.routing.ReplicaRouter`'s business).

    ``options`` are validated when the primary is built, so a typo in a
    replica is reported at once, against the primary's name and the key
    ``replicas.<n>``; the replica datasources are built on first use.
    """

    def __init__(self, options: list[Options], build: Callable[[int, Options], D]) -> None:
        self._options = options
        self._build = build
        self._built: list[D] | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def all(self) -> list[D]:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = [
                        self._build(index, options)
                        for index, options in enumerate(self._options, start=1)
                    ]
        return self._built

    def existing(self) -> list[D]:
        """Those built so far."""
        return list(self._built or [])

    def built(self) -> list[D]:
        """Those built so far (for closing), forgetting them."""
        built, self._built = self._built or [], None
        return built


def replica_options(
    primary: Options,
    spec: dict[str, Any] | str,
    *,
    index: int,
    name: str,
    parse: Callable[[str, dict[str, Any] | str, dict[str, Any]], Options],
) -> Options:
    """The options of replica ``index``: the primary's, overridden by ``spec``
    (a URL, or a table of keys). Errors name the primary and ``replicas.<index>``."""
    defaults = {field.name: field.default for field in primary.fields().values()}
    inherited = {
        key: value
        for key, value in primary.items()
        if key != "replicas" and value != defaults.get(key)
    }
    try:
        return parse(f"{name}.replica{index}", spec, inherited)
    except ConfigurationError as error:
        problem = ConfigurationError(
            f"replica {index}: {error.message}",
            datasource=name,
            key=f"replicas.{index}" + (f".{error.key}" if error.key else ""),
            fix=error.fix,
        )
    raise problem
