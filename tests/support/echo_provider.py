"""A provider that lives only in the tests: found through RENDERGATE_PROVIDER_MODULES and
configured by its own settings (RENDERGATE_ECHO_*), with no edit to any rendergate module.

It "renders" by handing the task's image back, and reports its setting as the cost, so a
test can see the module was found, configured and run through a whole task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import aiohttp

from rendergate.config.settings import ProviderSettings
from rendergate.providers import ProviderEntry
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
)


class EchoSettings(ProviderSettings):
    """The adapter's own settings: RENDERGATE_ECHO_TAG, or echo_tag in the TOML file."""

    echo_tag: str = "untagged"


@dataclass
class EchoProvider:
    settings: EchoSettings
    name: str = "echo"
    files: dict[str, bytes] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def upload(self, file: InputFile) -> str:
        ref = f"echo-{next(self._ids)}.{file.extension}"
        self.files[ref] = file.data
        return ref

    async def submit(self, request: JobRequest) -> JobHandle:
        return JobHandle(job_id=f"echo-{request.task_id}", data={"image": request.inputs["image"]})

    async def status(self, job: JobHandle) -> JobStatus:
        output = OutputRef(locator=str(job.data["image"]), file_type="png")
        return JobStatus(
            phase=JobPhase.SUCCEEDED, outputs=(output,), cost={"tag": self.settings.echo_tag}
        )

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        return self.files[output.locator]

    async def aclose(self) -> None:
        self.files.clear()


def from_settings(settings: EchoSettings, http: aiohttp.ClientSession) -> EchoProvider:
    return EchoProvider(settings)


PROVIDER = ProviderEntry(name="echo", settings=EchoSettings, factory=from_settings)
