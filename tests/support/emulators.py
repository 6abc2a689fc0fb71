"""The emulator fixtures, written once for rendergate's tests and the emulators' own (each
tree's conftest.py imports them): RunningHub's, its knobs set with
`@pytest.mark.emulator(hold=True, ...)` on a module or a test, and Aliyun's (`stepped`: on
a clock the test moves with `hands`)."""

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


class Hands:
    """The emulator's clock, moved only by the test: each phase lasts until it says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hands() -> Hands:
    return Hands()


@pytest.fixture
async def stepped(hands: Hands) -> AsyncIterator[AliyunEmulator]:
    """The Aliyun emulator on `hands`' clock, its jobs running 2 s of it."""
    emu = AliyunEmulator(ALIYUN_KEY, ALIYUN_SECRET, clock=hands, run_s=2.0)
    async with emu.serve():
        yield emu
