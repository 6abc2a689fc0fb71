"""What each step of a task's workflow hands the next: typed values, turned into JSON only
where DBOS records them (runtime/step_codec.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rendergate.domain.media import safe_extension
from rendergate.domain.task import JobHandle
from rendergate.domain.values import bounded_cost
from rendergate.providers.base import OutputRef


@dataclass(frozen=True)
class Submitted:
    """The provider has the job (now, or before a crash): track it."""

    job: JobHandle


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
