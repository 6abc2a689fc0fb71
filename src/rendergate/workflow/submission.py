"""The submit step: hands a task to its provider once, or moves it to the app's next route.

A provider that cannot take the task (its circuit is open, it is out of funds, it refused
our credentials or account, it is at its concurrency or quota limit, or it did not answer)
is skipped when the app has a later route whose provider runs here: the task records the
skip and goes back to our queue for that provider, as its own workflow. On the last route
the task waits out a busy provider or one out of funds (funds.py: the first task refused
for balance fails, saying so) and fails on anything else. The inputs' own faults never fall
back: every provider would refuse them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime

import stamina
import structlog

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import (
    InputsGone,
    OutOfFunds,
    ProviderError,
    ProviderUnanswered,
    ProviderUnavailable,
)
from rendergate.domain.task import ErrorKind, InputRef, JobHandle, Task
from rendergate.providers.accounts import pool_capability
from rendergate.providers.base import InputFile, JobRequest, Provider
from rendergate.services.links import callback_url
from rendergate.services.routing import RunsHere
from rendergate.services.writer import TaskWriter
from rendergate.workflow.accounts import PooledKeys, SetAside
from rendergate.workflow.circuit import Circuit, Circuits
from rendergate.workflow.fallback import Guard, retryable, skip_reason
from rendergate.workflow.funds import Funds, usable, wait_for_funds
from rendergate.workflow.outcomes import Finished, Moved, SubmitResult, Submitted
from rendergate.workflow.provider_calls import (
    CALL_ATTEMPTS,
    DEFAULT_BACKOFF,
    Backoff,
    CallObserver,
    cancel_upstream,
    failure_message,
)
from rendergate.workflow.unanswered import SlotsInUse, UnansweredSubmits, in_doubt

log = structlog.get_logger(__name__)

UPLOAD_ROUNDS = 3  # times the inputs are uploaded for one submit when the provider loses them


def idempotency_key(task: Task) -> str:
    """One key per task, route and attempt, unique across installations sharing a provider
    (ComfyUI prompt ids): the task's secret token goes in only through a hash."""
    salt = hashlib.sha256(task.callback_token.encode()).hexdigest()[:16]
    return f"{task.task_id}.{len(task.skipped)}.{task.attempts + 1}.{salt}"


class SubmitStep:
    """submit(task_id): that the task's row now records its job, where it moved, or that
    it is finished."""

    def __init__(
        self,
        *,
        writer: TaskWriter,
        providers: Mapping[str, Provider],
        apps: Mapping[str, AppSpec],
        blobs: BlobStore,
        settings: Settings,
        circuits: Circuits,
        funds: Funds,
        backoff: Backoff = DEFAULT_BACKOFF,
        slots_in_use: SlotsInUse | None = None,
        observe: CallObserver | None = None,
    ) -> None:
        self.writer = writer
        self.observe = observe
        self.providers = providers
        self.apps = apps
        self.blobs = blobs
        self.settings = settings
        self.here = RunsHere(providers, settings)
        self.circuits = circuits
        self.funds = funds
        self.keys = PooledKeys(writer, SetAside(settings.circuit_open_s))
        self.backoff = backoff
        self.unanswered = UnansweredSubmits(slots_in_use, observe)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.writer.clock

    async def __call__(self, task_id: int, workflow_id: str | None = None) -> SubmitResult:
        """`workflow_id` is the calling workflow's: one the task has moved away from (it fell
        back just before a crash) learns where the task went and submits nothing."""
        task = await self.writer.read(task_id)
        settled = self._settled(task, workflow_id)
        if settled is not None:
            return settled
        app = await self._runnable_app(task)
        if app is None:
            return Finished()
        fallback = self.here.next_route(app, task)
        gone = self.here.reason(task.provider)
        if gone is not None:  # its settings went away while it waited
            return await self._fall_back_or_fail(task_id, fallback, gone, ErrorKind.CONFIG)
        # One circuit per provider and app: one app's broken settings (a wrong app id, a
        # template that does not suit the server) must not turn tasks of other apps away.
        circuit = self.circuits[f"{task.provider}/{task.app}"]
        if fallback is not None and not circuit.allows(self.clock()):
            opened = f"circuit open: {task.provider} failed {circuit.failures} times in a row"
            return await self._fall_back(task_id, fallback, f"{opened} for this app")
        while True:  # ends: waiting for funds ends at the task's deadline
            waited = await self._funds_gate(task, app, fallback)
            if waited is not None:
                return waited
            result = await self._hand_over_once(task, app, circuit, fallback)
            if result is not None:
                return result

    async def _funds_gate(
        self, task: Task, app: AppSpec, fallback: str | None
    ) -> SubmitResult | None:
        """None when the provider may be sent the job; else where the task went."""
        provider = self.providers[task.provider]
        if await usable(self.funds, task.provider, provider, self.clock()):
            return None
        if fallback is not None:
            reason = f"{task.provider} is out of funds: its balance is used up"
            return await self._fall_back(task.task_id, fallback, reason)
        waited = await wait_for_funds(self.funds, self.writer, task, app, provider)
        return None if waited else Finished()

    @staticmethod
    def _settled(task: Task, workflow_id: str | None) -> SubmitResult | None:
        """What this step already knows without calling anyone, if anything."""
        if task.status.is_terminal:
            return Finished()
        if workflow_id is not None and workflow_id != task.workflow_id:
            return Moved(task.provider, task.workflow_id)
        if task.provider_job is not None:  # submitted before a crash: never twice
            return Submitted()
        return None

    async def _runnable_app(self, task: Task) -> AppSpec | None:
        """The task's app, unless the apps changed under it or its deadline passed."""
        app = self.apps.get(task.app)
        if app is None or all(route.provider != task.provider for route in app.routes):
            gone = f"app {task.app!r} no longer runs on {task.provider}"
            await self.writer.fail(task.task_id, gone, ErrorKind.CONFIG)
            return None
        deadline = app.deadline(task.created_at, task.deadline_s)
        if self.clock() >= deadline.at:
            await self.writer.fail(task.task_id, deadline.message(app), ErrorKind.TIMEOUT)
            return None
        return app

    async def _hand_over_once(
        self, task: Task, app: AppSpec, circuit: Circuit, fallback: str | None
    ) -> SubmitResult | None:
        """Where the task went; None: refused for balance after another task was (it waits)."""
        guard = Guard(circuit, self.clock, task.provider, self.observe)
        try:
            job = await self._hand_over(
                task, app.on(task.provider), guard, can_move=fallback is not None
            )
        except ProviderError as exc:
            if isinstance(exc, OutOfFunds):
                first = self.funds.used_up(task.provider, self.clock())
                if fallback is None and not first:
                    return None
            reason = skip_reason(task.provider, exc, guard.failed_in_a_row)
            if fallback is not None and reason is not None:
                return await self._fall_back(task.task_id, fallback, reason)
            await self.writer.fail(
                task.task_id, failure_message(task.provider, exc), ErrorKind.of(exc.fault)
            )
            return Finished()
        if job is None:  # canceled while we waited for a busy provider
            return Finished()
        circuit.succeeded()
        self.funds.topped_up(task.provider)  # a trial that got through
        return await self._record(task, job)

    async def _record(self, task: Task, job: JobHandle) -> SubmitResult:
        stored = await self.writer.apply(
            task.task_id, lambda t: t.start(now=self.clock(), provider_job=job), current=task
        )
        if stored is None:  # canceled meanwhile, or another execution's job came first
            current = await self.writer.store.get(task.task_id)
            if current.provider_job == job and not current.status.is_terminal:
                return Submitted()  # ours: its write landed though its answer was lost
            await cancel_upstream(self.providers.get(task.provider), job)
            if current.status.is_terminal or current.provider_job is None:
                return Finished()
            log.warning("a second execution submitted; its job was canceled", task_id=task.task_id)
            return Submitted()  # the job the task records is followed
        shown = job.job_id if job.shown else ""
        structlog.contextvars.bind_contextvars(provider_job_id=shown)  # for the lines to come
        log.info("task submitted", task_id=task.task_id, provider=task.provider, job=job.job_id)
        return Submitted()

    async def _hand_over(
        self, task: Task, app: AppSpec, guard: Guard, *, can_move: bool
    ) -> JobHandle | None:
        """Uploads the inputs and submits the job; None if the task was canceled meanwhile.

        A provider that lost the uploads before the job was in (InputsGone) gets them again.
        """
        for _ in range(UPLOAD_ROUNDS - 1):
            try:
                return await self._on_a_key(task, app, guard, can_move=can_move)
            except InputsGone as exc:
                log.info("inputs gone; uploading again", task_id=task.task_id, reason=exc.message)
        return await self._on_a_key(task, app, guard, can_move=can_move)

    async def _on_a_key(
        self, task: Task, app: AppSpec, guard: Guard, *, can_move: bool
    ) -> JobHandle | None:
        """Uploads and submits on the key with room, of a provider's pooled keys (accounts.py)."""

        async def send(account: str | None) -> JobHandle | None:
            return await self._upload_and_submit(task, app, guard, account, can_move=can_move)

        pool = pool_capability(self.providers[task.provider])
        if pool is None or len(pool.accounts) < 2:
            return await send(None)
        return await self.keys.send(
            task, pool, send, lambda: self._retrying(task, app, can_move=can_move)
        )

    async def _upload_and_submit(
        self, task: Task, app: AppSpec, guard: Guard, account: str | None, *, can_move: bool
    ) -> JobHandle | None:
        provider = self.providers[task.provider]
        refs: dict[str, str] = {}
        for role, ref in task.inputs.items():  # idempotent: as patient as the submit
            async for attempt in self._retrying(task, app, can_move=can_move):
                with attempt:
                    file = await self._input_file(role, ref, account)
                    refs[role] = await guard(provider.upload(file))
        request = JobRequest(
            task_id=task.task_id,
            app=app,
            inputs=refs,
            angle=task.angle,
            params=task.params,
            seed=task.seed,
            callback_url=callback_url(self.settings, task),
            attempt=task.attempts + 1,
            idempotency_key=idempotency_key(task),
            account=account,
        )
        # A busy provider (RunningHub's 421) is waited out until the app's deadline, unless
        # the task is canceled meanwhile; with a later route, the task moves on instead.
        # A submit that went unanswered is sent again only once the provider shows it did
        # not take the job (unanswered.py).
        unanswered: ProviderUnanswered | None = None
        try:
            async for attempt in self._retrying(task, app, can_move=can_move):
                with attempt:
                    # a cancel during the uploads or the back-off creates no job upstream
                    if (await self.writer.store.get(task.task_id)).status.is_terminal:
                        return None
                    if unanswered is not None:
                        await self.unanswered.check(task, provider, unanswered)
                        unanswered = None
                    try:
                        return await guard(provider.submit(request), creates_job=True)
                    except ProviderUnanswered as exc:
                        unanswered = exc
                        raise
        except ProviderUnavailable as exc:  # out of tries, perhaps with the doubt unsettled
            if unanswered is None:
                raise
            raise in_doubt(unanswered, "it could not be checked") from exc
        raise AssertionError("unreachable: stamina raises once it stops retrying")

    def _retrying(
        self, task: Task, app: AppSpec, *, can_move: bool
    ) -> AsyncIterator[stamina.Attempt]:
        """Tries of one call: until the app's deadline on the last route, a few otherwise."""
        patience = app.deadline(task.created_at, task.deadline_s).at - self.clock()
        return stamina.retry_context(
            on=retryable(can_move),
            attempts=CALL_ATTEMPTS if can_move else None,
            timeout=max(patience.total_seconds(), 1.0),
            wait_initial=self.backoff.initial_s,
            wait_max=self.backoff.max_s,
        )

    async def _fall_back_or_fail(
        self, task_id: int, to: str | None, reason: str, kind: ErrorKind
    ) -> SubmitResult:
        if to is not None:
            return await self._fall_back(task_id, to, reason)
        await self.writer.fail(task_id, reason, kind)
        return Finished()

    async def _fall_back(self, task_id: int, to: str, reason: str) -> SubmitResult:
        """Records the skip and hands the task to route `to`, unless it finished meanwhile."""
        moved = await self.writer.fall_back(task_id, to, reason)
        if moved is None:
            return Finished()
        log.info("task falls back", task_id=task_id, to=to, reason=moved.skipped[-1].reason)
        return Moved(to, moved.workflow_id)

    async def _input_file(self, role: str, ref: InputRef, account: str | None) -> InputFile:
        return InputFile(
            role=role,
            data=await self.blobs.get(ref.key),
            content_type=ref.content_type,
            extension=ref.key.rsplit(".", 1)[-1],
            account=account,
        )
