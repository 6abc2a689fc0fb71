"""The task: a frozen value and the transitions allowed between its states.

Transitions return new values and never mutate; the store applies them with an
optimistic version check, so two writers can never both finish one task.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rendergate.domain.errors import Fault, InvalidInput, InvalidTransition
from rendergate.domain.money import Money
from rendergate.domain.values import clean_text

if TYPE_CHECKING:
    from rendergate.domain.chains import ThenStep

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript keeps integers exact up to here
MIN_TASK_ID = 2**40  # ids are random in [2^40, 2^53): never guessable by counting
MAX_VERSION = 2**31 - 1  # version columns are 32-bit; a task is written a few hundred times
MAX_OUTPUT_INDEX = 63  # a task has at most 64 outputs (GET /tasks/{id}/image?index=)


def check_integer(value: object, *, field: str, high: int, note: str = "") -> int:
    """An integer a client gave, from 0 to `high` (a bool is no integer here, though Python
    counts it as one); else InvalidInput naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidInput(
            f"{field} must be an integer from 0 to {high}{note}, not {reprlib.repr(value)}",
            field=field,
        )
    return value


def check_seed(value: object) -> int:
    """A seed: an integer from 0 to MAX_SAFE_INTEGER, which JavaScript holds exactly."""
    return check_integer(value, field="seed", high=MAX_SAFE_INTEGER, note=" (2^53-1)")


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"  # accepted, waiting in our queue
    PROCESSING = "processing"  # handed to a provider
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED})


class ErrorKind(StrEnum):
    """Why a task ended without a result: a provider error's Fault (the same three values),
    or what else ended it. Stored as its value; every value ever stored is a member."""

    NONE = ""  # it has not failed
    USER = Fault.USER.value
    PROVIDER = Fault.PROVIDER.value
    CONFIG = Fault.CONFIG.value
    TIMEOUT = "timeout"  # the app's deadline, or the client's own, passed
    INTERNAL = "internal"  # a bug or an unexpected error: the server log has it
    CANCELED = "canceled"  # by request, or by the provider

    @classmethod
    def of(cls, fault: Fault) -> ErrorKind:
        return cls(fault.value)


@dataclass(frozen=True, kw_only=True)
class InputRef:
    """One stored input of a task, with the content type the image check found."""

    key: str
    content_type: str


@dataclass(frozen=True, kw_only=True)
class JobHandle:
    """What we keep to find a provider's job again, even after a restart. `data` is the
    adapter's own, and must hold only JSON values (the store writes it as JSON)."""

    job_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    shown: bool = True  # the provider's own id, which its support desk knows (not local's)


@dataclass(frozen=True, kw_only=True)
class ResultFile:
    """One output of a task, stored by us under `key`."""

    key: str
    content_type: str
    size: int
    node_id: str = ""
    file_type: str = ""


@dataclass(frozen=True)
class ResultRef:
    """One output of a task, by its task and index: a create's image taken from it."""

    task_id: int
    index: int = 0


@dataclass(frozen=True)
class Membership:
    """A task's place in a batch: which view of the model, which variation of that view."""

    batch_id: int
    view: int
    variation: int


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A provider the task did not run on, and why (not configured, busy, refused us, ...)."""

    provider: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Task:
    task_id: int
    app: str
    provider: str
    angle: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, InputRef] = field(default_factory=dict)  # by role
    status: TaskStatus = TaskStatus.SUBMITTED
    progress: int = 0
    queue_position: int | None = None
    provider_job: JobHandle | None = None  # what the provider needs to find the job again
    outputs: tuple[ResultFile, ...] = ()
    cost: Mapping[str, Any] | None = None
    error_message: str = ""
    error_kind: ErrorKind = ErrorKind.NONE
    attempts: int = 0  # provider submissions so far
    callback_token: str = ""  # the secret part of this task's provider webhook URL
    skipped: tuple[Skip, ...] = ()  # the app's routes passed over, in order, before `provider`
    owner: str = ""  # the id of the API key that created it; "" without keys (open mode)
    webhook_url: str = ""  # where the client's webhooks go; "" for none
    link_base: str = ""  # the base URL of the request that created it (services/links.py)
    webhook_events: tuple[str, ...] = ()  # the events it asked for; (): the default set
    deadline_s: float | None = None  # the client's own deadline, within the app's
    seed: int | None = None  # 0 to MAX_SAFE_INTEGER; None only in rows from before seeds
    rerun_of: int | None = None  # the task this one runs again (POST /tasks/{id}/rerun)
    preset: str = ""  # the preset it was made with, if any
    preset_version: int | None = None  # that preset's version then (later edits change nothing)
    parent: ResultRef | None = None  # the result that is its image (image_task_id)
    then: tuple[ThenStep, ...] = ()  # steps to run on its result once it completes (chains.py)
    files_expired_at: datetime | None = None  # its inputs and results removed (retention)
    kept_at: datetime | None = None  # its owner marked it a pick (PUT /tasks/{id}/kept)
    member: Membership | None = None  # its place in a batch (domain/batches.py)
    charge: Money | None = None  # the price its key was charged at create; None: no price
    refunded: bool = False  # that charge given back (it failed, or was canceled unstarted)
    spent: Money | None = None  # what it cost upstream, once finished; None: not known
    spent_estimated: bool = False  # `spent` from a rate the operator set, not a bill
    version: int = 0
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @property
    def provider_job_id(self) -> str:
        """The provider's id of the current job, for its support desk; "" if it has none."""
        job = self.provider_job
        return job.job_id if job is not None and job.shown else ""

    @property
    def workflow_id(self) -> str:
        """Each route's run is its own workflow, on that provider's queue (and under its cap)."""
        if not self.skipped:
            return f"task-{self.task_id}"
        return f"task-{self.task_id}.{len(self.skipped)}"

    def _evolve(self, now: datetime, **changes: Any) -> Task:
        return dataclasses.replace(self, updated_at=now, **changes)

    def _require_open(self, action: str) -> None:
        if self.status.is_terminal:
            raise InvalidTransition(f"cannot {action} task {self.task_id}: it is {self.status}")

    def start(self, *, now: datetime, provider_job: JobHandle) -> Task:
        """The provider accepted the job. A task records one job per attempt: a second
        execution of its workflow (a zombie worker, a duplicate) cannot overwrite it."""
        self._require_open("start")
        if self.provider_job is not None:
            raise InvalidTransition(
                f"task {self.task_id} already has job {self.provider_job.job_id} of this attempt"
            )
        return self._evolve(
            now,
            status=TaskStatus.PROCESSING,
            provider_job=provider_job,
            attempts=self.attempts + 1,
            progress=max(self.progress, 1),
            queue_position=None,
        )

    def report(
        self, *, now: datetime, progress: int | None = None, queue_position: int | None = None
    ) -> Task:
        """Progress from the provider; it never moves backwards and stays below 100 until done."""
        self._require_open("report progress on")
        new_progress = self.progress if progress is None else max(self.progress, min(progress, 99))
        return self._evolve(now, progress=new_progress, queue_position=queue_position)

    def complete(
        self,
        *,
        now: datetime,
        outputs: tuple[ResultFile, ...],
        cost: Mapping[str, Any] | None = None,
    ) -> Task:
        self._require_open("complete")
        if not outputs:
            raise InvalidTransition(f"task {self.task_id} cannot complete without a result")
        return self._evolve(
            now,
            status=TaskStatus.COMPLETED,
            progress=100,
            outputs=outputs,
            cost=dict(cost) if cost is not None else self.cost,
            queue_position=None,
            finished_at=now,
        )

    def fail(
        self,
        *,
        now: datetime,
        message: str,
        kind: ErrorKind = ErrorKind.PROVIDER,
        cost: Mapping[str, Any] | None = None,  # the provider's figures for the failed job
    ) -> Task:
        self._require_open("fail")
        return self._evolve(
            now,
            cost=dict(cost) if cost is not None else self.cost,
            status=TaskStatus.FAILED,
            error_message=clean_text(message),
            error_kind=kind,
            queue_position=None,
            finished_at=now,
        )

    def cancel(self, *, now: datetime, message: str = "canceled by request") -> Task:
        self._require_open("cancel")
        return self._evolve(
            now,
            status=TaskStatus.CANCELED,
            error_message=clean_text(message),
            error_kind=ErrorKind.CANCELED,
            queue_position=None,
            finished_at=now,
        )

    def expire_files(self, *, now: datetime) -> Task:
        """Its inputs and results were removed for their age; the row stays, saying so."""
        if not self.status.is_terminal:
            raise InvalidTransition(f"task {self.task_id} is {self.status}: its files are in use")
        if self.files_expired_at is not None:
            raise InvalidTransition(f"the files of task {self.task_id} expired already")
        return dataclasses.replace(self, files_expired_at=now)

    def keep(self, *, now: datetime) -> Task:
        """Marked a pick by its owner: only a completed task has a result to keep. Kept
        already: unchanged (its first mark's time stands)."""
        if self.status is not TaskStatus.COMPLETED:
            raise InvalidTransition(
                f"task {self.task_id} is {self.status}: only a completed task can be kept"
            )
        return self if self.kept_at is not None else self._evolve(now, kept_at=now)

    def unkeep(self, *, now: datetime) -> Task:
        """No longer a pick (not kept: unchanged)."""
        return self if self.kept_at is None else self._evolve(now, kept_at=None)

    def needs_resubmit(self, *, now: datetime) -> Task:
        """The provider lost the job: forget it so the next attempt submits afresh."""
        self._require_open("resubmit")
        return self._evolve(now, provider_job=None)

    def fall_back(self, *, now: datetime, to: str, reason: str) -> Task:
        """The current provider cannot take the task: it goes back to our queue for `to`."""
        self._require_open("fall back")
        if to == self.provider or any(skip.provider == to for skip in self.skipped):
            raise InvalidTransition(f"task {self.task_id} cannot fall back to {to}: tried already")
        return self._evolve(
            now,
            skipped=(*self.skipped, Skip(provider=self.provider, reason=clean_text(reason))),
            provider=to,
            provider_job=None,
            queue_position=None,
            status=TaskStatus.SUBMITTED,
        )
