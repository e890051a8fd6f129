"""``unifydb migrate``: Alembic on every SQL datasource, plus ``status`` and ``check``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .app import Seconds, fail, failure_line, main, print_table, registry_of, session

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from unifydb.registry import Registry


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
    help="Alembic environment folder (default: ./migrations, or what ./alembic.ini names). "
    "Any project's env.py works: it gets config.attributes['connection'] and sqlalchemy.url.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-datasource report as JSON.")
@click.option(
    "--fail-fast", is_flag=True, help="Stop at the first datasource that fails (else go on)."
)
@click.option(
    "--lock-timeout",
    type=Seconds(),
    default=None,
    help="Seconds to wait for another migration of the same database (default 300).",
)
@click.option(
    "--metadata",
    default=None,
    help="For `migrate check`: the models as module:attribute, e.g. myapp.models:Base.metadata "
    "(default: the datasource's models key, else metadata in alembic.ini's [unifydb] section).",
)
@click.argument("alembic_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def migrate_command(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    names: tuple[str, ...],
    all_sql: bool,
    directory: str | None,
    as_json: bool,
    fail_fast: bool,
    lock_timeout: float | None,
    metadata: str | None,
    alembic_args: tuple[str, ...],
) -> None:
    """Run an Alembic command on SQL datasources, e.g. `upgrade head` or `downgrade base`.

    ALEMBIC_ARGS are Alembic's own (`upgrade head --sql` writes the SQL instead
    of running it, for any dialect, without a server). Two more: `migrate
    status` (each database's revision against the scripts' head) and `migrate
    check` (exit 1 when the schema differs from the models).
    """
    from unifydb.errors import UnifyDBError
    from unifydb.migrations import sql_datasources

    registry = registry_of(ctx)
    try:
        if all_sql:
            selected = sql_datasources(registry)
            if not selected:
                fail("no configured SQL datasource to migrate")
        elif names:
            for name in names:
                registry.entry(name)  # an unknown name fails before anything runs
            selected = [name.lower() for name in names]
        else:
            fail("name a datasource with --datasource NAME, or use --all")
            return
        if not alembic_args:
            fail("give an Alembic command, e.g. `unifydb migrate --datasource sqlite upgrade head`")
        if alembic_args[0] == "status":
            _migrate_status(registry, selected, directory, as_json)
        elif alembic_args[0] == "check":
            _migrate_check(registry, selected, metadata, as_json)
        else:
            _migrate_run(
                registry, selected, alembic_args, directory, as_json, fail_fast, lock_timeout
            )
    except UnifyDBError as error:
        if session.debug:
            raise  # run() prints the traceback, then the same line
        fail(failure_line(error), 1)
    finally:
        registry.close_all()


#: Alembic commands that move a database from one revision to another
_MOVES = frozenset({"upgrade", "downgrade", "stamp"})


def _migrate_run(  # noqa: PLR0917
    registry: Registry,
    selected: list[str],
    alembic_args: tuple[str, ...],
    directory: str | None,
    as_json: bool,
    fail_fast: bool,
    lock_timeout: float | None,
) -> None:
    from unifydb.migrations import DEFAULT_LOCK_TIMEOUT, migrate

    results = migrate(
        selected,
        alembic_args,
        directory=directory,
        registry=registry,
        echo=(lambda _: None) if as_json else click.echo,
        fail_fast=fail_fast,
        lock_timeout=lock_timeout or DEFAULT_LOCK_TIMEOUT,
    )
    failed = [result for result in results if result.status != "ok"]
    if as_json:
        click.echo(json.dumps([result.as_dict() for result in results], indent=2))
    elif len(results) > 1:
        rows = [
            [
                result.datasource,
                result.before or "-",
                result.after or "-",
                result.status,
                f"{result.seconds:.1f} s",
                result.error or "",
            ]
            for result in results
        ]
        print_table(["datasource", "from", "to", "status", "time", "error"], rows)
    elif not failed and alembic_args[0] in _MOVES and "--sql" not in alembic_args:
        (result,) = results
        # Alembic says nothing when the env.py configures no logging: say what moved
        click.echo(
            f"{result.datasource}: {result.before or 'base'} -> {result.after or 'base'} "
            f"({result.seconds:.1f} s)"
        )
    if not as_json:
        for result in results:
            for warning in result.warnings:
                click.echo(f"warning: {result.datasource}: {warning}", err=True)
        for result in failed:
            if session.debug and result.exception is not None:
                import traceback

                text = "".join(traceback.format_exception(result.exception))
                click.echo(registry.redact(text), err=True, nl=False)
            if result.error:
                click.echo(f"error: {result.datasource}: {result.error}", err=True)
    if failed:
        sys.exit(1)


def _migrate_status(
    registry: Registry, selected: list[str], directory: str | None, as_json: bool
) -> None:
    from unifydb.migrations import status

    found = status(registry, selected, directory=directory)
    if as_json:
        click.echo(json.dumps([item.as_dict() for item in found], indent=2))
    else:
        rows = [
            [
                item.datasource,
                item.current or "base",
                item.head or "-",
                "-" if item.pending is None else str(item.pending),
                item.state,
                item.error or "",
            ]
            for item in found
        ]
        print_table(["datasource", "current", "head", "pending", "state", "error"], rows)
    if any(item.state == "error" for item in found):
        sys.exit(1)


def _migrate_check(
    registry: Registry, selected: list[str], metadata: str | None, as_json: bool
) -> None:
    from unifydb.migrations import drift, load_metadata, metadata_spec

    loaded: dict[str, MetaData] = {}
    report = {}
    for name in selected:
        spec = metadata_spec(metadata, getattr(registry.build(name).options, "models", None))
        if spec not in loaded:
            loaded[spec] = load_metadata(spec)
        report[name] = drift(registry, name, loaded[spec])
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for name, differences in report.items():
            if not differences:
                click.echo(f"{name}: the schema matches the models")
                continue
            click.echo(f"{name}: {len(differences)} difference(s) from the models:")
            for difference in differences:
                click.echo(f"  {difference}")
    if any(report.values()):
        sys.exit(1)
