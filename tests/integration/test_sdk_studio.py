"""The SDK's calls for choosing and handing on results, on AsyncClient against a real server on
loopback: keep and unkeep, re-runs listed by their original, a task's input and thumbnails,
a batch found by name with its cover, its kept results upscaled inside it and zipped, a share
link that opens /s/{token} until revoked, and a quote and the account in Decimal money, for
open mode and for a key with its own prices and budget. Each refusal is its exception; the
blocking Client's twins are in test_sdk_sync.py."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from test_key_limits import make_key

from rendergate.client import (
    AsyncClient,
    Conflict,
    InvalidRequest,
    NotFound,
    Quote,
    RateLimited,
    StepQuote,
    TaskStatus,
)
from rendergate.config.settings import Settings
from rendergate.domain.limits import KeyLimits
from support.images import make_scene
from support.server import RunningServer, serve

SHOT = make_scene(320, 240, seed=1)
REFERENCE = make_scene(64, 48, seed=2)
FAKE = {"fake": {"polls": 1}}
HANG = {"fake": {"outcome": "hang"}}
WEBP = (b"RIFF", b"WEBP")


async def test_a_task_is_kept_unkept_and_its_reruns_listed(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        task = await client.create(SHOT, type="fake", params=FAKE, wait=30)
        assert task.status is TaskStatus.COMPLETED and not task.kept and task.kept_at is None
        kept = await client.keep(task.task_id)
        assert kept.kept and kept.kept_at is not None
        assert (await client.get(task.task_id)).kept
        again = await client.keep(task.task_id)
        assert again.kept_at == kept.kept_at  # keeping twice keeps the first time
        unkept = await client.unkeep(task.task_id)
        assert (unkept.kept, unkept.kept_at) == (False, None)
        assert not (await client.get(task.task_id)).kept

        reruns = [(await client.rerun(task.task_id, seed=s)).task_id for s in (1, 2)]
        other = await client.create(SHOT, type="fake", params=FAKE)
        await client.rerun(other.task_id)
        assert [t.task_id async for t in client.list(rerun_of=task.task_id)] == reruns[::-1]
        listed = [t async for t in client.list(rerun_of=task.task_id, limit=1)]  # paged
        assert [t.rerun_of for t in listed] == [task.task_id] * 2

        hanging = await client.create(SHOT, type="fake", params=HANG)
        with pytest.raises(Conflict, match="completed"):
            await client.keep(hanging.task_id)
        with pytest.raises(NotFound, match="task 12345 not found"):
            await client.keep(12345)
        with pytest.raises(InvalidRequest) as bad:
            await anext(client.list(rerun_of=-1))
        assert bad.value.detail[0]["loc"] == ["query", "rerun_of"]
        await client.cancel(hanging.task_id)


async def test_a_tasks_input_and_thumbnails_are_downloaded(
    settings: Settings, tmp_path: Path
) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        task = await client.create(SHOT, reference=REFERENCE, type="preview")
        assert (await client.wait(task.task_id, timeout=60)).status is TaskStatus.COMPLETED
        assert await client.download_input(task.task_id) == SHOT
        assert await client.download_input(task.task_id, role="reference") == REFERENCE
        saved = await client.download_input(task.task_id, tmp_path)
        assert saved == tmp_path / f"{task.task_id}-image.png" and saved.read_bytes() == SHOT

        small = await client.download_thumbnail(task.task_id, width=160)
        assert (small[:4], small[8:12]) == WEBP
        assert Image.open(io.BytesIO(small)).size == (160, 120)
        before = await client.download_thumbnail(task.task_id, width=160, role="image")
        assert Image.open(io.BytesIO(before)).size == (160, 120) and before != small
        ref = await client.download_thumbnail(task.task_id, tmp_path, width=320, role="reference")
        assert ref.name == f"{task.task_id}-reference-0-w320.webp"
        assert Image.open(ref).size == (64, 48)  # never enlarged

        with pytest.raises(InvalidRequest, match="width must be 160, 320, 640 or 1280") as bad:
            await client.download_thumbnail(task.task_id, width=100)
        assert bad.value.detail[0]["loc"] == ["query", "width"]
        with pytest.raises(NotFound, match="index"):
            await client.download_thumbnail(task.task_id, width=160, index=3)
        plain = await client.create(SHOT, type="fake", params=FAKE)
        with pytest.raises(NotFound, match="reference"):
            await client.download_input(plain.task_id, role="reference")


async def test_a_batchs_kept_results_are_found_upscaled_zipped_and_shared(
    settings: Settings, tmp_path: Path
) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        made = await client.create_batch([SHOT, SHOT], type="fake", variations=2, name="Villa B")
        other = await client.create_batch([SHOT], type="fake", name="Garage")
        done = await client.wait_batch(made.batch_id, timeout=60)
        await client.wait_batch(other.batch_id, timeout=60)
        assert done.status == "completed" and done.cover_task_id == done.tasks[0].task_id
        with pytest.raises(Conflict, match="kept"):
            await client.upscale_batch(made.batch_id, type="fake_upscale")
        pick = done.tasks[1]  # view 1, variation 2
        await client.keep(pick.task_id)

        found = [b async for b in client.list_batches(q="villa", members=False)]
        assert [(b.batch_id, b.tasks, b.cover_task_id) for b in found] == [
            (made.batch_id, (), pick.task_id)  # the kept one stands for it
        ]
        assert [b.name async for b in client.list_batches()] == ["Garage", "Villa B"]
        assert [b async for b in client.list_batches(q="nothing like it")] == []

        steps = await client.upscale_batch(made.batch_id, type="fake_upscale", params={"scale": 3})
        assert steps.made == 1 and steps.batch.batch_id == made.batch_id
        (step,) = steps.steps
        assert (step.parent_task_id, step.type, step.params) == (
            pick.task_id,
            "fake_upscale",
            {"scale": 3},
        )
        assert (step.batch_id, step.view, step.variation) == (made.batch_id, 0, 1)
        again = await client.upscale_batch(made.batch_id, type="fake_upscale", params={"scale": 3})
        assert again.made == 0 and [t.task_id for t in again.steps] == [step.task_id]
        ended = await client.wait_batch(made.batch_id, timeout=60)
        assert ended.counts["completed"] == 5
        picks = await client.download_batch(made.batch_id, tmp_path / "picks", kept=True)
        assert sorted(p.name for p in picks) == ["view01_v2.png", "view01_v2_fake_upscale.png"]
        every = await client.download_batch(made.batch_id, tmp_path / "all")
        assert len(every) == 5
        with pytest.raises(InvalidRequest, match="fake"):
            await client.upscale_batch(made.batch_id, type="fake")  # not an upscaler

        await shared_until_revoked(client, server, made.batch_id, pick.task_id, step.task_id)


async def shared_until_revoked(
    client: AsyncClient, server: RunningServer, batch_id: int, pick: int, step: int
) -> None:
    """A link to the batch shows its pick and the step made from it, until revoked."""
    share = await client.create_share(batch_id, expires_in_days=3)
    assert share.state == "active" and share.kept_only and share.token
    assert share.url == f"{server.url}/s/{share.token}"
    assert share.created_at is not None and share.expires_at is not None
    assert share.expires_at - share.created_at == timedelta(days=3)
    assert share.expires_at > datetime.now(UTC)
    async with server.http.get(f"{server.url}/s/{share.token}/batch") as opened:
        assert opened.status == 200
        shown = (await opened.json())["data"]
    assert sorted(r["task_id"] for r in shown["results"]) == sorted([pick, step])
    everything = await client.create_share(batch_id, kept_only=False)
    listed = await client.shares(batch_id)
    assert [(s.share_id, s.kept_only, s.url) for s in listed] == [
        (share.share_id, True, None),  # the link is answered once only
        (everything.share_id, False, None),
    ]
    revoked = await client.revoke_share(batch_id, share.share_id)
    assert revoked.state == "revoked" and revoked.revoked_at is not None
    async with server.http.get(f"{server.url}/s/{share.token}/batch") as gone:
        assert gone.status == 404
    assert [s.state for s in await client.shares(batch_id)] == ["revoked", "active"]
    with pytest.raises(InvalidRequest) as bad:
        await client.create_share(batch_id, expires_in_days=0)
    assert bad.value.detail[0]["loc"] == ["body", "expires_in_days"]
    with pytest.raises(NotFound):
        await client.shares(12345)
    with pytest.raises(NotFound):
        await client.revoke_share(batch_id, 12345)


async def test_a_quote_and_the_account_in_open_mode(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        quote = await client.quote(type="fake_priced", renders=3, then=["fake_upscale"])
        assert isinstance(quote, Quote) and (quote.currency, quote.type) == ("CNY", "fake_priced")
        assert (quote.per_render, quote.renders_total, quote.total) == (
            Decimal("2.00"),
            Decimal("6.00"),
            Decimal("7.50"),
        )
        assert quote.steps == (StepQuote("fake_upscale", 3, Decimal("0.50"), Decimal("1.50")),)
        assert quote.priced and quote.refusal is None and quote.budget is None
        assert quote.refusal_limit is None
        free = await client.quote(type="fake")
        assert (free.priced, free.per_render, free.total, free.renders) == (False, None, None, 1)

        before = await client.account()
        assert (before.key_id, before.currency, before.renders) == ("", "CNY", 0)
        assert before.since == datetime.now(UTC).date().replace(day=1)
        assert before.prices["fake_priced"] == Decimal("2.00")
        await client.create(SHOT, type="fake_priced", params=FAKE)
        after = await client.account()
        assert (after.renders, after.charged, after.net) == (1, Decimal("2.00"), Decimal("2.00"))
        assert (await client.quote(type="fake")).month_net == Decimal("2.00")

        with pytest.raises(InvalidRequest) as too_many:
            await client.quote(type="fake", renders=49)
        assert too_many.value.detail[0]["loc"] == ["query", "renders"]
        with pytest.raises(InvalidRequest, match="nope"):
            await client.quote(type="nope")


async def test_a_quote_and_the_account_of_a_key_with_its_own_prices(settings: Settings) -> None:
    limits = KeyLimits(prices={"fake": Decimal("1.50")}, monthly_budget=Decimal("4.00"))
    async with serve(settings) as server:
        token, key = await make_key(settings, limits)
        server.services.keys.refresh()
        # no retries: a 429 is raised as it comes (the budget's Retry-After is weeks anyway)
        async with AsyncClient(server.url, api_key=token, retries=0) as client:
            quote = await client.quote(type="fake", renders=2)
            assert (quote.per_render, quote.total, quote.currency) == (
                Decimal("1.50"),
                Decimal("3.00"),
                "CNY",
            )
            assert (quote.budget, quote.budget_left, quote.refusal) == (
                Decimal("4.00"),
                Decimal("4.00"),
                None,
            )
            over = await client.quote(type="fake", renders=3)  # 4.50 is over the budget
            assert over.refusal is not None and "budget" in over.refusal
            assert over.refusal_limit == "monthly_budget" and over.retry_after_s
            with pytest.raises(RateLimited, match="budget") as refused:
                await client.create_batch([SHOT] * 3, type="fake", params=HANG)
            assert (refused.value.status, refused.value.limit) == (429, "monthly_budget")
            assert refused.value.message == over.refusal  # the quote said it word for word
            assert [b async for b in client.list_batches()] == []
            account = await client.account()
            assert (account.key_id, account.key_name) == (key.key_id, "shop")
            assert (account.budget, account.budget_left, account.budget_low) == (
                Decimal("4.00"),
                Decimal("4.00"),
                False,
            )
            assert account.prices["fake"] == Decimal("1.50")
            assert account.limits.in_flight == 0
