"""The ``unifydb`` command group and what its subcommands share.

Tables are drawn with rich on a terminal and as plain aligned text otherwise;
``--json`` prints machine-readable output. Nothing printed ever contains a
secret: configs go through the options' redaction and errors are scrubbed
with the secrets of every datasource the command built.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from unifydb.registry import Registry


@dataclass
class Session:
    """State of the running command that outlives click's context: :func:`run`
    prints failures after ``main`` has returned."""

    #: the registry errors are scrubbed with
    registry: Registry | None = None
    #: ``--debug``: print tracebacks of failures
    debug: bool = False


session = Session()


def registry_of(ctx: click.Context) -> Registry:
    from unifydb.registry import Registry

    registry = ctx.obj.get("registry") if ctx.obj else None
    if registry is None:
        settings = ctx.obj.get("settings") if ctx.obj else None
        env_file = ctx.obj.get("env_file") if ctx.obj else None
        registry = Registry(list(settings) if settings else None, env_file=env_file)
        ctx.obj["registry"] = registry
    session.registry = registry
    return registry


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A positive, finite number of seconds; more than an hour is capped at one."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        import math

        from unifydb._deadline import MAX_TIMEOUT

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return min(number, MAX_TIMEOUT)


def print_table(
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


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def failure_line(error: BaseException) -> str:
    """One line for a failure: a unifydb error as it is, anything else as its type
    and first line; secrets of every datasource built so far removed."""
    from unifydb.errors import UnifyDBError

    if isinstance(error, UnifyDBError):
        text = str(error)
    else:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        text = f"{type(error).__name__}: {first}".rstrip(": ")
    if session.registry is not None:
        text = session.registry.redact(text)
    return " ".join(text.split())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Settings file to load (repeatable). Default: UNIFYDB_SETTINGS, or ./settings.toml "
    "and ./.secrets.toml.",
)
@click.option(
    "--env-file",
    "env_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A .env file of KEY=value lines for ${VAR} placeholders (the environment wins). "
    "Default: UNIFYDB_ENV_FILE; no .env is ever read otherwise.",
)
@click.option("--debug", is_flag=True, help="Print the traceback of a failure.")
@click.version_option(package_name="unifydb", message="unifydb %(version)s")
@click.pass_context
def main(ctx: click.Context, settings: tuple[str, ...], env_file: str | None, debug: bool) -> None:
    """One settings tree, every connection: inspect and check unifydb datasources."""
    session.debug = debug
    ctx.ensure_object(dict)
    ctx.obj["settings"] = settings
    ctx.obj["env_file"] = env_file
