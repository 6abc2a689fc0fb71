"""Reads POST /tasks bodies (multipart or JSON) into a NewTask, within the size limits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from rendergate.api.encoded import decode_base64
from rendergate.api.limits import LARGE_BODY_BYTES
from rendergate.api.multipart import TEXT_LIMIT, FormSpec, read_form, text_of
from rendergate.api.schemas import TaskCreateJson, TaskRerunJson
from rendergate.api.task_fields import (
    form_integer,
    form_seed,
    image_task,
    image_task_id,
    image_task_index,
)
from rendergate.domain.chains import ThenStep, parse_then, steps_named
from rendergate.domain.errors import InvalidInput, UnsupportedInput
from rendergate.domain.events import parse_webhook_events
from rendergate.domain.task import ResultRef
from rendergate.domain.values import check_separators, check_value
from rendergate.services.create_checks import Upload
from rendergate.services.creating import NewTask
from rendergate.services.ports import Fetcher
from rendergate.services.rerunning import Rerun

FORM = FormSpec(
    files=frozenset({"image", "reference"}),
    texts=frozenset(
        {"type", "preset", "angle", "params", "webhook_url", "webhook_events", "deadline_s"}
        | {"seed", "image_task_id", "image_task_index", "then"}
    ),
    file_limit=0,
)
FIELD_CHAR_LIMITS = {
    "params": TEXT_LIMIT,
    "then": TEXT_LIMIT,
}  # JSON fields bounded as the form's text fields are
P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


async def read_new_task(request: Request, *, max_upload_bytes: int, fetcher: Fetcher) -> NewTask:
    """The body's task, its images uploaded (each within `max_upload_bytes`) or fetched by
    `fetcher`. Its size is capped as it arrives by api/limits.py, for every route."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return await _from_form(content_type, request, max_upload_bytes)
    if media_type == "application/json":
        return await _from_json(await read_body(request), fetcher)
    raise UnsupportedInput(
        f"content type {media_type or 'missing'!r} is not accepted; "
        "send multipart/form-data or application/json"
    )


async def read_body(request: Request) -> bytearray:
    """One growing buffer, not a list of chunks joined at the end (half the peak memory)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    return body


async def _from_form(content_type: str, request: Request, limit: int) -> NewTask:
    spec = dataclasses.replace(FORM, file_limit=limit)
    parts = await read_form(content_type, request.stream(), spec)
    uploads = [
        Upload(role=role, data=bytes(part.data), content_type=part.content_type)
        for role in ("image", "reference")
        if (part := parts.get(role)) is not None
    ]
    texts = {name: text_of(part) for name, part in parts.items() if name in FORM.texts}
    params = parse_params(texts.get("params") or "{}")
    return _new_task(
        app=texts.get("type", ""),
        preset=texts.get("preset", ""),
        angle=texts.get("angle", ""),
        params=params,
        uploads=uploads,
        push=form_push(texts),
        seed=form_seed(texts.get("seed", "")),
        parent=image_task(
            form_integer(texts.get("image_task_id", ""), image_task_id),
            form_integer(texts.get("image_task_index", ""), image_task_index),
        ),
        then=form_then(texts.get("then", "")),
    )


def form_then(raw: str) -> tuple[ThenStep, ...]:
    """The form's `then`: a JSON list of steps, or app names, comma-separated."""
    if raw.lstrip().startswith(("[", "{")):
        return parse_then(strict_json(raw, what="then", field="then"))
    return parse_then(steps_named(raw))


def form_push(texts: dict[str, str]) -> Push:
    """The form's webhook_url, webhook_events (a JSON list or comma-separated) and
    deadline_s."""
    events = _form_events(texts["webhook_events"]) if "webhook_events" in texts else None
    raw_deadline = texts.get("deadline_s", "").strip()
    try:
        deadline = float(raw_deadline) if raw_deadline else None
    except ValueError:
        raise InvalidInput("deadline_s must be a number of seconds", field="deadline_s") from None
    if deadline is not None and not math.isfinite(deadline):
        raise InvalidInput("deadline_s must be a number of seconds", field="deadline_s")
    return Push(texts.get("webhook_url", "").strip(), events, deadline)


def parse_params(raw: str) -> dict[str, Any]:
    params = strict_json(raw, what="params", field="params")
    if not isinstance(params, dict):
        raise InvalidInput("params must be a JSON object", field="params")
    return params


async def _from_json(body: bytearray, fetcher: Fetcher) -> NewTask:
    model = await json_model(body, TaskCreateJson)
    del body  # the parsed copy is all we need from here on
    uploads = [
        upload
        for role in ("image", "reference")
        if (upload := await _json_image(model, role, fetcher)) is not None
    ]
    push = Push(model.webhook_url or "", model.webhook_events, model.deadline_s)
    return _new_task(
        app=model.type,
        preset=model.preset,
        angle=model.angle,
        params=model.params,
        uploads=uploads,
        push=push,
        seed=model.seed,
        parent=image_task(model.image_task_id, model.image_task_index),
        then=parse_then([step.model_dump() for step in model.then]),
    )


async def _sized_run(
    size: int, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """`function` on an input of `size` bytes: in a thread past LARGE_BODY_BYTES, so that
    other requests are served meanwhile; here below it, where a thread costs more."""
    if size > LARGE_BODY_BYTES:
        return await asyncio.to_thread(function, *args, **kwargs)
    return function(*args, **kwargs)


async def json_model(body: bytearray, model: type[M]) -> M:
    """`_json_model`, in a thread for a large body."""
    return await _sized_run(len(body), _json_model, body, model)


async def decoded_base64(encoded: str, *, field: str) -> bytes:
    """`decode_base64`, in a thread for a large image."""
    return await _sized_run(len(encoded), decode_base64, encoded, field=field)


def _json_model(body: bytearray, model: type[M]) -> M:
    """The body parsed and checked as a `model`: each field under its own name, as errors
    name it; `params` within the size a form's text field has."""
    raw = strict_json(body, what="body", check=False)
    if isinstance(raw, dict):
        for name, value in raw.items():
            check_value(value, what=name, field=name, max_chars=FIELD_CHAR_LIMITS.get(name))
    else:
        check_value(raw, what="body")
    return as_model(raw, model)


def as_model(raw: Any, model: type[M]) -> M:
    """`raw` validated as a `model`; InvalidInput naming the first field that is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else first["msg"]
        raise InvalidInput(message, field=field) from None


async def _json_image(model: TaskCreateJson, role: str, fetcher: Fetcher) -> Upload | None:
    encoded: str | None = getattr(model, f"{role}_base64")
    url: str | None = getattr(model, f"{role}_url")
    if encoded and url:
        raise InvalidInput(f"give {role}_base64 or {role}_url, not both", field=f"{role}_base64")
    if encoded:
        data = await decoded_base64(encoded, field=f"{role}_base64")
        return Upload(role=role, data=data)
    if url:
        data, content_type = await fetcher.fetch(url, role=role)
        return Upload(role=role, data=data, content_type=content_type)
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def strict_json(
    text: str | bytes | bytearray, *, what: str, field: str | None = None, check: bool = True
) -> Any:
    """json.loads that refuses NaN, Infinity and numbers too large for a float, and
    survives absurd nesting; the values inside are checked by check_value unless the
    caller checks them itself."""
    check_separators(text, what=what, field=field)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg}", field=field) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}", field=field) from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply", field=field) from None
    if check:
        check_value(value, what=what, field=field)
    return value


def _form_events(raw: str) -> list[str]:
    if raw.lstrip().startswith("["):
        events = strict_json(raw, what="webhook_events", field="webhook_events")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise InvalidInput(
                "webhook_events must be a list of event names", field="webhook_events"
            )
        return events
    return [event.strip() for event in raw.split(",") if event.strip()]


@dataclass(frozen=True)
class Push:
    """What a create asks of its task's push side: webhooks, and its own deadline."""

    webhook_url: str = ""
    webhook_events: list[str] | None = None  # None: not given
    deadline_s: float | None = None


def _new_task(
    *,
    app: str,
    angle: str,
    params: dict[str, Any],
    uploads: list[Upload],
    push: Push,
    seed: int | None = None,
    preset: str = "",
    parent: ResultRef | None = None,
    then: tuple[ThenStep, ...] = (),
) -> NewTask:
    if len(app) > 64 or len(angle) > 64 or len(preset) > 64:
        raise InvalidInput("type, preset and angle are at most 64 characters", field="type")
    return NewTask(
        app=app,
        preset=preset,
        angle=angle,
        params=params,
        uploads=tuple(uploads),
        webhook_url=push.webhook_url,
        webhook_events=parse_webhook_events(push.webhook_events, url=push.webhook_url),
        deadline_s=push.deadline_s,
        seed=seed,
        parent=parent,
        then=then,
    )


async def optional_json(request: Request, model: type[M]) -> M | None:
    """A body that may be left out: a `model` sent as JSON, or None when empty."""
    body = await read_body(request)
    if not body.strip():
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedInput(
            f"content type {media_type or 'missing'!r} is not accepted; send application/json"
        )
    return _json_model(body, model)


async def read_rerun(request: Request) -> Rerun:
    """POST /tasks/{task_id}/rerun's body: a TaskRerunJson, or none at all (no changes)."""
    model = await optional_json(request, TaskRerunJson)
    if model is None:
        return Rerun()
    return Rerun(app=model.type, params=model.params, seed=model.seed, preset=model.preset)
