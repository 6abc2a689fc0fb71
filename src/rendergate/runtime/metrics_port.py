"""A worker's Prometheus /metrics (RENDERGATE_METRICS_PORT): a worker serves no HTTP
otherwise, and in a cluster it counts its own submits, provider calls, completions and
webhook tries (services/metrics.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server

from rendergate.config.settings import Settings


@contextlib.contextmanager
def serving(registry: CollectorRegistry, settings: Settings) -> Iterator[None]:
    """A worker's /metrics on RENDERGATE_METRICS_PORT, if set (a thread of its own)."""
    if settings.metrics_port is None:
        yield
        return
    server, thread = start_http_server(settings.metrics_port, settings.host, registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
