"""Shapes of the push side of the API: the deliveries log of a task's webhooks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from rendergate.domain.events import DeliveryState, EventType


class AttemptPublic(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int
    error: str = Field("", description="Why the try failed, when it did not get a 2xx.")


class DeliveryPublic(BaseModel):
    delivery_id: str = Field(description="The webhook-id header: the same on every retry.")
    event: EventType
    url: str
    state: DeliveryState
    created_at: datetime
    next_attempt_at: datetime | None = Field(None, description="When pending: the next try.")
    attempts: list[AttemptPublic]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]


DELIVERY_DATA = {
    "delivery_id": "msg_6f1c2a9be04d7713a5c8e2f0",
    "event": "task.completed",
    "url": "https://hooks.example.com/rendergate",
    "state": "delivered",
    "created_at": "2026-11-23T10:00:02Z",
    "next_attempt_at": None,
    "attempts": [
        {
            "at": "2026-11-23T10:00:02Z",
            "status_code": 500,
            "latency_ms": 41,
            "error": "",
        },
        {"at": "2026-11-23T10:00:07Z", "status_code": 204, "latency_ms": 12, "error": ""},
    ],
}
DELIVERY_EXAMPLE = {"code": 0, "msg": "success", "data": DELIVERY_DATA}
DELIVERIES_EXAMPLE = {"code": 0, "msg": "success", "data": {"deliveries": [DELIVERY_DATA]}}
