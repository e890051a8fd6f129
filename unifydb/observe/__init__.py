"""Operating unifydb: readiness, Prometheus metrics, an HTTP endpoint, OpenTelemetry.

* :mod:`.readiness`: health of the required datasources, cached and checked
  once per interval however many probes ask;
* :mod:`.prometheus`: every datasource's figures in Prometheus text format;
* :mod:`.http`: ``/livez``, ``/readyz`` and ``/metrics`` as a WSGI and an ASGI
  app, and the server behind ``unifydb serve``;
* :mod:`.otel`: :func:`instrument`, the same figures and spans through
  OpenTelemetry (the ``otel`` extra).
"""

from .http import HealthApp, asgi_app, serve, wsgi_app
from .otel import instrument
from .readiness import Readiness, ReadinessReport

__all__ = [
    "HealthApp",
    "Readiness",
    "ReadinessReport",
    "asgi_app",
    "instrument",
    "serve",
    "wsgi_app",
]
