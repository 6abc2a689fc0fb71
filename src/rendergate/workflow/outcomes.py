"""What each step of a task's workflow hands the next, and how the workflow ends: typed
values, turned into JSON only where DBOS records them (runtime/step_codec.py).

The provider's job reaches the track and collect steps through the store, never through a
checkpoint: the submit step records it on the task's row (`Task.provider_job`) before it
answers `Submitted`, and each later step reads the task afresh. A lost job is forgotten
there too (`Task.needs_resubmit`), so the row is the one place a job handle lives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rendergate.domain.media import safe_extension
from rendergate.domain.values import bounded_cost
from rendergate.providers.base import OutputRef


@dataclass(frozen=True)
class Submitted:
    """The provider has the job (now, or before a crash) and the task's row records it:
    track it."""


@dataclass(frozen=True)
class Moved:
    """The task fell back to another route, whose own workflow runs it."""

    provider: str
    workflow_id: str


@dataclass(frozen=True)
class Finished:
    """Nothing left to do: failed, canceled, or timed out."""


SubmitResult = Submitted | Moved | Finished


class TrackOutcome(StrEnum):
    SUCCEEDED = "succeeded"  # collect the outputs
    FINISHED = "finished"  # failed, canceled or timed out: nothing left to do
    LOST = "lost"  # the provider lost the job: submit again


class RunEnd(StrEnum):
    """How one run of a task's workflow ended: what DBOS records as its output."""

    SUCCEEDED = "succeeded"  # the job succeeded and collect ran (it completes or fails the task)
    FINISHED = "finished"  # failed, canceled or timed out: nothing left to do
    MOVED = "moved"  # the task fell back to another route, whose own workflow runs it

    def __reduce_ex__(self, protocol: object) -> tuple[type[str], tuple[str]]:
        """Pickled as its text: DBOS pickles a workflow's output, and a class would tie the
        record to this module's path (outputs written before this enum were plain text)."""
        return str, (self.value,)


@dataclass(frozen=True)
class Made:
    """A task a finished task's end made (its chain's next step), to be run by a workflow
    of its own."""

    task_id: int
    provider: str
    workflow_id: str


@dataclass(frozen=True)
class Ran:
    """How a task's run (submit, track, collect, finish: TaskRunner.run) ended: what the
    workflow records, the route a moved task takes next, and the tasks its end made."""

    end: RunEnd
    moved: Moved | None = None
    made: tuple[Made, ...] = ()


@dataclass(frozen=True)
class Tracked:
    outcome: TrackOutcome
    outputs: tuple[OutputRef, ...] = ()
    cost: Mapping[str, Any] | None = None


FINISHED_TRACK = Tracked(TrackOutcome.FINISHED)


def succeeded(outputs: tuple[OutputRef, ...], cost: Mapping[str, Any] | None) -> Tracked:
    """The job's results, with what the provider said of them bounded before DBOS records it
    or the task keeps it: each file type a safe extension, the cost plain short values."""
    safe = tuple(dataclasses.replace(o, file_type=safe_extension(o.file_type)) for o in outputs)
    return Tracked(TrackOutcome.SUCCEEDED, safe, bounded_cost(cost))
