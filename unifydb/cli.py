"""The ``unifydb`` command: list, show and check datasources (and run migrations).

Tables are drawn with rich on a terminal and as plain aligned text otherwise;
``--json`` prints machine-readable output. Nothing printed ever contains a
secret: configs go through the options' redaction and errors are scrubbed
where they are raised.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .registry import Registry


#: the registry of the running command: errors printed by :func:`run` are
#: scrubbed with the secrets of every datasource it built
_current_registry: Registry | None = None
#: ``--debug``: print tracebacks of failures
_debug = False


def _registry(ctx: click.Context) -> Registry:
    global _current_registry
    from .registry import Registry

    registry = ctx.obj.get("registry") if ctx.obj else None
    if registry is None:
        settings = ctx.obj.get("settings") if ctx.obj else None
        registry = Registry(list(settings) if settings else None)
        ctx.obj["registry"] = registry
    _current_registry = registry
    return registry


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A positive, finite number of seconds; more than an hour is capped at one."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        import math

        from ._deadline import MAX_TIMEOUT

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return min(number, MAX_TIMEOUT)


def _print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None
) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    click.echo("\n".join(lines))


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Settings file to load (repeatable). Default: UNIFYDB_SETTINGS, or ./settings.toml "
    "and ./.secrets.toml.",
)
@click.option("--debug", is_flag=True, help="Print the traceback of a failure.")
@click.version_option(package_name="unifydb", message="unifydb %(version)s")
@click.pass_context
def main(ctx: click.Context, settings: tuple[str, ...], debug: bool) -> None:
    """One settings tree, every connection: inspect and check unifydb datasources."""
    global _debug
    _debug = debug
    ctx.ensure_object(dict)
    ctx.obj["settings"] = settings


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every datasource: type, driver installed, configured (and what is missing)."""
    from .errors import UnifyDBError

    try:
        registry = _registry(ctx)
        infos = [registry.inspect(name) for name in registry.names()]
    except UnifyDBError as error:
        _fail(str(error))
        return
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": info.name,
                        "type": info.type,
                        "driver_installed": info.driver_installed,
                        "extra": info.extra,
                        "configured": info.configured,
                        "missing_variables": list(info.missing_variables),
                        "problem": info.problem,
                    }
                    for info in infos
                ],
                indent=2,
            )
        )
        return
    if not infos:
        click.echo(
            "no datasources configured: create settings.toml (see README) or set UNIFYDB_SETTINGS"
        )
        return
    rows = []
    for info in infos:
        if info.driver_installed is None:
            driver = "?"
        elif info.driver_installed:
            driver = "installed"
        else:
            driver = f"missing: pip install 'unifydb[{info.extra}]'"
        if info.problem:
            configured = f"no: {info.problem}"
        elif info.missing_variables:
            configured = "no: set " + ", ".join(info.missing_variables)
        else:
            configured = "yes"
        rows.append([info.name, info.type, driver, configured])
    _print_table(["name", "type", "driver", "configured"], rows)


@main.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """The resolved settings of NAME and its URL, secrets redacted."""
    from .errors import UnifyDBError

    try:
        described = _registry(ctx).build(name).describe()
    except UnifyDBError as error:
        _fail(str(error), 1)
        return
    if as_json:
        click.echo(json.dumps(described, indent=2, default=str))
        return
    rows = [["type", described["type"]], ["target", described["target"] or "-"]]
    rows += [[key, _format_value(value)] for key, value in sorted(described["options"].items())]
    _print_table(["key", "value"], rows, title=f"datasource {described['name']}")


def _format_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


@main.command("check")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--timeout",
    type=Seconds(),
    default=None,
    help="Seconds each datasource has to answer (default: its own 'timeout'; at most "
    "3600). With --processes they count from the command's start, loading drivers included.",
)
@click.option(
    "--processes/--threads",
    "in_processes",
    default=True,
    help="Check in a pool of forked worker processes (the default where the OS can fork: "
    "drivers import on every core, and a stuck check is killed), or in threads of this "
    "process.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    default=None,
    help="Worker processes for --processes (default: the CPU count, at least 2).",
)
@click.pass_context
def check_command(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    names: tuple[str, ...],
    as_json: bool,
    timeout: float | None,
    in_processes: bool,
    workers: int | None,
) -> None:
    """Health-check datasources in parallel; exit 1 if a configured one fails."""
    from .errors import UnifyDBError
    from .health import check_in_processes

    registry = _registry(ctx)
    try:
        for name in names:
            registry.entry(name)
        if in_processes:
            results = check_in_processes(registry, names or None, timeout=timeout, workers=workers)
        else:
            results = registry.health_check(names or None, timeout=timeout)
    except UnifyDBError as error:
        _fail(str(error))
        return
    if as_json:
        click.echo(json.dumps([status.as_dict() for status in results.values()], indent=2))
    else:
        rows = []
        for status in results.values():
            latency = "-" if status.latency_ms is None else f"{status.latency_ms:.1f} ms"
            rows.append(
                [
                    status.name,
                    status.type,
                    status.status.replace("_", " "),
                    latency,
                    status.server_version or "-",
                    status.detail,
                ]
            )
        _print_table(["name", "type", "status", "latency", "version", "detail"], rows)
    sys.exit(1 if any(status.failed for status in results.values()) else 0)


@main.command(
    "migrate",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option(
    "--datasource", "-d", "names", multiple=True, help="Datasource to migrate (repeatable)."
)
@click.option("--all", "all_sql", is_flag=True, help="Every configured SQL datasource, in turn.")
@click.option(
    "--directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Alembic environment folder (default: ./migrations, or what ./alembic.ini names).",
)
@click.argument("alembic_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def migrate_command(
    ctx: click.Context,
    names: tuple[str, ...],
    all_sql: bool,
    directory: str | None,
    alembic_args: tuple[str, ...],
) -> None:
    """Run an Alembic command on SQL datasources, e.g. `upgrade head` or `downgrade base`.

    ALEMBIC_ARGS are Alembic's own (`upgrade head --sql` writes the SQL instead
    of running it, for any dialect, without a server).
    """
    from .errors import UnifyDBError
    from .migrations import migrate, sql_datasources

    registry = _registry(ctx)
    try:
        if all_sql:
            selected = sql_datasources(registry)
            if not selected:
                _fail("no configured SQL datasource to migrate")
        elif names:
            for name in names:
                registry.entry(name)  # an unknown name fails before anything runs
            selected = [name.lower() for name in names]
        else:
            _fail("name a datasource with --datasource NAME, or use --all")
            return
        if not alembic_args:
            _fail(
                "give an Alembic command, e.g. `unifydb migrate --datasource sqlite upgrade head`"
            )
        migrate(selected, alembic_args, directory=directory, registry=registry, echo=click.echo)
    except UnifyDBError as error:
        if _debug:
            raise  # run() prints the traceback, then the same line
        _fail(failure_line(error), 1)
    finally:
        registry.close_all()


def failure_line(error: BaseException) -> str:
    """One line for a failure: a unifydb error as it is, anything else as its type
    and first line; secrets of every datasource built so far removed."""
    from .errors import UnifyDBError

    if isinstance(error, UnifyDBError):
        text = str(error)
    else:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        text = f"{type(error).__name__}: {first}".rstrip(": ")
    if _current_registry is not None:
        text = _current_registry.redact(text)
    return " ".join(text.split())


def run() -> None:
    """The console script: ``main``, then an immediate exit.

    Every failure a user can cause ends as one ``error: ...`` line on stderr
    and exit code 1 (2 for usage errors); ``--debug`` adds the traceback.

    Health checks abandoned at their deadline may still sit in a driver's C
    call (a hung server, a client whose teardown blocks in gRPC); interpreter
    shutdown would wait for them and turn "bounded" into "hung". Once the
    answer is printed the process ends at once, so the command's time is the
    checks' time. (``main`` itself stays an ordinary click command for callers
    that embed it.)
    """
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)
    except Exception as error:
        if _debug:
            import traceback

            text = "".join(traceback.format_exception(error))
            if _current_registry is not None:
                text = _current_registry.redact(text)
            print(text, file=sys.stderr, end="")
        hint = "" if _debug else " (run with --debug for the traceback)"
        from .errors import UnifyDBError

        print(
            f"error: {failure_line(error)}{hint if not isinstance(error, UnifyDBError) else ''}",
            file=sys.stderr,
        )
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
