"""A batch on the RunningHub emulator with a consumer key's cap of one task at a time: every
member completes, one at a time at RunningHub, and the 421s the key draws in the middle
(our cap of two is one too many for it) are waited out."""

from __future__ import annotations

import itertools

import aiohttp
import pytest
import stamina

from rendergate.config.settings import Settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import hub_settings
from support.images import make_reference, make_scene
from support.server import serve
from support.waiting import until

pytestmark = pytest.mark.slow  # waits out RunningHub's pacing and its 421s


@pytest.mark.emulator(concurrency=1)
async def test_a_batch_runs_one_at_a_time_on_a_key_capped_at_one(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    stamina.set_testing(False)  # real back-off, so the slot frees up meanwhile
    form = aiohttp.FormData()
    for i in range(3):
        form.add_field("image", make_scene(96, 64, seed=i), filename=f"{i}.png")
    form.add_field("reference", make_reference(), filename="ref.jpg", content_type="image/jpeg")
    form.add_field("type", "su_render")
    form.add_field("variations", "2")
    async with serve(hub_settings(settings, emulator, runninghub_concurrency=2)) as server:
        async with server.http.post(f"{server.url}/batches", data=form) as response:
            answer = await response.json()
            assert response.status == 201, answer
        batch_id = answer["data"]["batch_id"]

        async def ended() -> object:
            async with server.http.get(f"{server.url}/batches/{batch_id}") as response:
                batch = (await response.json())["data"]
            return batch if batch["status"] not in ("submitted", "processing") else None

        batch = await until(ended, 120, "the batch to end")
    assert batch["status"] == "completed", batch
    assert batch["counts"]["completed"] == 6
    upstream = sorted(emulator.tasks.values(), key=lambda t: t.slotted_mono or 0)
    assert len(upstream) == 6  # each member submitted once
    spans = [(t.slotted_mono, t.finished_mono) for t in upstream]
    assert all(start is not None and end is not None for start, end in spans)
    for (_, first_end), (second_start, _) in itertools.pairwise(spans):
        assert first_end is not None and second_start is not None
        assert second_start >= first_end  # never two at once on the key
    assert emulator.stats.codes_by_path["/task/openapi/ai-app/run"][421] >= 1
