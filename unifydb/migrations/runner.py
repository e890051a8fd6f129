"""``unifydb migrate``: any project's Alembic environment, on any configured datasource.

Foreign ``env.py`` files run unchanged. Alembic's cookbook has them take a
live connection from ``config.attributes["connection"]`` (else build an engine
from ``sqlalchemy.url``); unifydb provides both, and keeps
``config.attributes["unifydb.registry"]`` for env.py files written for it.
Without an alembic.ini, Alembic's logging is configured from a generated file
(logging sections only), so a run is not silent and ``fileConfig`` works.

Each target is migrated under a lock of its database (:mod:`.locks`). On
MySQL, MariaDB and Oracle, which commit every DDL statement, each revision
runs in its own transaction, so the version table tracks every revision that
completed; a failure says which revision failed and what the version table
says now. Several targets are migrated one after the other, past failures
(unless ``fail_fast``), and reported together.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifydb import telemetry
from unifydb.errors import ConfigurationError, DatasourceConnectionError, UnifyDBError

from .env import commits_ddl, offline_url
from .failures import RevisionFailed, failing_revision, failure_line
from .locks import migration_lock

if TYPE_CHECKING:
    from alembic.config import Config

    from unifydb.registry import Registry

DEFAULT_DIRECTORY = "migrations"
#: seconds to wait for another run's lock on the same database
DEFAULT_LOCK_TIMEOUT = 300.0

_LOGGING_INI = """\
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


@dataclass
class TargetResult:
    """How one datasource's migration went."""

    datasource: str
    status: str  # "ok", "failed", "skipped"
    before: str | None = None
    after: str | None = None
    seconds: float = 0.0
    error: str | None = None
    #: what went right but deserves a look (e.g. rows whose foreign key lost its parent)
    warnings: list[str] = field(default_factory=list)
    #: the exception behind ``error`` (for ``--debug``; not in :meth:`as_dict`)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("exception", None)
        return data


def find_directory(directory: str | os.PathLike[str] | None) -> tuple[Path | None, Path]:
    """(alembic.ini to read or None, script directory) for ``unifydb migrate``."""
    ini = Path("alembic.ini")
    if directory is not None:
        return (ini if ini.is_file() else None), Path(directory)
    if ini.is_file():
        from alembic.config import Config

        location = Config(str(ini)).get_main_option("script_location")
        if location:
            return ini, Path(location.replace("%(here)s", str(ini.resolve().parent)))
    return None, Path(DEFAULT_DIRECTORY)


def check_directory(script_location: Path) -> None:
    if not (script_location / "env.py").is_file():
        raise ConfigurationError(
            f"no Alembic environment in {str(script_location)!r} (env.py not found)",
            key="--directory",
            fix="run from the project folder, pass --directory, or create one with "
            "`alembic init` and call unifydb.migrations.run_migrations() in its env.py",
        )


def migrate(
    datasources: Sequence[str],
    alembic_args: Sequence[str],
    *,
    directory: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
    echo: Callable[[str], Any] = print,
    fail_fast: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> list[TargetResult]:
    """Run one Alembic command (e.g. ``["upgrade", "head"]``) on each datasource in
    turn; one :class:`TargetResult` each. A failed target does not stop the
    others unless ``fail_fast`` (the rest are then ``skipped``)."""
    from alembic.config import CommandLine

    if registry is None:
        from unifydb.registry import default_registry

        registry = default_registry()
    ini, script_location = find_directory(directory)
    check_directory(script_location)
    command_line = CommandLine(prog="unifydb migrate")
    options = command_line.parser.parse_args(list(alembic_args))
    if not hasattr(options, "cmd"):
        command_line.parser.error("an Alembic command is required, e.g. upgrade head")
    options.raiseerr = True  # Alembic's own errors come back as exceptions, not exit(255)
    results: list[TargetResult] = []
    with _logging_ini(ini) as config_file:
        for name in datasources:
            if fail_fast and any(result.status == "failed" for result in results):
                results.append(TargetResult(name, "skipped"))
                continue
            if len(datasources) > 1:
                echo(f"== {name}")
            with telemetry.span(
                "unifydb.migrate", datasource=name, command=options.cmd[0].__name__
            ):
                results.append(
                    _migrate_one(
                        name,
                        options,
                        command_line,
                        registry=registry,
                        config_file=config_file,
                        script_location=script_location,
                        lock_timeout=lock_timeout,
                    )
                )
    return results


@contextlib.contextmanager
def _logging_ini(ini: Path | None) -> Iterator[str]:
    """The alembic.ini to use, or a generated one holding only logging sections."""
    if ini is not None:
        yield str(ini)
        return
    with tempfile.TemporaryDirectory(prefix="unifydb-alembic-") as folder:
        path = Path(folder) / "alembic.ini"
        path.write_text(_LOGGING_INI)
        yield str(path)


def make_config(
    config_file: str, script_location: Path, options: Any, registry: Registry, name: str
) -> Config:
    from alembic.config import Config

    from . import dialects  # noqa: F401 - Alembic support for DuckDB and Athena

    config = Config(file_=config_file, cmd_opts=options)
    # configparser reads a "%" as interpolation
    config.set_main_option("script_location", str(script_location).replace("%", "%%"))
    config.attributes["unifydb.registry"] = registry
    config.attributes["unifydb.datasource"] = name
    options.x = [item for item in (options.x or []) if not item.startswith("datasource=")]
    options.x.append(f"datasource={name}")
    return config


def _migrate_one(
    name: str,
    options: Any,
    command_line: Any,
    *,
    registry: Registry,
    config_file: str,
    script_location: Path,
    lock_timeout: float,
) -> TargetResult:
    started = time.monotonic()
    result = TargetResult(name, "ok")
    config = make_config(config_file, script_location, options, registry, name)
    try:
        if getattr(options, "sql", False):
            # offline: the dialect's URL without its password (env.py files that
            # read sqlalchemy.url get the right dialect; no secret is written)
            url = offline_url(registry, name)
            config.set_main_option("sqlalchemy.url", _escaped(url))
            command_line.run_cmd(config, options)
        else:
            _run_online(name, options, command_line, config, registry, lock_timeout, result)
    except RevisionFailed as failed:
        error = failed.error
        result.exception = error
        if isinstance(error, UnifyDBError) and failed.revision is None:
            result.status, result.error = "failed", str(error)
        else:
            line = failure_line(
                error, result, failed.revision, rolled_back=failed.rolled_back,
                partial=failed.partial,
            )  # fmt: skip
            result.status, result.error = "failed", registry.redact(line)
    except UnifyDBError as error:
        result.status, result.error, result.exception = "failed", str(error), error
    except Exception as error:  # an env.py's own failure, offline
        result.exception = error
        line = failure_line(error, result, None, offline=getattr(options, "sql", False))
        result.status, result.error = "failed", registry.redact(line)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _run_online(  # noqa: PLR0917 - the pieces of one target's run
    name: str,
    options: Any,
    command_line: Any,
    config: Config,
    registry: Registry,
    lock_timeout: float,
    result: TargetResult,
) -> None:
    from unifydb.base import SQLDatasource

    datasource = registry.get_datasource(name)
    if not isinstance(datasource, SQLDatasource):
        raise ConfigurationError(
            f"{datasource.type} is not a SQL datasource; Alembic migrates SQL databases only",
            datasource=name,
            fix="pick a relational datasource (postgres, mysql, sqlite, ...)",
        )
    migrating = datasource.migration_datasource()
    try:
        engine = migrating.get_engine()
        # the URL for env.py files that build their own engine: in memory only
        config.set_main_option(
            "sqlalchemy.url", _escaped(engine.url.render_as_string(hide_password=False))
        )
        result.before = current_revision(engine)
        with migration_lock(engine, datasource=name, timeout=lock_timeout):
            applied: list[str] = []
            transactional = getattr(migrating, "transactional_ddl", False)
            try:
                with engine.connect() as connection, _configure_defaults(applied, transactional):
                    config.attributes["connection"] = connection
                    command_line.run_cmd(config, options)
                    if connection.in_transaction():
                        connection.commit()
            except Exception as error:
                result.after = current_revision(engine)
                failing = failing_revision(error, config, options, result.after)
                dialect = engine.dialect.name
                # SQLite undoes DDL only inside the real transactions of the twin
                rolled_back = dialect != "sqlite" or transactional
                if commits_ddl(dialect):
                    rolled_back = False
                raise RevisionFailed(error, failing, rolled_back, commits_ddl(dialect)) from error
            finally:
                config.attributes.pop("connection", None)
        result.after = current_revision(engine)
        moved = result.before != result.after
        if moved and migrating is not datasource and engine.dialect.name == "sqlite":
            result.warnings += foreign_key_violations(engine)
    finally:
        if migrating is not datasource:
            migrating.close()


def foreign_key_violations(engine: Any) -> list[str]:
    """What SQLite's ``PRAGMA foreign_key_check`` finds, one line per table and parent."""
    from collections import Counter

    from sqlalchemy import text

    with engine.connect() as connection:
        rows = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    counts = Counter((row[0], row[2]) for row in rows)
    return [
        f"{count} row(s) of {table} reference a missing row of {parent} (PRAGMA foreign_key_check)"
        for (table, parent), count in sorted(counts.items())
    ]


def current_revision(engine: Any) -> str | None:
    """The revision(s) the database's version table names (None: none yet)."""
    from alembic.migration import MigrationContext

    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    except DatasourceConnectionError:
        raise
    except Exception:  # no version table reachable: leave it unknown
        return None
    return ",".join(heads) if heads else None


@contextlib.contextmanager
def _configure_defaults(applied: list[str], transactional_ddl: bool = False) -> Iterator[None]:
    """While a foreign env.py runs: on databases that commit each DDL statement,
    one transaction per revision (unless the env.py says otherwise); where the
    engine makes DDL transactional that Alembic thinks is not (SQLite's twin),
    Alembic told so; and every applied revision noted."""
    from alembic.runtime.environment import EnvironmentContext

    original = EnvironmentContext.configure

    def configure(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection = kwargs.get("connection")
        if connection is not None and commits_ddl(connection.dialect.name):
            kwargs.setdefault("transaction_per_migration", True)
        if transactional_ddl:
            kwargs.setdefault("transactional_ddl", True)
        user_callback = kwargs.get("on_version_apply")

        def note(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            applied.append(str(getattr(step, "up_revision_id", "") or ""))
            if user_callback is not None:
                user_callback(ctx=ctx, step=step, heads=heads, run_args=run_args)

        kwargs["on_version_apply"] = note
        return original(self, *args, **kwargs)

    EnvironmentContext.configure = configure  # type: ignore[method-assign]
    try:
        yield
    finally:
        EnvironmentContext.configure = original  # type: ignore[method-assign]


def _escaped(url: Any) -> str:
    # configparser reads "%" as interpolation; a password may hold one
    return str(url).replace("%", "%%")


def sql_datasources(registry: Registry) -> list[str]:
    """Configured datasources that are SQL databases (relational ones, and pgvector),
    in settings order."""
    from unifydb.base import SQLDatasource
    from unifydb.registry import load_type

    names = []
    for name in registry.names():
        info = registry.inspect(name)
        if not info.configured or not info.known_type:
            continue
        if issubclass(load_type(info.type, datasource=name), SQLDatasource):
            names.append(name)
    return names
