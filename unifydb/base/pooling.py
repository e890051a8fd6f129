"""Connection pools of SQL engines."""

from __future__ import annotations

from typing import Any

from unifydb.errors import ConfigurationError


def pool_class(name: str, *, datasource: str) -> type[Any]:
    """A pool class named in settings (``"NullPool"``, ``"sqlalchemy.pool.QueuePool"``)."""
    import sqlalchemy.pool

    known = {
        attribute: value
        for attribute in dir(sqlalchemy.pool)
        if isinstance(value := getattr(sqlalchemy.pool, attribute), type)
        and issubclass(value, sqlalchemy.pool.Pool)
        and attribute.endswith("Pool")
        and attribute != "Pool"
    }
    short = name.removeprefix("sqlalchemy.pool.").removeprefix("sqlalchemy.pool.impl.")
    if short in known:
        return known[short]
    raise ConfigurationError(
        f"engine_options.poolclass {name!r} is not a SQLAlchemy pool class",
        datasource=datasource,
        key="engine_options",
        fix=f"use one of {', '.join(sorted(known))}",
    )
