"""The task store port. Our task table is the source of truth for the API."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from rendergate.domain.batches import Batch, BatchStatus
from rendergate.domain.events import Delivery
from rendergate.domain.presets import Preset
from rendergate.domain.shares import Share
from rendergate.domain.task import Task, TaskStatus

if TYPE_CHECKING:
    from rendergate.store.gauges import ClusterGauges


class TaskIdTaken(Exception):
    """add() found the id already used; the caller draws another."""


@dataclass(frozen=True)
class Page:
    """Where a listing resumes: strictly older than (created_at, task_id)."""

    created_at: datetime
    task_id: int


@dataclass(frozen=True)
class SchemaChange:
    """What a migration did to a schema: its version before (None: there was none) and after."""

    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before == self.after:
            return f"already up to date (at {self.after})"
        if self.before is None:
            return f"created (at {self.after})"
        return f"upgraded from {self.before} to {self.after}"


AlongWrite = Callable[[Any], None]
"""A write of another component done inside the transaction that adds a task's row, on the
store's connection (a SQLAlchemy `Connection` from SqlTaskStore): the two land together or
not at all. Only an orchestrator that shares the task's database offers one."""


class TaskStore(Protocol):
    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        """Inserts a new task, and does `along` in the same transaction; raises TaskIdTaken
        when its id exists (and then `along` is undone)."""
        ...

    async def add_all(self, new: Sequence[Task], *, along: AlongWrite | None = None) -> None:
        """Inserts several new tasks, and does `along`, in one transaction (a batch's
        members); raises TaskIdTaken when any id exists (and then nothing is written)."""
        ...

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        """Returns the task; raises TaskNotFound, with `owner` also for another key's task,
        after the same work as for an absent id (what a stranger is told, and when, must not
        say which ids exist)."""
        ...

    async def save(self, old: Task, new: Task) -> Task | None:
        """Writes `new` only if the stored task is still `old` (same version).

        Returns what was stored (version + 1), or None when someone else wrote first.
        """
        ...

    async def find(
        self,
        *,
        status: TaskStatus | None = None,
        app: str | None = None,
        owner: str | None = None,
        after: Page | None = None,
        limit: int = 20,
        rerun_of: int | None = None,
    ) -> list[Task]:
        """Newest first; `owner` keeps one API key's tasks (None: everyone's), `rerun_of`
        the re-runs of one task."""
        ...

    async def count_owned(
        self, owner: str, *, unfinished: bool = False, since: datetime | None = None
    ) -> int:
        """How many of one API key's tasks there are: unfinished ones only, or those
        created since `since` (its limits, services/admission.py)."""
        ...

    async def expiring(
        self,
        before: datetime,
        *,
        only: Sequence[str] | None = None,
        besides: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Task]:
        """Finished tasks, finished before `before`, whose files are still kept, oldest
        first; of the apps `only` names (None: any), not of those `besides` names."""
        ...

    async def unfinished(self) -> list[Task]:
        """Every task not yet completed, failed or canceled, oldest first."""
        ...

    async def ended(self, task_ids: Sequence[int]) -> set[int]:
        """Of these tasks, the ones completed, failed or canceled (a set-based check)."""
        ...

    async def claim_account(
        self, task_id: int, provider: str, room: Mapping[str, int]
    ) -> str | None:
        """Of the pooled keys in `room` (id to concurrency), the one with the most room
        besides this task, among the provider's unfinished tasks in the whole cluster,
        recorded as the task's; None when none has room (store/accounts.py)."""
        ...

    async def waiting_ahead(self, task: Task) -> int:
        """How many tasks for the same provider wait in our queue before this one."""
        ...

    async def children(self, parents: Sequence[int]) -> dict[int, list[int]]:
        """The ids of the tasks whose parent each of `parents` is, oldest first (only
        parents that have some)."""
        ...

    async def unmade_steps(self, *, finished_before: datetime, limit: int = 100) -> list[Task]:
        """Completed tasks with a `then`, finished before `finished_before`, their files
        kept, whose next step's task (domain/chains.py: next_step_id) is not written."""
        ...


@dataclass(frozen=True)
class Claim:
    """A client's Idempotency-Key, taken for one request (services/idempotency.py)."""

    owner: str  # the API key's id ("" in open mode): keys are scoped to it
    key: str
    fingerprint: str  # of the request it was taken for
    created_at: datetime
    task_id: int | None = None  # None until the task's row is written
    holder: str = ""  # the request that took it: only that one completes or releases it


class ClaimLost(Exception):
    """The claim's lease lapsed before its task was written, and another request took the
    key over: this request's task is not written (the transaction is undone)."""


class ClaimStore(Protocol):
    async def claim(self, claim: Claim, *, stale_before: datetime, lease_s: float) -> Claim | None:
        """Takes the key for `lease_s` (None), or answers the claim already holding it.
        Dropped first: a claim older than `stale_before`, and an unfinished one whose
        holder is gone (its lease lapsed, or, on SQLite, it was another process's)."""
        ...

    async def renew(self, claim: Claim, *, lease_s: float) -> None:
        """Extends the lease of an unfinished claim this request still holds."""
        ...

    def completing(self, claim: Claim, task_id: int) -> AlongWrite:
        """The write tying the claim to its task, done in the task row's transaction;
        raises ClaimLost there when the claim is no longer this request's."""
        ...

    async def release(self, claim: Claim) -> None:
        """Drops an uncompleted claim: its request was refused, and may be corrected."""
        ...


class EventLog(Protocol):
    """Each task's versions that a client could see, written with them (store/events.py)."""

    async def after(self, task_id: int, version: int, limit: int = 100) -> list[tuple[str, Task]]:
        """The task's events after `version`, oldest first: (event type, task as it was)."""
        ...

    async def at(self, task_id: int, version: int) -> Task | None: ...


class DeliveryLog(Protocol):
    """A task's webhooks to its client, as the API shows and replays them."""

    async def of_task(self, task_id: int) -> list[Delivery]: ...

    async def replay(
        self, delivery: Delivery, *, now: datetime, check: Callable[[list[Delivery]], None]
    ) -> Delivery:
        """A new delivery of the same event, unless `check` raises, shown the owner's
        replays still pending (read and added in one step)."""
        ...


class GaugeSource(Protocol):
    """What the database knows for the whole cluster, for /metrics (store/gauges.py)."""

    async def read(self) -> ClusterGauges: ...


class PresetVersionTaken(Exception):
    """add() found that version of the preset already written: another edit came first."""


class PresetStore(Protocol):
    """A key's presets, every version kept (domain/presets.py)."""

    async def add(self, preset: Preset) -> None:
        """Writes a new version; PresetVersionTaken if that version exists."""
        ...

    async def latest(self, owner: str, name: str) -> Preset | None:
        """The newest version of a preset that is not deleted."""
        ...

    async def version(self, owner: str, name: str, version: int) -> Preset | None:
        """One version, deleted or not (a task names the version it ran with)."""
        ...

    async def all(self, owner: str) -> list[Preset]:
        """The newest version of each of the owner's presets not deleted, by name."""
        ...

    async def delete(self, owner: str, name: str, at: datetime) -> bool:
        """Marks every version deleted; False when there was none to delete."""
        ...


@dataclass(frozen=True)
class BatchPage:
    """Where a listing of batches resumes: strictly older than (created_at, batch_id)."""

    created_at: datetime
    batch_id: int


class ShareStore(Protocol):
    """Share links' rows (domain/shares.py), found by their token's hash, never the token."""

    async def add(self, share: Share) -> None: ...

    async def by_hash(self, token_hash: str) -> Share | None: ...

    async def of_batch(self, owner: str, batch_id: int) -> list[Share]:
        """The owner's shares of the batch, revoked ones too, oldest first."""
        ...

    async def revoke(self, share_id: int, owner: str, at: datetime) -> Share | None:
        """The owner's share, revoked at `at` unless it was already (the first time
        stands); None when the owner has no share of that id."""
        ...


class BatchStore(Protocol):
    """Batches' rows (store/batches.py); their members are tasks with their batch_id."""

    def adding(self, batch: Batch) -> AlongWrite:
        """The batch's row, written in its members' transaction (TaskStore.add_all)."""
        ...

    async def get(self, batch_id: int, *, owner: str | None = None) -> Batch: ...

    async def find(
        self,
        *,
        owner: str | None = None,
        after: BatchPage | None = None,
        limit: int = 20,
        name_contains: str = "",
    ) -> list[Batch]:
        """Newest first; `name_contains`: only those whose name holds it, in any case."""
        ...

    async def members(self, batch_id: int) -> list[Task]: ...

    async def mark_canceled(self, batch_id: int, at: datetime) -> None: ...

    async def reopen(self, batch_id: int) -> None: ...

    async def end(
        self, batch: Batch, status: BatchStatus, at: datetime, delivery: Mapping[str, Any] | None
    ) -> bool:
        """Records its end and its webhook's row, unless recorded already (False)."""
        ...

    async def unended(self, limit: int = 200) -> list[Batch]: ...
