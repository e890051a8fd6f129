"""``unifydb serve``: /livez, /readyz and /metrics over HTTP."""

from __future__ import annotations

import click

from .app import Seconds, main, registry_of


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    show_default=True,
    help="Port to listen on (0: any free one, printed).",
)
@click.option(
    "--cache-seconds",
    type=Seconds(),
    default=5.0,
    show_default=True,
    help="Seconds a round of health checks answers /readyz for, however many probes ask.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=None,
    help="Seconds each datasource has to answer (default: its own 'timeout').",
)
@click.pass_context
def serve_command(
    ctx: click.Context, host: str, port: int, cache_seconds: float, timeout: float | None
) -> None:
    """Serve /livez, /readyz (200 or 503 with the failing datasources) and /metrics."""
    from unifydb.observe import serve

    def ready(bound_host: str, bound_port: int) -> None:
        click.echo(f"serving /livez /readyz /metrics on http://{bound_host}:{bound_port}")

    try:
        serve(
            registry_of(ctx),
            host=host,
            port=port,
            ready=ready,
            cache_seconds=cache_seconds,
            timeout=timeout,
        )
    except KeyboardInterrupt:
        click.echo("stopped")
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
