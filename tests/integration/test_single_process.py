"""SQLite allows one rendergate process per data directory: the composition root holds it."""

from __future__ import annotations

import os

import pytest

from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError
from rendergate.runtime.bootstrap import open_services
from rendergate.testing import RecordingOrchestrator


async def test_a_second_opening_of_the_data_dir_is_refused_until_the_first_closes(
    settings: Settings,
) -> None:
    orchestrator = RecordingOrchestrator()
    async with open_services(settings, orchestrator=orchestrator):
        with pytest.raises(ConfigError) as refused:
            async with open_services(settings, orchestrator=orchestrator):
                raise AssertionError("opened twice")
        assert f"another rendergate process (pid {os.getpid()})" in refused.value.message
        assert str(settings.data_dir.resolve()) in refused.value.message
    async with open_services(settings, orchestrator=orchestrator) as services:
        assert services.settings is settings  # free again once the first has closed
    assert orchestrator.started == []  # nothing was queued on the way
