"""OpenAPI examples of /batches, and the documented request body of POST /batches."""

from __future__ import annotations

from typing import Any

from rendergate.api.batch_schemas import BatchCreateJson, StepJson, ViewJson
from rendergate.api.examples import TASK_DATA, TINY_PNG_BASE64
from rendergate.domain.batches import MAX_VARIATIONS, MAX_VIEWS

BATCH_ID = 6755399441055745


def _member(view: int, variation: int) -> dict[str, Any]:
    task_id = TASK_DATA["task_id"] + 2 * view + variation
    return {
        **TASK_DATA,
        "task_id": task_id,
        "batch_id": BATCH_ID,
        "view": view,
        "variation": variation,
        "seed": 1000 + variation,
        "image": {"image_base64": "", "image_url": f"http://127.0.0.1:8000/tasks/{task_id}/image"},
    }


BATCH_DATA: dict[str, Any] = {
    "batch_id": BATCH_ID,
    "name": "Villa, scheme B",
    "status": "completed",
    "progress": 100,
    "counts": {"submitted": 0, "processing": 0, "completed": 4, "failed": 0, "canceled": 0},
    "tasks": [_member(view, variation) for view in range(2) for variation in range(2)],
    "cover_task_id": _member(0, 0)["task_id"],
    "cost": None,
    "type": "preview",
    "preset": "dusk",
    "preset_version": 1,
    "params": {"strength": 0.9},
    "seed": 1000,
    "variations": 2,
    "views": [{"view": 0, "angle": "front"}, {"view": 1, "angle": "aerial"}],
    "then": [],
    "archive_url": f"http://127.0.0.1:8000/batches/{BATCH_ID}/archive",
    "created_at": "2026-11-23T10:00:00Z",
    "canceled_at": None,
    "finished_at": "2026-11-23T10:00:05Z",
}
BATCH_EXAMPLE = {"code": 0, "msg": "success", "data": BATCH_DATA}
BATCH_LIST_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {"batches": [BATCH_DATA], "next_cursor": None},
}

_REF = "#/components/schemas/{model}"
BATCH_BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "BatchCreateForm": {
        "title": "BatchCreateForm",
        "description": "POST /batches as multipart/form-data: each view's image as a file "
        "part named `image`, in order, with `angle` parts in the same order.",
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "maxItems": MAX_VIEWS,
            },
            "angle": {"type": "array", "items": {"type": "string", "maxLength": 64}},
            "reference": {"type": "string", "format": "binary"},
            "type": {"type": "string", "maxLength": 64},
            "preset": {"type": "string", "maxLength": 64},
            "params": {"type": "string", "description": "A JSON object"},
            "variations": {"type": "integer", "minimum": 1, "maximum": MAX_VARIATIONS},
            "seed": {"type": "integer", "minimum": 0},
            "name": {"type": "string", "maxLength": 200},
            "then": {"type": "string", "description": "A JSON list of {type, params}, or names"},
            "webhook_url": {"type": "string", "maxLength": 2048},
            "webhook_events": {"type": "string", "description": "Comma-separated event types"},
        },
        "additionalProperties": False,
    },
    "BatchCreateJson": BatchCreateJson.model_json_schema(ref_template=_REF),
    "ViewJson": ViewJson.model_json_schema(ref_template=_REF),
    "StepJson": StepJson.model_json_schema(ref_template=_REF),
}
for _schema in BATCH_BODY_SCHEMAS.values():
    _schema.pop("$defs", None)

BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"$ref": "#/components/schemas/BatchCreateForm"},
                "example": {"preset": "dusk", "variations": 2, "name": "Villa, scheme B"},
            },
            "application/json": {
                "schema": {"$ref": "#/components/schemas/BatchCreateJson"},
                "example": {
                    "preset": "dusk",
                    "variations": 2,
                    "views": [
                        {"image_base64": TINY_PNG_BASE64, "angle": "front"},
                        {"image_url": "https://example.com/aerial.png", "angle": "aerial"},
                    ],
                    "then": [{"type": "upscale", "params": {"scale": 2}}],
                },
            },
        },
    }
}
