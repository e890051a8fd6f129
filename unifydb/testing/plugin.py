"""unifydb's pytest plugin: every test run gets its own throwaway databases.

Registered through the ``pytest11`` entry point ``unifydb``, so it is on as
soon as unifydb is installed, and inert until a test asks for one of its
fixtures or carries its marker (``-p no:unifydb`` turns it off):

* ``unifydb_registry`` (session, one per xdist worker): a registry built from
  the application's settings in which every datasource used points at a
  throwaway twin, made on first use and dropped at the end; it is also the
  default registry, so ``unifydb.get_engine(...)`` in the code under test
  sees the twins;
* ``db_session`` and ``unifydb_session(name)`` (function): ORM sessions
  whose work, and the commits of the code under test, are rolled back;
* ``@pytest.mark.unifydb(datasources=[...], rollback=True)``: the datasources
  a test needs, made before it runs (an unreachable server skips or fails
  it), the only ones it may touch;
* ``--unifydb-keep``, ``--unifydb-migrate``, ``--unifydb-unreachable`` and the
  ``unifydb_*`` ini options (see ``pytest --help``).

Nothing heavy is imported until a fixture runs.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .naming import DEFAULT_STALE_AFTER, MAIN_WORKER, RunId

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .workspace import RunOptions, TwinRegistry

MARKER = "unifydb"
_RUN = "unifydb_run"
_OUTPUT = "unifydb_reports"
UNREACHABLE_CHOICES = ("skip", "fail")


class PluginState:
    """This process's part of the run: its run id, worker and registry."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        keep = bool(config.getoption("unifydb_keep"))
        if workerinput is not None and _RUN in workerinput:
            self.run = RunId.decode(workerinput[_RUN])
            self.worker = str(workerinput["workerid"])
            self.workers = int(workerinput.get("workercount", 1))
        else:
            self.run = RunId.new(keep=keep)
            self.worker, self.workers = MAIN_WORKER, 1
        self.registry: TwinRegistry | None = None
        self.lines: list[str] = []

    @property
    def base(self) -> Path:
        """Where relative paths in ini options start: the ini file's folder."""
        config = self.config
        return config.inipath.parent if config.inipath is not None else config.rootpath

    def run_options(self, folder: Path) -> RunOptions:
        from .workspace import RunOptions

        config = self.config
        settings = [str(path) for path in config.getini("unifydb_settings")]
        migrate = bool(config.getoption("unifydb_migrate")) or bool(
            config.getini("unifydb_migrate")
        )
        return RunOptions(
            settings=settings or None,
            run=self.run,
            worker=self.worker,
            folder=folder,
            keep=bool(config.getoption("unifydb_keep")),
            migrate=migrate,
            migrations=self.migrations() if migrate else {},
            admin_urls=self.admin_urls(),
            stale_after_hours=float(config.getini("unifydb_stale_after") or DEFAULT_STALE_AFTER),
            use_templates=self.workers > 1,
        )

    def migrations(self) -> dict[str, Path]:
        from .workspace import check_directory

        found: dict[str, Path] = {}
        for line in self.config.getini("unifydb_migrations"):
            name, equals, directory = line.partition("=")
            if not equals:
                name, directory = "*", line
            found[name.strip().lower()] = self.base / directory.strip()
        if not found:
            found["*"] = default_migrations(self.base)
        return {name: check_directory(name, path) for name, path in found.items()}

    def admin_urls(self) -> dict[str, str]:
        from unifydb.settings import resolve_placeholders

        urls: dict[str, str] = {}
        for line in self.config.getini("unifydb_admin_urls"):
            name, equals, url = line.partition("=")
            if not equals:
                raise pytest.UsageError(
                    "unifydb_admin_urls: write one 'NAME = URL' per line "
                    "(the URL may use ${VARIABLE})"
                )
            urls[name.strip().lower()] = str(resolve_placeholders(url.strip())[0])
        return urls

    def unreachable(self) -> str:
        chosen = self.config.getoption("unifydb_unreachable") or self.config.getini(
            "unifydb_unreachable"
        )
        if not chosen:
            return "fail" if os.environ.get("CI") else "skip"
        if chosen not in UNREACHABLE_CHOICES:
            raise pytest.UsageError(f"unifydb_unreachable must be skip or fail, not {chosen!r}")
        return str(chosen)

    def open(self, tmp_path_factory: pytest.TempPathFactory) -> TwinRegistry:
        from .workspace import TwinRegistry

        if self.registry is None:
            folder = tmp_path_factory.mktemp("unifydb")
            self.registry = TwinRegistry(self.run_options(folder))
        return self.registry

    def finish(self) -> None:
        registry, self.registry = self.registry, None
        if registry is None:
            return
        warnings: list[str] = []
        reports = registry.finish(warnings.append)
        self.lines += [report.line() for report in reports] + warnings


_STATE = pytest.StashKey[PluginState]()


def default_migrations(base: Path) -> Path:
    """``alembic.ini``'s script_location next to the ini file, else ``migrations/``."""
    ini = base / "alembic.ini"
    if ini.is_file():
        parser = configparser.ConfigParser()
        parser.read(ini)
        location = parser.get("alembic", "script_location", fallback=None, raw=True)
        if location:
            return base / location.replace("%(here)s", str(base))
    return base / "migrations"


# ----------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unifydb", "unifydb: throwaway databases for tests")
    group.addoption(
        "--unifydb-keep",
        action="store_true",
        default=False,
        help="keep the throwaway databases after the run and print where they are",
    )
    group.addoption(
        "--unifydb-migrate",
        action="store_true",
        default=False,
        help="run the application's Alembic migrations on each SQL twin before its first test",
    )
    group.addoption(
        "--unifydb-unreachable",
        choices=UNREACHABLE_CHOICES,
        default=None,
        help="when a server a test declared cannot be reached: skip the test or fail it "
        "(default: fail when CI is set, else skip)",
    )
    parser.addini(
        "unifydb_settings", "settings files (default: unifydb's own lookup)", type="paths"
    )
    parser.addini("unifydb_migrate", "run migrations, as --unifydb-migrate", type="bool")
    parser.addini(
        "unifydb_migrations",
        "the Alembic folder, or one 'NAME = FOLDER' line per datasource to migrate "
        "(default: alembic.ini's script_location, else migrations/)",
        type="linelist",
    )
    parser.addini(
        "unifydb_admin_urls",
        "'NAME = URL' lines: an account that creates and drops NAME's throwaway databases",
        type="linelist",
    )
    parser.addini("unifydb_unreachable", "skip or fail, as --unifydb-unreachable", default="")
    parser.addini(
        "unifydb_stale_after",
        "hours after which any leftover throwaway database is dropped",
        default=str(DEFAULT_STALE_AFTER),
    )
    parser.addini("unifydb_datasource", "the datasource db_session opens", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "unifydb(datasources=[...], rollback=True): the datasources the test uses, "
        "made before it runs; its sessions are rolled back unless rollback=False",
    )
    config.stash[_STATE] = PluginState(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's run id."""
    node.workerinput[_RUN] = node.config.stash[_STATE].run.encode()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    lines = getattr(node, "workeroutput", {}).get(_OUTPUT, [])
    node.config.stash[_STATE].lines.extend(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    # async transactions end on the test's event loop, which closes right after
    registry = item.config.stash[_STATE].registry
    if registry is not None and registry.joined is not None:
        registry.joined.end_async()


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    state.finish()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_OUTPUT] = list(state.lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash[_STATE].lines
    if lines:
        terminalreporter.section("unifydb throwaway databases (seconds)")
        for line in sorted(lines):
            terminalreporter.write_line(line)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def unifydb_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwinRegistry]:
    """The application's registry, every datasource a throwaway twin (per xdist
    worker); also unifydb's default registry while the run lasts."""
    import unifydb

    state = request.config.stash[_STATE]
    registry = state.open(tmp_path_factory)
    previous = unifydb.set_default_registry(registry)
    try:
        yield registry
    finally:
        unifydb.set_default_registry(previous)
        state.finish()


@pytest.fixture
def _unifydb_transaction(unifydb_registry: TwinRegistry) -> Iterator[None]:
    """One outer transaction per datasource the test touches, rolled back after it."""
    from .isolation import JoinedTransactions

    joined = JoinedTransactions(unifydb_registry)
    unifydb_registry.joined = joined
    try:
        yield
    finally:
        unifydb_registry.joined = None
        joined.end()


class Sessions:
    """``unifydb_session(name)``: ORM sessions joined to the test's transactions."""

    def __init__(self, registry: TwinRegistry, default: str | None) -> None:
        self.registry = registry
        self.default = default
        self._opened: list[Any] = []

    def __call__(
        self,
        name: str | None = None,
        *,
        asynchronous: bool = False,
        readonly: bool = False,
        **options: Any,
    ) -> Any:
        """A ``Session`` (an ``AsyncSession`` with ``asynchronous=True``) for
        ``name`` (default: the marker's first datasource, else the
        ``unifydb_datasource`` ini option); models declaring ``__datasource__``
        go to their own, rolled back all the same."""
        options.setdefault("join_transaction_mode", "create_savepoint")
        chosen = name or self.default
        if asynchronous:
            factory = self.registry.async_sessionmaker(chosen, readonly=readonly, **options)
            session = factory()
            joined = self.registry.joined
            if joined is not None:
                joined.track_async_session(session)
            return session
        session = self.registry.sessionmaker(chosen, readonly=readonly, **options)()
        self._opened.append(session)
        return session

    def close(self) -> None:
        for session in self._opened:
            session.close()


@pytest.fixture
def unifydb_session(
    request: pytest.FixtureRequest, unifydb_registry: TwinRegistry, _unifydb_transaction: None
) -> Iterator[Sessions]:
    """``unifydb_session("orders")``: a session whose work, and every commit of
    the code under test, is rolled back after the test."""
    import unifydb

    unifydb.set_default_registry(unifydb_registry)
    sessions = Sessions(unifydb_registry, _default_datasource(request))
    try:
        yield sessions
    finally:
        sessions.close()


@pytest.fixture
def db_session(unifydb_session: Sessions) -> Session:
    """A session on the default datasource, rolled back after the test."""
    session: Session = unifydb_session()
    return session


@pytest.fixture(autouse=True)
def _unifydb_marker(request: pytest.FixtureRequest) -> None:
    """Does nothing unless the test carries @pytest.mark.unifydb."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return
    import unifydb
    from unifydb.errors import DatasourceConnectionError

    registry: TwinRegistry = request.getfixturevalue("unifydb_registry")
    declared = _declared(marker)
    for name in declared or ():
        unreachable = None
        try:
            registry.prepare(name)
        except DatasourceConnectionError as error:
            unreachable = f"unifydb: datasource {name!r} is unreachable: {error}"
        if unreachable is not None:  # out of the except block: no chained traceback
            if request.config.stash[_STATE].unreachable() == "skip":
                pytest.skip(unreachable)
            pytest.fail(unreachable, pytrace=False)
    if declared is not None:
        registry.allowed = frozenset(declared)
        request.addfinalizer(lambda: setattr(registry, "allowed", None))
    if marker.kwargs.get("rollback", True):
        request.getfixturevalue("_unifydb_transaction")
    unifydb.set_default_registry(registry)


def _declared(marker: pytest.Mark) -> list[str] | None:
    names = marker.kwargs.get("datasources", marker.args[0] if marker.args else None)
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise pytest.UsageError(
            "@pytest.mark.unifydb(datasources=[...]) takes a list of datasource names"
        )
    return [name.lower() for name in names]


def _default_datasource(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker(MARKER)
    declared = _declared(marker) if marker is not None else None
    if declared:
        return declared[0]
    return str(request.config.getini("unifydb_datasource") or "") or None
