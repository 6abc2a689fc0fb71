"""The collect step: downloads every output, stores our own copy, then completes the task
once. Provider URLs expire; ours do not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import stamina
import structlog

from rendergate.blobs.base import BlobStore
from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.domain.media import content_type_of, safe_extension
from rendergate.domain.task import ErrorKind, JobHandle, ResultFile, Task
from rendergate.providers.base import OutputRef, Provider
from rendergate.services.writer import TaskWriter
from rendergate.workflow.outcomes import Tracked
from rendergate.workflow.provider_calls import (
    CALL_ATTEMPTS,
    CallObserver,
    failure_message,
    readable,
)
from rendergate.workflow.tracking import unconfigured

log = structlog.get_logger(__name__)


class CollectStep:
    def __init__(
        self,
        *,
        writer: TaskWriter,
        providers: Mapping[str, Provider],
        blobs: BlobStore,
        observe: CallObserver | None = None,
    ) -> None:
        self.writer = writer
        self.observe = observe
        self.providers = providers
        self.blobs = blobs

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.writer.clock

    async def __call__(self, task_id: int, tracked: Tracked) -> None:
        task = await self.writer.read(task_id)
        if task.status.is_terminal or task.provider_job is None:
            return
        provider = self.providers.get(task.provider)
        if provider is None:
            await self.writer.fail(task_id, unconfigured(task), ErrorKind.CONFIG)
            return
        if not tracked.outputs:
            none = "the provider finished without any output"
            await self.writer.fail(task_id, none, ErrorKind.PROVIDER)
            return
        collecting = await self.writer.apply(
            task_id, lambda t: t.report(now=self.clock(), progress=96), current=task
        )
        results: list[ResultFile] = []
        done: Task | None = None
        try:
            for index, output in enumerate(tracked.outputs):
                results.append(await self._rehost(task, provider, task.provider_job, index, output))
            done = await self.writer.apply(
                task_id,
                lambda t: t.complete(now=self.clock(), outputs=tuple(results), cost=tracked.cost),
                current=collecting,
            )
        except JobLost as exc:
            message = f"the provider's result is gone: {exc.message}"
            await self.writer.fail(task_id, message, ErrorKind.PROVIDER)
        except ProviderError as exc:
            message = failure_message(task.provider, exc)
            await self.writer.fail(task_id, message, ErrorKind.of(exc.fault))
        finally:
            if done is None:  # failed, or canceled meanwhile: keep no orphan files
                for result in results:
                    await self.blobs.delete(result.key)
        if done is not None:
            log.info("task completed", task_id=task_id, outputs=len(results))

    async def _rehost(
        self, task: Task, provider: Provider, job: JobHandle, index: int, output: OutputRef
    ) -> ResultFile:
        """Downloads one output (retried through faults) and stores our own copy."""
        async for attempt in stamina.retry_context(
            on=ProviderUnavailable, attempts=CALL_ATTEMPTS, timeout=300.0
        ):
            with attempt:
                data = await readable(
                    task.provider, provider.download(job, output), observe=self.observe
                )
        extension = safe_extension(output.file_type)  # again: a record from before the bound
        key = f"results/{task.task_id}/{index}.{extension}"
        await self.blobs.put(key, data)
        return ResultFile(
            key=key,
            content_type=content_type_of(extension),
            size=len(data),
            node_id=output.node_id,
            file_type=extension,
        )
