"""The SDK's /batches calls on AsyncClient against a real server on loopback, on the local
engine: a batch of views and variations created by upload, followed to its end with each
member's progress, its zip unpacked under the zip's names; cancel and retry on a hanging app;
waiting by polling where no event stream gets through; each refusal as its exception."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from aiohttp import web

from rendergate.client import (
    ApiError,
    AsyncClient,
    Batch,
    BatchStatus,
    Conflict,
    NotFound,
    Task,
    TaskStatus,
)
from rendergate.config.settings import Settings
from support.images import make_scene
from support.proxy import Proxy, proxying
from support.server import serve

VIEWS = [make_scene(96, 72, seed=i) for i in range(3)]
REFERENCE = make_scene(64, 48, seed=9)
HANG = {"fake": {"outcome": "hang"}}
NAMES = [
    f"view0{v + 1}_{a}_v{k + 1}.png" for v, a in enumerate(("front", "side", "top")) for k in (0, 1)
]


async def test_a_batch_is_made_followed_to_its_end_and_unpacked(
    settings: Settings, tmp_path: Path
) -> None:
    shots = [tmp_path / f"shot{i}.png" for i in range(2)]
    for shot, data in zip(shots, VIEWS, strict=False):
        shot.write_bytes(data)
    ref = tmp_path / "ref.png"
    ref.write_bytes(REFERENCE)
    async with serve(settings) as server, AsyncClient(server.url) as client:
        made = await client.create_batch(
            [shots[0], shots[1], VIEWS[2]],  # paths and bytes, in one upload
            angles=["front", "side", "top"],
            reference=ref,
            type="preview",
            params={"strength": 0.5},
            variations=2,
            seed=1000,
            name="house A",
        )
        assert isinstance(made, Batch) and made.status is BatchStatus.SUBMITTED
        assert (made.name, made.type, made.seed, made.variations) == ("house A", "preview", 1000, 2)
        assert [(v.view, v.angle) for v in made.views] == [(0, "front"), (1, "side"), (2, "top")]
        places = [(t.batch_id, t.view, t.variation, t.seed) for t in made.tasks]
        assert places == [(made.batch_id, v, k, 1000 + k) for v in range(3) for k in range(2)]
        assert all(t.params["strength"] == 0.5 for t in made.tasks)

        seen: dict[int, list[Task]] = defaultdict(list)
        done = await client.wait_batch(
            made.batch_id, timeout=60, on_progress=lambda t: seen[t.view or 0].append(t)
        )
        assert done.status is BatchStatus.COMPLETED and done.progress == 100, done
        assert done.counts["completed"] == 6
        assert sorted(seen) == [0, 1, 2]
        for view, states in seen.items():  # both variations of each view, each to its end
            ended = {t.variation for t in states if t.status is TaskStatus.COMPLETED}
            assert ended == {0, 1}, (view, states)
        again = await client.get_batch(made.batch_id)  # its finished_at may be set since
        assert (again.status, again.tasks) == (done.status, done.tasks)
        assert [b.batch_id async for b in client.list_batches(limit=1)] == [made.batch_id]

        saved = await client.download_batch(made.batch_id, tmp_path / "renders")
        assert sorted(p.name for p in saved) == sorted(NAMES)
        assert all(p.parent == tmp_path / "renders" for p in saved)
        by_name = {p.name: p.read_bytes() for p in saved}
        for task in done.tasks:
            name = NAMES[(task.view or 0) * 2 + (task.variation or 0)]
            assert by_name[name] == await client.download(task.task_id), name
        assert by_name[NAMES[0]] != by_name[NAMES[1]]  # two seeds, two renders


async def test_a_hanging_batch_is_canceled_retried_and_canceled_again(
    settings: Settings,
) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        made = await client.create_batch(
            [VIEWS[0], VIEWS[1]], type="fake", params=HANG, then=["upscale"]
        )
        assert made.then == ({"type": "upscale", "params": {"scale": 2}},)  # its default filled
        with pytest.raises(TimeoutError, match=r"batch \d+ did not finish in 0\.3 s"):
            await client.wait_batch(made.batch_id, timeout=0.3)
        canceled = await client.cancel_batch(made.batch_id)
        assert canceled.status is BatchStatus.CANCELED and canceled.counts["canceled"] == 2
        assert canceled.canceled_at is not None
        with pytest.raises(Conflict, match="already canceled"):
            await client.cancel_batch(made.batch_id)

        retried = await client.retry_batch(made.batch_id)
        old = {t.task_id for t in made.tasks}
        assert {t.rerun_of for t in retried.tasks} == old
        assert [(t.view, t.variation) for t in retried.tasks] == [(0, 0), (1, 0)]
        assert retried.status in (BatchStatus.SUBMITTED, BatchStatus.PROCESSING)
        with pytest.raises(Conflict):
            await client.retry_batch(made.batch_id)  # it runs
        await client.cancel_batch(made.batch_id)
        ended = await client.wait_batch(made.batch_id, timeout=30)
        assert ended.status is BatchStatus.CANCELED
        with pytest.raises(NotFound, match="no result yet"):
            await client.download_batch(made.batch_id, "unused")


class NoStreams(Proxy):
    """A proxy that lets no event stream through, as some do."""

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/events"):
            return web.json_response(
                {"code": 404, "msg": "no streams here", "data": None}, status=404
            )
        return await super().forward(request)


async def test_waiting_polls_where_no_stream_gets_through_and_creates_are_idempotent(
    settings: Settings,
) -> None:
    async with (
        serve(settings) as server,
        proxying(NoStreams(server.url)) as proxy,
        AsyncClient(proxy.url) as client,
    ):
        client.poll_interval_s = 0.05
        made = await client.create_batch(
            [VIEWS[0], VIEWS[1]], type="preview", idempotency_key="batch-1"
        )
        again = await client.create_batch(
            [VIEWS[0], VIEWS[1]], type="preview", idempotency_key="batch-1"
        )
        assert again.batch_id == made.batch_id
        posts = [p for p in proxy.passed if (p.method, p.path_qs) == ("POST", "/batches")]
        assert [p.replayed for p in posts] == ["", "true"]
        seen: list[Task] = []
        done = await client.wait_batch(made.batch_id, timeout=60, on_progress=seen.append)
        assert done.status is BatchStatus.COMPLETED
        assert {(t.view, t.status) for t in seen if t.status.is_terminal} == {
            (0, TaskStatus.COMPLETED),
            (1, TaskStatus.COMPLETED),
        }
        polled = [p for p in proxy.passed if p.path_qs == f"/batches/{made.batch_id}"]
        assert polled, proxy.passed


async def test_each_refusal_is_its_exception(settings: Settings, tmp_path: Path) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        with pytest.raises(ApiError, match="image is not an image we can read") as refused:
            await client.create_batch([VIEWS[0], b"not a png"], type="preview")
        assert refused.value.status == 415
        assert [b async for b in client.list_batches()] == []  # refused whole
        with pytest.raises(ValueError, match="2 angles for 1 images"):
            await client.create_batch([VIEWS[0]], angles=["front", "side"])
        with pytest.raises(NotFound):
            await client.get_batch(12345)
        first = await client.create(VIEWS[0], type="preview")
        await client.wait(first.task_id, timeout=60)
        url_free = await client.create_batch([first.task_id, VIEWS[1]], angles=["a", "b"])
        assert url_free.tasks[0].parent_task_id == first.task_id  # sent as JSON views
        assert [v.angle for v in url_free.views] == ["a", "b"]
        assert (await client.wait_batch(url_free.batch_id, timeout=60)).status == "completed"
        saved = await client.download_batch(url_free.batch_id, tmp_path)
        names = sorted(p.name for p in saved)
        assert len(names) == 2 and names[1] == "view02_b_v1.png"
        assert names[0].startswith("view01_a_v1"), names  # the server adds the app to this one
