"""The registry a test run uses: the application's settings, every datasource
pointed at a throwaway twin made on first use.

:class:`TwinRegistry` is a :class:`~unifydb.Registry`: the first time a
datasource is asked for, its twin is made (the server checked, leftovers of
crashed runs swept, the twin created and, with migrations on, migrated, or
cloned from a migrated template), then the datasource is replaced by one
pointing at the twin (:meth:`~unifydb.Registry.replace`). :meth:`finish`
drops them all (or keeps them, with ``keep``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError, UnifyDBError
from unifydb.registry import Registry

from .isolation import JoinedTransactions
from .naming import DEFAULT_STALE_AFTER, MAIN_WORKER, RunId
from .twins import Twin, TwinContext, changed_entry, twin_class

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unifydb.base import Datasource


class TestDatabaseError(UnifyDBError):
    """A throwaway twin could not be made, migrated or used as declared."""

    __test__ = False  # not a test class, whatever pytest's naming rules say


@dataclass
class RunOptions:
    """How the plugin was configured for this run (from the command line and ini)."""

    #: what Registry(settings=...) takes; None: unifydb's default settings files
    settings: Any = None
    run: RunId = field(default_factory=RunId.new)
    worker: str = MAIN_WORKER
    #: this worker's folder for file twins
    folder: Path = field(default_factory=Path.cwd)
    keep: bool = False
    migrate: bool = False
    #: Alembic directory per datasource name ("*": every SQL datasource)
    migrations: Mapping[str, Path] = field(default_factory=dict)
    admin_urls: Mapping[str, str] = field(default_factory=dict)
    stale_after_hours: float = DEFAULT_STALE_AFTER
    #: clone a migrated PostgreSQL template instead of migrating in every worker
    use_templates: bool = False


@dataclass
class TwinReport:
    """What happened to one datasource's twin in this worker."""

    datasource: str
    type: str
    worker: str
    where: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    swept: list[str] = field(default_factory=list)
    kept: bool = False
    error: str | None = None

    def line(self) -> str:
        steps = ", ".join(f"{step} {value:.3f}" for step, value in self.seconds.items())
        text = f"{self.datasource} ({self.type}, {self.worker}): {steps or 'nothing made'}"
        if self.swept:
            text += f"; swept {len(self.swept)} stale"
        if self.kept:
            text += f"; kept: {self.where}"
        if self.error:
            text += f"; {self.error}"
        return text


class TwinRegistry(Registry):
    """A registry whose datasources are throwaway twins, each made on first use."""

    __test__ = False

    def __init__(self, options: RunOptions) -> None:
        super().__init__(options.settings)
        self.run_options = options
        #: datasources a test declared (its marker); None: any
        self.allowed: frozenset[str] | None = None
        self.joined: JoinedTransactions | None = None
        self.reports: dict[str, TwinReport] = {}
        self._twins: dict[str, Twin] = {}
        self._ready: set[str] = set()
        #: twins being made right now (their migrations ask for them again)
        self._making: set[str] = set()
        self._failures: dict[str, BaseException] = {}
        self._swept: set[str] = set()
        self._twin_lock = threading.RLock()

    # ------------------------------------------------------------------ first use

    def get_datasource(self, name: str) -> Datasource[Any]:
        key = name.lower()
        allowed = self.allowed
        if allowed is not None and key not in allowed:
            raise TestDatabaseError(
                "is not among the datasources this test declared",
                datasource=key,
                fix=f"add {key!r} to @pytest.mark.unifydb(datasources=[...])",
            )
        if key not in self._ready and key not in self._making:
            self.prepare(key)
        return super().get_datasource(name)

    def get_engine(self, name: str) -> Any:
        # not cached in the registry, whose cache unifydb.get_engine() reads
        # directly: every call goes through get_datasource and its checks
        return self.get_datasource(name).get_engine()

    def joined_connection(self, name: str, *, asynchronous: bool = False) -> Connection | None:
        """The test's connection sessions join (see :mod:`.isolation`); None outside one."""
        joined = self.joined
        return joined.connection(name, asynchronous=asynchronous) if joined else None

    def prepare(self, name: str) -> None:
        """Make ``name``'s twin now, unless done; a failure is remembered and
        raised again at once for the next tests."""
        key = name.lower()
        with self._twin_lock:
            if key in self._ready:
                return
            failure = self._failures.get(key)
            if failure is not None:
                raise failure
            self._making.add(key)
            try:
                self._make_twin(key)
            except BaseException as error:
                self._failures[key] = error
                report = self.reports.get(key)
                if report is not None:
                    report.error = f"failed: {type(error).__name__}"
                raise
            finally:
                self._making.discard(key)
            self._ready.add(key)

    def _make_twin(self, name: str) -> None:
        options = self.run_options
        entry = dict(self.entry(name))
        if entry.get("template"):
            raise TestDatabaseError(
                "is a template (tenants): the pytest plugin makes twins of plain datasources",
                datasource=name,
                fix="declare the datasources the test uses, not the template",
            )
        original = self.build_entry(name, entry)
        context = TwinContext(
            datasource=original,
            entry=entry,
            run=options.run,
            worker=options.worker,
            folder=options.folder,
            build=lambda changed: self.build_entry(name, changed),
            admin_url=options.admin_urls.get(name),
            stale_after_hours=options.stale_after_hours,
        )
        twin = twin_class(original.type_name, datasource=name)(context)
        report = TwinReport(name, original.type_name, options.worker)
        report.seconds = context.timings
        self.reports[name] = report
        started = time.perf_counter()
        try:
            with context.timed("check"):
                twin.check()
            server = twin.server()
            if server and server not in self._swept:
                self._swept.add(server)
                with context.timed("sweep"):
                    report.swept = twin.sweep()
            directory = self._migrations_for(name, original)
            self._twins[name] = twin
            if directory is not None and twin.supports_template and options.use_templates:
                twin.create_from_template(
                    lambda changes: self._migrate_variant(name, entry, original, changes, directory)
                )
                with context.timed("build"):
                    self.replace(name, changed_entry(original, entry, twin.changes()))
            else:
                with context.timed("create"):
                    twin.create()
                with context.timed("build"):
                    self.replace(name, changed_entry(original, entry, twin.changes()))
                if directory is not None:
                    with context.timed("migrate"):
                        migrate_to_head(name, self, directory)
        finally:
            twin.close()
            context.timings["total"] = time.perf_counter() - started
        report.where = twin.where()

    def _migrations_for(self, name: str, datasource: Datasource[Any]) -> Path | None:
        if not self.run_options.migrate or datasource.category != "relational":
            return None
        migrations = self.run_options.migrations
        return migrations.get(name, migrations.get("*"))

    def _migrate_variant(
        self,
        name: str,
        entry: Mapping[str, Any],
        original: Datasource[Any],
        changes: dict[str, Any],
        directory: Path,
    ) -> None:
        variant = Registry(
            settings={"datasources": {name: changed_entry(original, entry, changes)}}
        )
        try:
            migrate_to_head(name, variant, directory)
        finally:
            variant.close_all()

    # ------------------------------------------------------------------ the end

    def finish(self, warn: Callable[[str], Any]) -> list[TwinReport]:
        """Close everything, then drop the twins (or keep them: ``keep``)."""
        if self.joined is not None:
            self.joined.end()
            self.joined = None
        self.close_all()
        made, self._twins = self._twins, {}
        for name, twin in made.items():
            report = self.reports[name]
            if self.run_options.keep:
                report.kept = True
                continue
            try:
                with twin.context.timed("drop"):
                    twin.drop()
                    if twin.supports_template and self.run_options.use_templates:
                        twin.drop_template()
            except Exception as error:  # drop the others, then say what was left
                reason = self.redact(f"{type(error).__name__}: {error}")
                report.error = f"not dropped: {reason}"
                warn(f"unifydb: the twin of {name!r} was not dropped ({report.where}): {reason}")
            finally:
                twin.close()
        return list(self.reports.values())


def migrate_to_head(name: str, registry: Registry, directory: Path) -> None:
    """``alembic upgrade head`` on ``name`` through unifydb's runner."""
    from unifydb.migrations import migrate

    results = migrate(
        [name], ["upgrade", "head"], directory=directory, registry=registry, echo=lambda _: None
    )
    failed = [result for result in results if result.status != "ok"]
    if failed:
        raise TestDatabaseError(
            f"migrating its test database failed: {failed[0].error}",
            datasource=name,
            fix=f"run `unifydb migrate --datasource {name} --directory {directory} upgrade head` "
            "on a scratch database to see the whole error",
        )


def check_directory(name: str, directory: Path) -> Path:
    if not (directory / "env.py").is_file():
        raise ConfigurationError(
            f"no Alembic environment in {str(directory)!r} (env.py not found)",
            datasource=None if name == "*" else name,
            key="unifydb_migrations",
            fix="point the unifydb_migrations ini option at the folder holding env.py "
            "(relative to the ini file)",
        )
    return directory
