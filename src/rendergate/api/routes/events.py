"""A task's push side: its server-sent event stream, and the log of its webhooks."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors, ok
from rendergate.api.present import base_url, envelope
from rendergate.api.push_schemas import (
    DELIVERIES_EXAMPLE,
    DELIVERY_EXAMPLE,
    AttemptPublic,
    DeliveryList,
    DeliveryPublic,
)
from rendergate.api.schemas import Envelope
from rendergate.delivery import push as use_cases
from rendergate.delivery.push import Replaying
from rendergate.domain.events import Delivery, EventType, parse_last_event_id
from rendergate.domain.task import MAX_SAFE_INTEGER
from rendergate.services import tasks as task_cases
from rendergate.services.presenting import present_task
from rendergate.services.streams import StreamItem, follow

router = APIRouter(prefix="/tasks", tags=["events"])
TaskId = Annotated[int, Path(ge=0, le=MAX_SAFE_INTEGER, description="The id POST /tasks returned.")]
STREAM_DESCRIPTION = """Each change of the task as it happens, ending after its terminal
state: `event` is task.submitted, task.processing, task.progress, task.completed,
task.failed or task.canceled, with `data` the task as GET shows it and `id` its version;
task.queue (no id) when its queue position moves; resumed after the terminal state,
task.kept or task.unkept for each change of its kept mark since. A comment line every
10 s keeps proxies from closing it. Reconnect with `Last-Event-ID` to go on after the last
event received (an id the stream cannot have sent, not ASCII digits or over 2147483647, is a
422)."""


EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": [*sorted(EventType), "task.queue"]},
        "id": {"type": "string", "description": "The task's version: send as Last-Event-ID"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/TaskPublic"},
        },
    },
}


def _sse(item: StreamItem, base: str) -> str:
    if item.task is None:
        return ": heartbeat\n\n"
    data = present_task(item.task, base=base).model_dump(mode="json")
    head = f"id: {item.event_id}\n" if item.event_id is not None else ""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {item.event}\ndata: {text}\n\n"


@router.get(
    "/{task_id}/events",
    summary="Stream the task's changes (server-sent events)",
    description=STREAM_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A text/event-stream; the schema is of one event",
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
        },
        **errors(401, 404, 413, 422, 429, 500),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def stream_task_events(
    task_id: TaskId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=20, description="Resume after")
    ] = None,
) -> StreamingResponse:
    store, changes, log = services.store, services.changes, services.events
    task = await task_cases.get_task(
        task_id, store=store, finished=services.finished, caller=caller
    )
    after = parse_last_event_id(last_event_id)
    base = base_url(request, services.settings)

    async def body() -> AsyncIterator[str]:
        async for item in follow(task, store=store, changes=changes, log=log, after=after):
            yield _sse(item, base)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    owner = caller or ""  # the open caller counts as one key
    services.streams.take(owner)
    return HeldStream(
        body(),
        release=functools.partial(services.streams.release, owner),
        media_type="text/event-stream",
        headers=headers,
    )


class HeldStream(StreamingResponse):
    """A stream that holds one of its key's stream slots until it ends, however it ends
    (finished, the client gone, the server stopping)."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _public(delivery: Delivery) -> DeliveryPublic:
    return DeliveryPublic(
        delivery_id=delivery.delivery_id,
        event=delivery.event,
        url=delivery.url,
        state=delivery.state,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_at,
        attempts=[
            AttemptPublic(
                at=a.at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error
            )
            for a in delivery.attempts
        ],
    )


@router.get(
    "/{task_id}/deliveries",
    summary="The task's webhook deliveries, each with its tries",
    response_model=Envelope[DeliveryList],
    responses={200: ok(DELIVERIES_EXAMPLE), **errors(401, 404, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def list_task_deliveries(
    task_id: TaskId, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    found = await use_cases.deliveries_of(
        task_id,
        store=services.store,
        finished=services.finished,
        deliveries=services.deliveries,
        caller=caller,
    )
    return envelope(DeliveryList(deliveries=[_public(d) for d in found]))


@router.post(
    "/{task_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a delivery's event again, as a new delivery",
    description="One replay of an event at a time: while an earlier replay of it waits to "
    "be delivered, another is answered 409; past RENDERGATE_MAX_REPLAYS_PER_KEY pending "
    "replays, 429.",
    response_model=Envelope[DeliveryPublic],
    responses={
        202: ok(DELIVERY_EXAMPLE),
        **errors(
            401,
            404,
            409,
            413,
            422,
            429,
            500,
            described={409: "A replay of the same event is still waiting to be delivered"},
        ),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def replay_task_delivery(
    task_id: TaskId,
    delivery_id: Annotated[str, Path(max_length=40)],
    services: ServicesDep,
    caller: CallerDep,
) -> JSONResponse:
    share = services.settings.max_replays_per_key
    replaying = services.unpack(Replaying, max_replays_per_key=share)
    again = await use_cases.replay(task_id, delivery_id, replaying, caller=caller)
    return envelope(_public(again), status_code=202)
