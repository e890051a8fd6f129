"""``/livez``, ``/readyz`` and ``/metrics`` over HTTP: a WSGI app, an ASGI app,
and the threaded server ``unifydb serve`` runs.

Embed it in your own server instead of running a second one::

    from unifydb.observe import wsgi_app, asgi_app
    app.mount("/health", asgi_app())             # Starlette / FastAPI
    DispatcherMiddleware(flask_app, {"/health": wsgi_app()})

* ``/livez``: 200 while the process answers (checks nothing);
* ``/readyz``: 200 when every required datasource is healthy, else 503; the
  JSON body lists each one's status and the failing ones;
* ``/metrics``: Prometheus text (the last readiness round included).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .prometheus import CONTENT_TYPE, render
from .readiness import DEFAULT_CACHE_SECONDS, Readiness

if TYPE_CHECKING:
    from unifydb.registry import Registry

_logger = logging.getLogger("unifydb.serve")
JSON = "application/json"
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthApp:
    """The three endpoints over one registry; call it as a WSGI app, or use :attr:`asgi`."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        timeout: float | None = None,
    ) -> None:
        if registry is None:
            from unifydb.registry import default_registry

            registry = default_registry()
        self.registry = registry
        self.readiness = Readiness(registry, cache_seconds=cache_seconds, timeout=timeout)

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status code, content type, body) for one request."""
        route = "/" + path.strip("/").rsplit("/", 1)[-1]
        if route not in ("/livez", "/readyz", "/metrics"):
            return 404, JSON, b'{"error": "not found: try /livez, /readyz or /metrics"}\n'
        if method not in ("GET", "HEAD"):
            return 405, JSON, b'{"error": "only GET and HEAD"}\n'
        if route == "/livez":
            return 200, JSON, b'{"status": "alive"}\n'
        if route == "/readyz":
            report = self.readiness.report()
            body = json.dumps(report.as_dict(), indent=2) + "\n"
            return (200 if report.ready else 503), JSON, body.encode()
        text = render(self.registry, self.readiness.latest())
        return 200, CONTENT_TYPE, text.encode()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        code, content_type, body = self.respond(method, environ.get("PATH_INFO", "/"))
        start_response(
            f"{code} {_REASONS[code]}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [b"" if method == "HEAD" else body]

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import asyncio

        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        # checks block for up to their timeout: never on the event loop
        code, content_type, body = await asyncio.to_thread(
            self.respond, method, scope.get("path", "/")
        )
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def wsgi_app(registry: Registry | None = None, **options: Any) -> HealthApp:
    """The endpoints as a WSGI app (default: over the default registry)."""
    return HealthApp(registry, **options)


def asgi_app(registry: Registry | None = None, **options: Any) -> Any:
    """The endpoints as an ASGI app (default: over the default registry)."""
    return HealthApp(registry, **options).asgi


def serve(
    registry: Registry | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 9464,
    ready: Callable[[str, int], Any] | None = None,
    **options: Any,
) -> None:
    """Serve the endpoints until interrupted, one thread per request.

    ``ready(host, port)`` is called once listening (``port=0`` picks a free one).
    """
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug("%s - %s", self.address_string(), format % args)

    app = HealthApp(registry, **options)
    with make_server(host, port, app, server_class=Server, handler_class=QuietHandler) as server:
        if ready is not None:
            ready(host, server.server_address[1])
        server.serve_forever()
