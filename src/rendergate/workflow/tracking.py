"""The track step: hands a submitted job to this worker's tracker (tracker.py) and waits
until the job ends, the task is canceled, or the app's deadline passes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from rendergate.domain.apps import AppSpec
from rendergate.domain.task import ErrorKind, Task
from rendergate.providers.base import Provider
from rendergate.services.writer import TaskWriter
from rendergate.workflow.job_checks import Job, submitted_at
from rendergate.workflow.outcomes import FINISHED_TRACK, Tracked, TrackOutcome
from rendergate.workflow.tracker import Tracker


class TrackStep:
    def __init__(
        self,
        *,
        writer: TaskWriter,
        providers: Mapping[str, Provider],
        apps: Mapping[str, AppSpec],
        tracker: Tracker,
    ) -> None:
        self.writer = writer
        self.providers = providers
        self.apps = apps
        self.tracker = tracker

    async def __call__(self, task_id: int) -> Tracked:
        task = await self.writer.read(task_id)
        if task.status.is_terminal:
            return FINISHED_TRACK
        if task.provider_job is None:  # forgotten after a lost job: submit again
            return Tracked(TrackOutcome.LOST)
        provider, app = self.providers.get(task.provider), self.apps.get(task.app)
        if provider is None or app is None:
            await self.writer.fail(task.task_id, unconfigured(task), ErrorKind.CONFIG)
            return FINISHED_TRACK
        deadline = app.deadline(task.created_at, task.deadline_s)
        loop_now = asyncio.get_running_loop().time()
        job = Job(
            task=task,
            provider=provider,
            handle=task.provider_job,
            deadline=deadline.at,
            timeout_message=deadline.message(app),
            submitted=submitted_at(task, task.provider_job, self.writer.clock(), loop_now),
        )
        return await self.tracker.follow(job)


def unconfigured(task: Task) -> str:
    """Settings changed under a running job: say so instead of failing with a KeyError."""
    return (
        f"{task.provider} or app {task.app!r} is no longer configured here; "
        "the job it had started may still run there"
    )
