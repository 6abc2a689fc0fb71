"""OpenAPI examples and the documented request body of POST /tasks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from rendergate.api.schemas import (
    IMAGE_TASK_DESCRIPTION,
    IMAGE_TASK_INDEX_DESCRIPTION,
    SEED_DESCRIPTION,
    THEN_DESCRIPTION,
    ErrorEnvelope,
    TaskCreateJson,
    TaskRerunJson,
    ThenStepJson,
    ValidationErrors,
)
from rendergate.domain.task import MAX_OUTPUT_INDEX, MAX_SAFE_INTEGER

TASK_DATA: dict[str, Any] = {
    "task_id": 4503599627370497,
    "status": "completed",
    "progress": 100,
    "type": "preview",
    "angle": "front",
    "image": {
        "image_base64": "iVBORw0KGgoAAAANSUhEUgAA...",
        "image_url": "http://127.0.0.1:8000/tasks/4503599627370497/image",
    },
    "error_message": "",
    "provider": "local",
    "provider_job_id": "",
    "skipped_providers": [],
    "params": {},
    "queue_position": None,
    "outputs": [
        {
            "index": 0,
            "url": "http://127.0.0.1:8000/tasks/4503599627370497/image?index=0",
            "content_type": "image/png",
            "size": 183402,
            "node_id": "",
            "file_type": "png",
        }
    ],
    "cost": None,
    "attempts": 1,
    "seed": 2718281828,
    "rerun_of": None,
    "parent_task_id": None,
    "parent_task_index": None,
    "then": [],
    "children": [],
    "created_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:00:02Z",
    "finished_at": "2026-11-23T10:00:02Z",
}
TASK_EXAMPLE = {"code": 0, "msg": "success", "data": TASK_DATA}
LIST_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {"tasks": [TASK_DATA], "next_cursor": "WyIyMDI2LTExLTIzVDEwOjAwOjAwIiwgMV0"},
}


def ok(example: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"example": example}}}


def _error(code: int, message: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "model": ErrorEnvelope,
        "content": {"application/json": {"example": {"code": code, "msg": message, "data": None}}},
        **extra,
    }


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}

# Every error rendergate answers with, by status. A route declares those it can return with
# `errors(...)`: the document must list each one the server really sends (tests/integration/
# test_schemathesis.py holds it to that), and none it does not.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error(
        401,
        "an API key is required: send it as Authorization: Bearer <key>",
        "No valid API key (the service has keys)",
    ),
    404: _error(404, "task 4503599627370497 not found", "No such task (or another key's)"),
    408: _error(
        408,
        "request body too slow: 30 s without data",
        "The request body stalled, took too long or arrived too slowly; the connection is closed",
    ),
    409: _error(
        409,
        "task 4503599627370497 is already completed",
        "Not in that state; or a create whose Idempotency-Key is still being processed, "
        "with Retry-After",
        headers=RETRY_AFTER,
    ),
    413: _error(
        413,
        "image is 31.2 MB; the limit is 30 MB",
        "Input too large: a file over the size or pixel limit, or a request body over the "
        "route's limit (64 KB on routes that take no body); the connection may be closed",
    ),
    415: _error(415, "image is not an image we can read", "Input of a kind we cannot read"),
    422: {
        "description": "Invalid parameters",
        "model": ValidationErrors,
        "content": {
            "application/json": {
                "example": {
                    "detail": [
                        {
                            "loc": ["body", "type"],
                            "msg": "unknown type 'x'; known types: preview, su_render",
                            "type": "value_error",
                        }
                    ]
                }
            }
        },
    },
    410: _error(
        410,
        "the inputs and results of task 4503599627370497 were removed on 2026-12-01, as the "
        "retention of this server says",
        "The task's files were removed for their age (RENDERGATE_RETENTION_DAYS)",
    ),
    429: _error(
        429,
        "over this key's limit of 60 task creates a minute; retry after 12 s",
        "Over one of the API key's limits (rate, tasks in flight, daily tasks), or holding "
        "its share of large uploads, event streams or webhook replays; retry after "
        "Retry-After seconds",
        headers=RETRY_AFTER,
    ),
    500: _error(500, "internal server error", "Unexpected server error"),
    503: _error(
        503,
        "too many large uploads at once; try again shortly",
        "Too many large uploads at once; retry after Retry-After seconds",
        headers=RETRY_AFTER,
    ),
}


def errors(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The ERRORS entries of `codes`, with a route's own descriptions where given."""
    chosen: dict[int | str, dict[str, Any]] = {code: ERRORS[code] for code in codes}
    for code, description in (described or {}).items():
        chosen[code] = {**chosen[code], "description": description}
    return chosen


# A real 8x8 PNG, so that the request example works as it stands.
TINY_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mN8c2YBAzbAxIADDE4J"
    "ANdzAmiV7AsTAAAAAElFTkSuQmCC"
)

PRESET_DESCRIPTION = (
    "A preset's name (GET /presets): its type, params and reference image unless this "
    "request gives its own (params merge over the preset's)."
)

IMAGE_OR_TASK = "The image; or image_task_id, a finished task's result."


def _component(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s schema referring to the models inside it as components of their own."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


# The two bodies POST /tasks takes, as named components: generators make one class of each
# (openapi-python-client: TaskCreateForm, sent as multipart; TaskCreateJson, sent as JSON).
BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "TaskCreateForm": {
        "title": "TaskCreateForm",
        "description": "POST /tasks as multipart/form-data: each image as a file part.",
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary", "description": IMAGE_OR_TASK},
            "reference": {"type": "string", "format": "binary"},
            "type": {
                "type": "string",
                "maxLength": 64,
                "description": "The app; preview unless a preset names one",
            },
            "preset": {"type": "string", "maxLength": 64, "description": PRESET_DESCRIPTION},
            "angle": {"type": "string", "maxLength": 64},
            "params": {"type": "string", "description": "A JSON object"},
            "webhook_url": {"type": "string", "maxLength": 2048},
            "webhook_events": {"type": "string", "description": "Comma-separated event types"},
            "deadline_s": {"type": "number", "exclusiveMinimum": 0},
            "seed": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_SAFE_INTEGER,
                "description": SEED_DESCRIPTION,
            },
            "image_task_id": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_SAFE_INTEGER,
                "description": IMAGE_TASK_DESCRIPTION,
            },
            "image_task_index": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_OUTPUT_INDEX,
                "description": IMAGE_TASK_INDEX_DESCRIPTION,
            },
            "then": {
                "type": "string",
                "description": "A JSON list of {type, params}, or app names, comma-separated "
                "(upscale,upscale). " + THEN_DESCRIPTION,
            },
        },
        "additionalProperties": False,  # an unknown field is refused (422)
    },
    "TaskCreateJson": _component(TaskCreateJson),
    "ThenStepJson": ThenStepJson.model_json_schema(),
    "TaskRerunJson": TaskRerunJson.model_json_schema(),
}

CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"$ref": "#/components/schemas/TaskCreateForm"},
                "example": {"type": "preview", "angle": "front", "params": '{"strength": 0.8}'},
            },
            "application/json": {
                "schema": {"$ref": "#/components/schemas/TaskCreateJson"},
                "example": {
                    "type": "preview",
                    "angle": "front",
                    "image_url": "https://example.com/sketchup.png",
                    "reference_base64": TINY_PNG_BASE64,
                    "params": {"strength": 0.8},
                },
            },
        },
    }
}


RERUN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/TaskRerunJson"},
                "example": {"params": {"strength": 0.9}, "seed": "random"},
            }
        },
    }
}


# Each /tasks route takes an API key; in open mode (`serve --open`, on a loopback address,
# until a key is created) the empty alternative applies.
KEY_OR_OPEN: dict[str, Any] = {"security": [{}]}  # FastAPI appends it to the bearer scheme
