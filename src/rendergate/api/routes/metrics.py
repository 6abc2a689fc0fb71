"""GET /metrics: Prometheus's text format, this process's series and, read now from the
database, the cluster's queue depth, tasks in flight, workers' heartbeats and webhooks
pending (services/metrics.py). Like /healthz it needs no API key: expose it only to your
monitoring network (see docs/deploy.md)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rendergate.api.deps import ServicesDep
from rendergate.services.metrics import Metrics
from rendergate.store.gauges import ClusterGauges

router = APIRouter(tags=["operations"])


def _set_gauges(metrics: Metrics, gauges: ClusterGauges) -> None:
    for gauge, values in (
        (metrics.queue_depth, gauges.waiting),
        (metrics.in_flight, gauges.in_flight),
    ):
        gauge.clear()
        for provider, count in values.items():
            gauge.labels(provider).set(count)
    metrics.heartbeat_age.clear()
    for executor_id, age in gauges.heartbeat_age_s.items():
        metrics.heartbeat_age.labels(executor_id).set(age)
    metrics.webhooks_pending.set(gauges.webhooks_pending)


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    _set_gauges(services.metrics, await services.gauges.read())
    body = generate_latest(services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
