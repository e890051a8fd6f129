"""``unifydb wait``: block until datasources answer, for a container's init step
or a compose ``depends_on`` script."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from .app import Seconds, fail, main, registry_of

if TYPE_CHECKING:
    from unifydb.status import HealthStatus

#: seconds between two rounds of checks
INTERVAL = 1.0


@main.command("wait")
@click.argument("names", nargs=-1)
@click.option(
    "--timeout",
    type=Seconds(),
    default=60.0,
    show_default=True,
    help="Seconds to wait for all of them, in total (at most 3600).",
)
@click.option(
    "--interval",
    type=Seconds(),
    default=INTERVAL,
    show_default=True,
    help="Seconds between two rounds of health checks.",
)
@click.pass_context
def wait_command(
    ctx: click.Context, names: tuple[str, ...], timeout: float, interval: float
) -> None:
    """Wait until every NAME (default: every configured datasource) answers its
    health check; exit 0 once all are up, 1 naming those still down at --timeout."""
    from unifydb.errors import UnifyDBError

    registry = registry_of(ctx)
    try:
        for name in names:
            registry.entry(name)
        pending = list(dict.fromkeys(n.lower() for n in names)) or registry.names()
    except UnifyDBError as error:
        fail(str(error))
        return
    if not pending:
        click.echo("no datasources configured: nothing to wait for")
        return
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last: dict[str, HealthStatus] = {}
    attempt = 0
    while pending:
        attempt += 1
        remaining = deadline - time.monotonic()
        results = registry.health_check(pending, timeout=max(min(remaining, timeout), 0.05))
        for name in pending:
            status = results[name]
            last[name] = status
            if not status.failed:
                click.echo(f"{name}: up ({time.monotonic() - started:.1f} s)")
        pending = [name for name in pending if results[name].failed]
        if not pending:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        waiting = ", ".join(f"{name} ({last[name].status.replace('_', ' ')})" for name in pending)
        click.echo(f"waiting for {waiting}; {remaining:.1f} s left")
        time.sleep(min(interval, remaining))
    if pending:
        click.echo(f"still down after {timeout:g} s:", err=True)
        for name in pending:
            status = last[name]
            detail = f": {status.detail}" if status.detail else ""
            click.echo(f"  {name} ({status.status.replace('_', ' ')}){detail}", err=True)
        sys.exit(1)
    click.echo(f"all {len(last)} up")
