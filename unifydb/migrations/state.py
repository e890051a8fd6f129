"""Where each database stands: ``unifydb migrate status`` and ``unifydb migrate check``."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError, UnifyDBError

from .runner import check_directory, find_directory

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData

    from unifydb.registry import Registry


@dataclass
class Status:
    """One datasource's revision against the scripts' heads."""

    datasource: str
    current: str | None
    head: str | None
    pending: int | None
    #: "up to date", "behind", "unknown" (a revision the scripts do not know), "error"
    state: str
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scripts(directory: str | os.PathLike[str] | None) -> ScriptDirectory:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    ini, location = find_directory(directory)
    check_directory(location)
    config = Config(file_=str(ini) if ini else None)
    config.set_main_option("script_location", str(location).replace("%", "%%"))
    return ScriptDirectory.from_config(config)


def status(
    registry: Registry, names: list[str], *, directory: str | os.PathLike[str] | None = None
) -> list[Status]:
    """Current revision vs head for each datasource, with the number of pending
    revisions; ``unknown`` when the database names a revision the scripts lack."""
    from alembic.migration import MigrationContext

    script = scripts(directory)
    heads = script.get_heads()
    head = ",".join(heads) if heads else None
    found: list[Status] = []
    for name in names:
        try:
            with registry.get_engine(name).connect() as connection:
                current_heads = MigrationContext.configure(connection).get_current_heads()
        except UnifyDBError as error:
            found.append(Status(name, None, head, None, "error", str(error)))
            continue
        current = ",".join(current_heads) if current_heads else None
        try:
            lower = tuple(current_heads) if current_heads else "base"
            pending = len(list(script.iterate_revisions(tuple(heads), lower)))
        except Exception:  # a revision the scripts do not know
            found.append(Status(name, current, head, None, "unknown"))
            continue
        state = "up to date" if pending == 0 else "behind"
        found.append(Status(name, current, head, pending, state))
    return found


def load_metadata(spec: str) -> MetaData:
    """``"myapp.models:Base.metadata"`` -> that MetaData (the working directory is importable)."""
    from sqlalchemy import MetaData

    module_name, _, path = spec.partition(":")
    if not module_name or not path:
        raise ConfigurationError(
            f"{spec!r} does not name a MetaData as module:attribute",
            key="--metadata",
            fix="write it as myapp.models:Base.metadata",
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
        for attribute in path.split("."):
            value = getattr(value, attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"cannot load {spec!r}: {type(error).__name__}: {error}",
            key="--metadata",
            fix="check the module path (run from the project folder) and the attribute",
        ) from None
    if not isinstance(value, MetaData):
        raise ConfigurationError(
            f"{spec!r} is a {type(value).__name__}, not a sqlalchemy MetaData",
            key="--metadata",
            fix="point it at your models' metadata, e.g. myapp.models:Base.metadata",
        )
    return value


def metadata_spec(given: str | None, configured: str | None = None) -> str:
    """``--metadata``, else the datasource's ``models`` setting, else ``metadata`` in
    alembic.ini's ``[unifydb]`` section."""
    if given:
        return given
    if configured:
        return configured
    ini = Path("alembic.ini")
    if ini.is_file():
        import configparser

        parser = configparser.ConfigParser()
        parser.read(ini)
        if parser.has_option("unifydb", "metadata"):
            return parser.get("unifydb", "metadata")
    raise ConfigurationError(
        "no models to compare the database with",
        key="--metadata",
        fix="pass --metadata myapp.models:Base.metadata, set the datasource's models key, "
        "or set metadata in the [unifydb] section of alembic.ini",
    )


def drift(registry: Registry, name: str, metadata: MetaData) -> list[str]:
    """The differences between the database's schema and the models (Alembic's
    autogenerate comparison), as one line each; empty when they match."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with registry.get_engine(name).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    return [_describe(item) for item in differences]


def _describe(item: Any) -> str:
    if isinstance(item, list):  # column changes come grouped
        return "; ".join(_describe(sub) for sub in item)
    kind, *rest = item
    subject = next(
        (getattr(part, "name", None) for part in reversed(rest) if getattr(part, "name", None)),
        None,
    )
    table = next(
        (
            part.table.name
            for part in rest
            if getattr(part, "table", None) is not None and hasattr(part.table, "name")
        ),
        None,
    )
    where = f"{table}.{subject}" if table and subject and table != subject else subject
    return f"{kind} {where or ''}".strip()
