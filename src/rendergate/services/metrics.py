"""This process's Prometheus series, on a registry of its own (built by the composition
root, never at import time).

Counters and histograms are observed where things happen in this process: each task write
(`task_changed`, told by the store after its commit), each provider call, each webhook try.
In a cluster each process counts its own share (the API its creates and cancels, each
worker its submits and completions); Prometheus adds them up across `GET /metrics` of the
API processes and each worker's RENDERGATE_METRICS_PORT. What the database knows for the
whole cluster (queue depth, tasks in flight, workers' heartbeats, webhooks pending) is read
when /metrics is scraped (api/routes/metrics.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rendergate.domain.money import Money
from rendergate.domain.task import Task, TaskStatus
from rendergate.providers.base import Balance

DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._task_series(self.registry)
        self._call_series(self.registry)
        self._cluster_gauges(self.registry)

    def _task_series(self, r: CollectorRegistry) -> None:
        """What this process sees tasks do."""
        self.created = Counter(
            "rendergate_tasks_created", "Tasks created", ["app", "provider"], registry=r
        )
        self.finished = Counter(
            "rendergate_tasks_finished",
            "Tasks that reached a terminal status",
            ["app", "provider", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "rendergate_task_duration_seconds",
            "From create to the terminal status",
            ["app", "provider"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "rendergate_task_queue_wait_seconds",
            "From create (or a fallback) to the provider taking the job",
            ["provider"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.result_bytes = Counter(
            "rendergate_result_bytes", "Bytes of results stored", ["provider"], registry=r
        )
        money = ["provider", "app", "currency"]
        self.spent = Counter(
            "rendergate_spent", "Money finished tasks cost upstream", money, registry=r
        )
        self.charged = Counter("rendergate_charged", "Money charged at create", money, registry=r)
        self.refunded = Counter(
            "rendergate_refunded",
            "Charges given back (failed, canceled unstarted)",
            money,
            registry=r,
        )

    def _call_series(self, r: CollectorRegistry) -> None:
        """This process's calls out (to providers, webhooks to clients) and its thumbnails."""
        self.upstream = Counter(
            "rendergate_upstream_requests",
            "Provider calls, by outcome: ok, or the error's code (or kind)",
            ["provider", "outcome"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "rendergate_upstream_request_duration_seconds",
            "Time of one provider call",
            ["provider"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "rendergate_webhook_deliveries",
            "Webhook tries to clients, by outcome",
            ["outcome"],
            registry=r,
        )
        self.thumbnails = Counter(
            "rendergate_thumbnails",
            "Thumbnails served: made (decoded, scaled, encoded, stored) or stored (read back)",
            ["outcome"],
            registry=r,
        )

    def _cluster_gauges(self, r: CollectorRegistry) -> None:
        """The whole cluster's, as the database knows it, set at each scrape."""
        self.queue_depth = Gauge(
            "rendergate_queue_depth", "Tasks waiting in our queue", ["provider"], registry=r
        )
        self.in_flight = Gauge(
            "rendergate_in_flight", "Tasks handed to a provider", ["provider"], registry=r
        )
        self.heartbeat_age = Gauge(
            "rendergate_worker_heartbeat_age_seconds",
            "Seconds since each running worker's last heartbeat (the database's clock)",
            ["executor_id"],
            registry=r,
        )
        self.webhooks_pending = Gauge(
            "rendergate_webhooks_pending", "Webhook deliveries still to be made", registry=r
        )
        self.balance = Gauge(
            "rendergate_provider_balance",
            "What the provider account has left as last read: coins, or money by currency",
            ["provider", "unit"],
            registry=r,
        )
        self.key_balance = Gauge(
            "rendergate_provider_key_balance",
            "What each of a provider's pooled keys has left as last read, by the key's id",
            ["provider", "account", "unit"],
            registry=r,
        )

    def task_changed(self, old: Task | None, new: Task) -> None:
        """Counts a committed write: a create, a start, an end."""
        if old is None:
            self.created.labels(new.app, new.provider).inc()
            self._money(self.charged, new, new.charge)
            return
        if old.status is TaskStatus.SUBMITTED and new.status is TaskStatus.PROCESSING:
            waited = (new.updated_at - old.updated_at).total_seconds()
            self.queue_wait.labels(new.provider).observe(max(waited, 0.0))
        if new.status.is_terminal and not old.status.is_terminal:
            self.finished.labels(new.app, new.provider, new.status.value).inc()
            took = (new.updated_at - new.created_at).total_seconds()
            self.duration.labels(new.app, new.provider).observe(max(took, 0.0))
            size = sum(output.size for output in new.outputs)
            if size:
                self.result_bytes.labels(new.provider).inc(size)
            self._money(self.spent, new, new.spent)
            self._money(self.refunded, new, new.charge if new.refunded else None)

    @staticmethod
    def _money(counter: Counter, task: Task, money: Money | None) -> None:
        """Prometheus counts in floats: the exact Decimal becomes one here, at the edge, for
        graphs and alerts only. The exact record is the usage rollup (GET /usage)."""
        if money is not None and money.amount:
            counter.labels(task.provider, task.app, money.currency).inc(float(money.amount))

    def provider_call(self, provider: str, outcome: str, seconds: float) -> None:
        self.upstream.labels(provider, outcome).inc()
        self.upstream_seconds.labels(provider).observe(seconds)

    def provider_balance(self, provider: str, balance: Balance, account: str | None = None) -> None:
        """Prometheus keeps floats: the gauge shows the decimal, nothing computes with it.
        With `account`, one pooled key's balance (by its id), else the provider's."""
        gauge, labels = (
            (self.balance, [provider])
            if account is None
            else (self.key_balance, [provider, account])
        )
        if balance.coins is not None:
            gauge.labels(*labels, "coins").set(float(balance.coins))
        if balance.money is not None:
            gauge.labels(*labels, balance.currency or "money").set(float(balance.money))

    def delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()
