"""rendergate's Python SDK: `AsyncClient` (coroutines) and `Client` (blocking), with the same
calls, typed answers and typed errors; the `rendergate` client commands are built on it.

    from rendergate.client import Client

    with Client() as client:                       # RENDERGATE_SERVER, RENDERGATE_API_KEY
        task = client.create("shot.jpg", reference="ref.jpg")
        task = client.wait(task.task_id)
        client.download(task.task_id, "render.png")

Design:

- **One HTTP library, aiohttp**: rendergate already depends on it (its provider traffic), so
  the SDK adds no dependency, and its event stream reader is aiohttp's streaming body.
- **Client runs AsyncClient** on a private event loop in a thread of its own (sync.py says
  why that and not `asyncio.run` per call): one implementation of every call, not two.
- **Retries** (transport.py): a call is tried again on no answer, 5xx and 429, with backoff.
  `create` sends an Idempotency-Key (a new UUID unless given) that stays the same on every
  try, so a retried create gives back the task the first try made, never a second one.
- **Paging**: `list()` iterates over every matching task, fetching a page of `limit` at a
  time through `next_cursor` only as the iteration gets there; stop early to fetch less.
- **Waiting**: `wait()` follows the task's event stream (`events()`, which resumes a dropped
  connection from its Last-Event-ID) and falls back to polling when there is no stream.
"""

from rendergate.client.aio import AsyncClient
from rendergate.client.errors import (
    ApiError,
    Conflict,
    InvalidRequest,
    InvalidSignature,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unreachable,
)
from rendergate.client.models import (
    App,
    AppParam,
    Batch,
    BatchStatus,
    BatchView,
    Delivery,
    DeliveryAttempt,
    Output,
    Preset,
    SkippedProvider,
    Task,
    TaskEvent,
    TaskImage,
    TaskStatus,
    WebhookEvent,
)
from rendergate.client.money import Charge, Cost, Usage, UsageGroup
from rendergate.client.studio_models import (
    Account,
    AccountLimits,
    BatchSteps,
    Quote,
    Share,
    StepQuote,
)
from rendergate.client.sync import Client
from rendergate.client.webhooks import verify_webhook

__all__ = [
    "Account",
    "AccountLimits",
    "ApiError",
    "App",
    "AppParam",
    "AsyncClient",
    "Batch",
    "BatchStatus",
    "BatchSteps",
    "BatchView",
    "Charge",
    "Client",
    "Conflict",
    "Cost",
    "Delivery",
    "DeliveryAttempt",
    "InvalidRequest",
    "InvalidSignature",
    "NotFound",
    "Output",
    "Preset",
    "Quote",
    "RateLimited",
    "ServerError",
    "Share",
    "SkippedProvider",
    "StepQuote",
    "Task",
    "TaskEvent",
    "TaskImage",
    "TaskStatus",
    "Unauthorized",
    "Unreachable",
    "Usage",
    "UsageGroup",
    "WebhookEvent",
    "verify_webhook",
]
