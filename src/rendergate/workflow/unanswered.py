"""A submit that went out but got no answer may have created the job: before it is sent
again, the provider must show it did not. Sending it again blindly could run, and pay
for, the task twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from rendergate.domain.errors import JobInDoubt, ProviderUnanswered
from rendergate.domain.task import Task
from rendergate.providers.base import Provider, job_count_capability
from rendergate.workflow.provider_calls import CallObserver, readable

log = structlog.get_logger(__name__)

SlotsInUse = Callable[[str], Awaitable[int]]


def in_doubt(unanswered: ProviderUnanswered, why: str) -> JobInDoubt:
    return JobInDoubt(
        f"{unanswered.message} to the submit, and {why}: it may have taken the job, so "
        "it was not sent again (that could run and pay for the task twice)"
    )


class UnansweredSubmits:
    """`slots_in_use(provider)`: the workflows holding a place under the provider's cap
    (the orchestrator's count), each of which may have one job there; None where there is
    no orchestrator to ask, and then nothing can be checked."""

    def __init__(
        self, slots_in_use: SlotsInUse | None, observe: CallObserver | None = None
    ) -> None:
        self.slots_in_use = slots_in_use
        self.observe = observe

    async def check(self, task: Task, provider: Provider, unanswered: ProviderUnanswered) -> None:
        """Returns when the provider did not take the unanswered submit: its account holds
        no more jobs than rendergate's other tasks may have there. Raises JobInDoubt when
        it may have; a provider that cannot count its jobs may always have."""
        counter = job_count_capability(provider)
        if counter is None or self.slots_in_use is None:
            raise in_doubt(unanswered, f"{task.provider} offers no way to check")
        running = await readable(task.provider, counter.jobs_running(), observe=self.observe)
        others = max(await self.slots_in_use(task.provider) - 1, 0)  # this task holds one
        if running > others:
            seen = f"its account has {running} jobs queued or running, rendergate's others {others}"
            raise in_doubt(unanswered, seen)
        log.info("unanswered submit not taken; sending it again", task_id=task.task_id)
