"""What the use cases need, wired once by the composition root (runtime/bootstrap.py)."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ServerBusy, ShareTaken
from rendergate.domain.presets import BuiltinPresets
from rendergate.lru import Lru
from rendergate.providers.base import Provider
from rendergate.redaction import Redactor
from rendergate.services.absent import (
    NoBatches,
    NoClaims,
    NoDeliveries,
    NoEventLog,
    NoFetcher,
    NoGauges,
    NoOrchestrator,
)
from rendergate.services.admission import KeyAdmission, NoAdmission
from rendergate.services.cache import FinishedTasks
from rendergate.services.changes import Changes
from rendergate.services.keys import KeyRing
from rendergate.services.metrics import Metrics
from rendergate.services.ports import Fetcher, Orchestrator, Wake, WakeChannel
from rendergate.services.thumbnails import Thumbnailer
from rendergate.services.usage import NoUsage, UsageSource
from rendergate.store.base import (
    BatchStore,
    ClaimStore,
    DeliveryLog,
    EventLog,
    GaugeSource,
    PresetStore,
    ShareStore,
    TaskStore,
)
from rendergate.store.presets import MemoryPresetStore
from rendergate.store.shares import MemoryShareStore

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Parts = TypeVar("Parts", bound="DataclassInstance")


def utc_now() -> datetime:
    return datetime.now(UTC)


EARLY_WAKES = 4096  # wakes kept for tasks no tracking loop here follows yet


OnWake = Callable[[Wake], None]


@dataclass
class Wakeups:
    """Where this process's wakes go: to the tracker following the task (workflow/tracker.py).

    A wake for a task nothing here follows yet is kept a while (the last EARLY_WAKES): a
    job can end, and its webhook come, between the submit step recording the job and the
    track step starting, and that wake must not be lost to a safety poll. Most such wakes
    are for other processes' tasks, and age out."""

    _followers: dict[int, OnWake] = field(default_factory=dict)
    _early: Lru[int, set[Wake]] = field(default_factory=lambda: Lru(EARLY_WAKES))

    def follow(self, task_id: int, on_wake: OnWake) -> set[Wake]:
        """Sends the task's wakes to `on_wake` from now on; returns those that came before."""
        self._followers[task_id] = on_wake
        early = self._early.get(task_id) or set()
        self._early.discard(task_id)
        return early

    def wake(self, task_id: int, reason: Wake) -> None:
        on_wake = self._followers.get(task_id)
        if on_wake is None:  # not followed here (yet): kept for a tracker that may begin
            self._early.put(task_id, {*(self._early.get(task_id) or ()), reason})
            return
        on_wake(reason)

    def wake_all(self, reason: Wake) -> None:
        """Every task followed here (a reconnect: wakes may have been missed)."""
        for on_wake in list(self._followers.values()):
            on_wake(reason)

    def forget(self, task_id: int) -> None:
        self._followers.pop(task_id, None)

    async def send(self, task_id: int, reason: Wake) -> None:
        """The in-process channel: SQLite has one process, which receives and tracks."""
        self.wake(task_id, reason)


@dataclass
class Slots:
    """A count of something held at once (large request bodies being read, event streams),
    in all and by each key ("" the open caller), taken without waiting: a caller that finds
    none free is turned away instead of queued, with ServerBusy when all are taken and
    ShareTaken when its own key holds its share."""

    what: str  # "large uploads", "event streams": for the refusals
    capacity: int | None = None  # all keys together; None: bounded elsewhere
    per_key: int | None = None
    retry_after_s: int = 2
    _held: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def in_use(self) -> int:
        return self._held.total()

    def take(self, owner: str) -> None:
        if self.capacity is not None and self.in_use >= self.capacity:
            raise ServerBusy(
                f"too many {self.what} at once; try again shortly", retry_after_s=self.retry_after_s
            )
        if self.per_key is not None and self._held[owner] >= self.per_key:
            raise ShareTaken(
                f"this key holds {self.per_key} {self.what} already, its share; "
                "try again when one ends",
                retry_after_s=self.retry_after_s,
            )
        self._held[owner] += 1

    def release(self, owner: str) -> None:
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]


@dataclass(frozen=True)
class Services:
    """Every part the use cases share, built once by the composition root and frozen; the
    parts a process may lack are null objects (services/absent.py), never None."""

    settings: Settings
    store: TaskStore
    blobs: BlobStore
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    orchestrator: Orchestrator = field(default_factory=NoOrchestrator)
    fetcher: Fetcher = field(default_factory=NoFetcher)
    wakeups: Wakeups = field(default_factory=Wakeups)  # this process's tracking loops
    wakes: WakeChannel | None = None  # where wakes are sent; None: `wakeups`, in-process
    finished: FinishedTasks = field(default_factory=FinishedTasks)
    clock: Callable[[], datetime] = utc_now
    redactor: Redactor = field(default_factory=Redactor)  # scrubs secrets from stored errors
    large_bodies: Slots = field(default_factory=lambda: Slots("large uploads", 4, 2))  # limits.py
    streams: Slots = field(default_factory=lambda: Slots("event streams", None, 20, 10))
    shared_files: Slots = field(default_factory=lambda: Slots("shared-link downloads", 8, 4))
    keys: KeyRing = field(default_factory=KeyRing)  # no source: no key; open only if asked
    claims: ClaimStore = field(default_factory=NoClaims)  # Idempotency-Keys (SQL's table)
    admission: KeyAdmission = field(default_factory=NoAdmission)  # key limits (SQL's)
    changes: Changes = field(default_factory=Changes)  # which tasks changed (services/changes)
    metrics: Metrics = field(default_factory=Metrics)  # this process's Prometheus series
    gauges: GaugeSource = field(default_factory=NoGauges)  # the whole cluster, as the db knows
    events: EventLog = field(default_factory=NoEventLog)  # each task's event log (SQL's)
    deliveries: DeliveryLog = field(default_factory=NoDeliveries)  # webhooks to clients (SQL's)
    presets: PresetStore = field(default_factory=MemoryPresetStore)  # each key's (SQL's table)
    builtin_presets: BuiltinPresets = field(default_factory=BuiltinPresets)  # the apps file's
    batches: BatchStore = field(default_factory=NoBatches)  # batches' rows (SQL's table)
    usage: UsageSource = field(default_factory=NoUsage)  # the usage rollup's sums (SQL's)
    thumbnails: Thumbnailer = field(default_factory=Thumbnailer)  # made here (thumbnails.py)
    shares: ShareStore = field(default_factory=MemoryShareStore)  # share links (SQL's table)

    def __post_init__(self) -> None:
        self.changes.keep_current(self.finished)  # a finished task kept here still changes

    async def wake(self, task_id: int, reason: Wake) -> None:
        """Wakes the task's tracking loop, in whichever process it runs."""
        await (self.wakes or self.wakeups).send(task_id, reason)

    def unpack(self, use_case: type[Parts], **given: Any) -> Parts:
        """What a use case takes (its own frozen dataclass, such as tasks.Cancelling): each
        field the part of the same name here, or the value `given` for it (a setting, a
        view of a part). The edges call this; no use case holds the container."""
        names = {part.name for part in dataclasses.fields(use_case)}
        if unknown := sorted(set(given) - names):
            raise TypeError(f"{use_case.__name__} takes no {', '.join(unknown)}")
        taken = names - set(given)
        if missing := sorted(name for name in taken if not hasattr(self, name)):
            raise TypeError(f"give {use_case.__name__} its {', '.join(missing)}: none here")
        return use_case(**{name: getattr(self, name) for name in taken}, **given)
