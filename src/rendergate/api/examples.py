"""OpenAPI examples and the documented request body of POST /tasks."""

from __future__ import annotations

from typing import Any

from rendergate.api.schemas import TaskCreateJson

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


def _error(code: int, message: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"example": {"code": code, "msg": message, "data": None}}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error(404, "task 4503599627370497 not found", "No such task"),
    409: _error(409, "task 4503599627370497 is already completed", "Not in that state"),
    413: _error(413, "image is 31.2 MB; the limit is 30.0 MB", "Input too large"),
    415: _error(415, "image is not an image we can read", "Input of a kind we cannot read"),
    422: {
        "description": "Invalid parameters",
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
    500: _error(500, "internal server error", "Unexpected server error"),
}

CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "reference": {"type": "string", "format": "binary"},
                        "type": {"type": "string", "default": "preview"},
                        "angle": {"type": "string"},
                        "params": {"type": "string", "description": "A JSON object"},
                    },
                },
                "example": {"type": "preview", "angle": "front", "params": '{"strength": 0.8}'},
            },
            "application/json": {
                "schema": TaskCreateJson.model_json_schema(),
                "example": {
                    "type": "preview",
                    "angle": "front",
                    "image_url": "https://example.com/sketchup.png",
                    "reference_base64": "iVBORw0KGgoAAAANSUhEUgAA...",
                    "params": {"strength": 0.8},
                },
            },
        },
    }
}
