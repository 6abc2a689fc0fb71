"""Null objects for the parts a process may run without, so the use cases never ask "is
there one?": a process with no orchestrator (the operator's commands), no URL fetcher, or a
store without SQL (the in-memory one: no event log, deliveries, Idempotency-Keys or cluster
gauges). Each answers as its absence always did: nothing to do, or a clear refusal."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rendergate.domain.batches import Batch, BatchStatus
from rendergate.domain.errors import BatchNotFound, InvalidInput
from rendergate.domain.events import Delivery
from rendergate.domain.task import Task
from rendergate.store.base import AlongWrite, BatchPage, Claim
from rendergate.store.gauges import ClusterGauges

if TYPE_CHECKING:
    from rendergate.services.ports import WorkflowState

NO_SQL = "needs the SQL store"


class NoOrchestrator:
    """Runs nothing: a task created here waits for a worker's reconcile sweep to queue it."""

    async def start(self, task: Task) -> None:
        return None

    def queuing(self, task: Task) -> AlongWrite | None:
        return None

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        from rendergate.services.ports import WorkflowState

        return dict.fromkeys((task.task_id for task in tasks), WorkflowState.LIVE)


class NoFetcher:
    """Fetches nothing: image URLs and webhooks are refused, saying so."""

    async def fetch(self, url: str, *, role: str) -> tuple[bytes, str | None]:
        raise InvalidInput("fetching images by URL is not enabled", field=f"{role}_url")

    async def vet(self, url: str, *, field: str) -> None:
        raise InvalidInput("webhooks are not enabled on this server", field=field)


class NoEventLog:
    async def after(self, task_id: int, version: int, limit: int = 100) -> list[tuple[str, Task]]:
        return []

    async def at(self, task_id: int, version: int) -> Task | None:
        return None


class NoDeliveries:
    async def of_task(self, task_id: int) -> list[Delivery]:
        return []

    async def replay(
        self, delivery: Delivery, *, now: datetime, check: Callable[[list[Delivery]], None]
    ) -> Delivery:
        raise InvalidInput(f"replaying a webhook {NO_SQL}")


class NoClaims:
    """Idempotency-Keys are refused: there is no table to keep them in."""

    async def claim(self, claim: Claim, *, stale_before: datetime, lease_s: float) -> Claim | None:
        raise InvalidInput(f"Idempotency-Key {NO_SQL}", field="Idempotency-Key", location="header")

    async def renew(self, claim: Claim, *, lease_s: float) -> None:
        return None

    def completing(self, claim: Claim, task_id: int) -> AlongWrite:
        return lambda connection: None

    async def release(self, claim: Claim) -> None:
        return None


class NoGauges:
    async def read(self) -> ClusterGauges:
        return ClusterGauges()


class NoBatches:
    """Batches need the SQL store: without it, each call is refused saying so."""

    def adding(self, batch: Batch) -> AlongWrite:
        raise InvalidInput(f"batches {NO_SQL}")

    async def get(self, batch_id: int, *, owner: str | None = None) -> Batch:
        raise BatchNotFound(batch_id)

    async def find(
        self,
        *,
        owner: str | None = None,
        after: BatchPage | None = None,
        limit: int = 20,
        name_contains: str = "",
    ) -> list[Batch]:
        return []

    async def members(self, batch_id: int) -> list[Task]:
        return []

    async def mark_canceled(self, batch_id: int, at: datetime) -> None:
        raise BatchNotFound(batch_id)

    async def reopen(self, batch_id: int) -> None:
        raise BatchNotFound(batch_id)

    async def end(
        self, batch: Batch, status: BatchStatus, at: datetime, delivery: Mapping[str, Any] | None
    ) -> bool:
        return False

    async def unended(self, limit: int = 200) -> list[Batch]:
        return []
