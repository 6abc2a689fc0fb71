"""SQLite allows one rendergate process per data directory: the composition root holds it."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError
from rendergate.domain.task import Task
from rendergate.runtime.bootstrap import open_services
from rendergate.services.context import WorkflowState


class NoQueue:
    async def start(self, task: Task) -> None:
        raise AssertionError("nothing is started here")

    def queuing(self, task: Task) -> None:
        raise AssertionError("nothing is queued here")

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        raise AssertionError("nothing is asked here")


async def test_a_second_opening_of_the_data_dir_is_refused_until_the_first_closes(
    settings: Settings,
) -> None:
    async with open_services(settings, orchestrator=NoQueue()):
        with pytest.raises(ConfigError) as refused:
            async with open_services(settings, orchestrator=NoQueue()):
                raise AssertionError("opened twice")
        assert f"another rendergate process (pid {os.getpid()})" in refused.value.message
        assert str(settings.data_dir.resolve()) in refused.value.message
    async with open_services(settings, orchestrator=NoQueue()) as services:
        assert services.settings is settings  # free again once the first has closed
