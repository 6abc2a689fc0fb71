"""The emulator fixtures, written once for rendergate's tests and the emulators' own (each
tree's conftest.py imports them): RunningHub's, its knobs set with
`@pytest.mark.emulator(hold=True, ...)` on a module or a test, and Aliyun's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rendergate_emulators.aliyun import AliyunEmulator
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import running_emulator

ALIYUN_KEY = "204918273"
ALIYUN_SECRET = "Zq8vWm2LkP0sYtR4xN6cB1dF3gH5jK7u"


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[RunningHubEmulator]:
    """The RunningHub emulator on 127.0.0.1, with quick jobs unless the marker says."""
    marker = request.node.get_closest_marker("emulator")
    async with running_emulator(**(marker.kwargs if marker else {})) as emu:
        yield emu


@pytest.fixture
async def aliyun() -> AsyncIterator[AliyunEmulator]:
    """The Aliyun 智作工坊 emulator on 127.0.0.1, its jobs running 0.3 s."""
    emu = AliyunEmulator(ALIYUN_KEY, ALIYUN_SECRET, run_s=0.3)
    async with emu.serve():
        yield emu
