"""``unifydb list``, ``show`` and ``check``: what is configured, and does it answer."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .app import Seconds, fail, main, print_table, registry_of


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every datasource: type, driver installed, configured (and what is missing)."""
    from unifydb.errors import UnifyDBError

    try:
        registry = registry_of(ctx)
        templates = set(registry.templates())
        infos = [registry.inspect(name) for name in registry.names() + sorted(templates)]
    except UnifyDBError as error:
        fail(str(error))
        return
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": info.name,
                        "type": info.type,
                        "status": info.status,
                        "driver_installed": info.driver_installed,
                        "extra": info.extra,
                        "configured": info.configured,
                        "missing_variables": list(info.missing_variables),
                        "problem": info.problem,
                        "error": info.invalid,
                        "template": info.name in templates,
                    }
                    for info in infos
                ],
                indent=2,
            )
        )
        return
    if not infos:
        from unifydb.settings import explain_empty, source_files

        files = source_files(registry._source, registry.environ)
        click.echo(explain_empty(files) if files is not None else "no datasources configured")
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
        elif info.invalid:
            configured = f"invalid: {info.invalid}"
        else:
            configured = "yes"
        kind = f"{info.type} (template)" if info.name in templates else info.type
        rows.append([info.name, kind, driver, configured])
    print_table(["name", "type", "driver", "configured"], rows)


@main.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """The resolved settings of NAME and its URL, secrets redacted."""
    from unifydb.errors import UnifyDBError

    try:
        described = registry_of(ctx).build(name).describe()
    except UnifyDBError as error:
        fail(str(error), 1)
        return
    if as_json:
        click.echo(json.dumps(described, indent=2, default=str))
        return
    rows = [["type", described["type"]], ["target", described["target"] or "-"]]
    rows += [[key, _format_value(value)] for key, value in sorted(described["options"].items())]
    print_table(["key", "value"], rows, title=f"datasource {described['name']}")


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
    """Health-check datasources in parallel; exit 1 if a configured one fails.

    A cluster that answers while some of its nodes (or replicas) are down is
    "degraded": it works, so the exit code stays 0; its nodes are listed.
    """
    from unifydb.errors import UnifyDBError
    from unifydb.health import check_in_processes

    registry = registry_of(ctx)
    try:
        for name in names:
            registry.entry(name)
        if in_processes:
            results = check_in_processes(registry, names or None, timeout=timeout, workers=workers)
        else:
            results = registry.health_check(names or None, timeout=timeout)
    except UnifyDBError as error:
        fail(str(error))
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
            rows += [
                [
                    f"  {node.address}",
                    node.role or "node",
                    node.state,
                    "",
                    node.version or "-",
                    node.detail,
                ]
                for node in status.nodes
            ]
        print_table(["name", "type", "status", "latency", "version", "detail"], rows)
    sys.exit(1 if any(status.failed for status in results.values()) else 0)
