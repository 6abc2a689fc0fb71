"""The SDK's pure parts: event-stream parsing, errors from responses, the retry pauses, and
its TaskStatus kept equal to the server's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from rendergate.client import (
    ApiError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    TaskStatus,
    Unauthorized,
    sse,
)
from rendergate.client.errors import error_from
from rendergate.client.files import _filename
from rendergate.client.transport import MAX_BACKOFF_S, backoff
from rendergate.domain.task import TaskStatus as ServerStatus


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def task(status: str, progress: int) -> str:
    return json.dumps({"task_id": 7, "status": status, "progress": progress})


async def test_events_are_read_across_chunks_comments_and_crlf() -> None:
    stream = (
        f"id: 0\nevent: task.submitted\ndata: {task('submitted', 0)}\n\n"
        ": heartbeat\n\n"
        f"event: task.queue\r\ndata: {task('submitted', 0)}\r\n\r\n"
        f"id: 3\nevent: task.completed\ndata: {task('completed', 100)}\n\n"
    ).encode()
    parts = [stream[i : i + 7] for i in range(0, len(stream), 7)]  # lines cut anywhere
    events = [e async for e in sse.events(chunks(*parts))]
    assert [(e.id, e.event, e.task.status) for e in events] == [
        (0, "task.submitted", TaskStatus.SUBMITTED),
        (None, "task.queue", TaskStatus.SUBMITTED),
        (3, "task.completed", TaskStatus.COMPLETED),
    ]
    assert events[-1].task.progress == 100 and events[-1].task.raw["task_id"] == 7


async def test_an_unreadable_event_is_an_api_error() -> None:
    with pytest.raises(ApiError, match="cannot read"):
        [e async for e in sse.events(chunks(b"event: x\ndata: {nope\n\n"))]


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, {"code": 404, "msg": "task 1 not found", "data": None}, NotFound, "task 1 not found"),
        (401, {"code": 401, "msg": "no key", "data": None}, Unauthorized, "no key"),
        (409, {"code": 409, "msg": "done", "data": None}, Conflict, "done"),
        (422, {"detail": [{"loc": ["body"], "msg": "bad", "type": "x"}]}, InvalidRequest, "bad"),
        (429, {"code": 429, "msg": "slow down", "data": None}, RateLimited, "slow down"),
        (502, "<html>bad gateway</html>", ServerError, "<html>bad gateway</html>"),
        (415, {"code": 415, "msg": "not an image", "data": None}, ApiError, "not an image"),
    ],
)
def test_each_error_status_is_its_exception(
    status: int, body: object, kind: type[ApiError], message: str
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    error = error_from(status, raw, {"Retry-After": "7"})
    assert type(error) is kind and (error.status, error.message, str(error)) == (
        status,
        message,
        message,
    )
    assert error.retry_after == 7.0
    if isinstance(error, InvalidRequest):
        assert error.detail == [{"loc": ["body"], "msg": "bad", "type": "x"}]


def test_backoff_grows_and_is_capped() -> None:
    assert 0.125 <= backoff(0) <= 0.25 and 0.25 <= backoff(1) <= 0.5
    assert backoff(30) <= MAX_BACKOFF_S


def test_the_saved_file_name_has_no_directory() -> None:
    assert _filename('inline; filename="5-0.png"') == "5-0.png"
    assert _filename('inline; filename="../../etc/passwd"') == "passwd"
    assert _filename("inline") is None


def test_the_sdk_knows_every_server_status() -> None:
    assert [s.value for s in TaskStatus] == [s.value for s in ServerStatus]
    assert {s for s in TaskStatus if s.is_terminal} == {"completed", "failed", "canceled"}
