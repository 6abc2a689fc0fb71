"""Request bodies: a size cap on every route, counted as the bytes arrive, and a bound on
how many large bodies are read at once.

A declared Content-Length only helps against honest clients: a chunked upload declares
nothing, so the bytes are counted as they come and reading stops at the cap. Large bodies
(base64 images, multipart uploads) each hold tens of MB while they are read and checked;
past RENDERGATE_MAX_LARGE_BODIES at once, new ones are turned away with 503 and
Retry-After instead of letting memory swell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rendergate.api.errors import body_refusal
from rendergate.domain.errors import InputTooLarge, ServerBusy
from rendergate.domain.values import megabytes

if TYPE_CHECKING:
    from rendergate.services.context import Services, Slots

LARGE_BODY_BYTES = 1024 * 1024  # bodies past this take one of the large-body slots
WEBHOOK_BODY_BYTES = 1024 * 1024
OTHER_BODY_BYTES = 64 * 1024  # routes without a real body (cancel, GETs)
RETRY_AFTER_S = 2


def create_body_limit(max_upload_bytes: int) -> int:
    """POST /tasks: two base64-encoded images at the upload limit, and the rest."""
    return 2 * (max_upload_bytes * 4 // 3) + 1024 * 1024


def limit_for(scope: Scope, services: Services) -> int:
    path: str = scope["path"]
    if scope["method"] == "POST" and path.rstrip("/") == "/tasks":
        return create_body_limit(services.settings.max_upload_bytes)
    if path.startswith("/webhooks/"):
        return WEBHOOK_BODY_BYTES
    return OTHER_BODY_BYTES


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services | None = getattr(scope["app"].state, "services", None)
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        body = CountedBody(receive, limit=limit_for(scope, services), slots=services.large_bodies)
        try:
            body.check_declared(scope)
        except (InputTooLarge, ServerBusy) as exc:  # answered before the body is read
            await body_refusal(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, body.receive, send)
        finally:
            body.release()


class CountedBody:
    """Wraps `receive`: counts the body, takes a large-body slot when it grows past
    LARGE_BODY_BYTES, and raises once it passes the route's limit."""

    def __init__(self, receive: Receive, *, limit: int, slots: Slots) -> None:
        self._receive = receive
        self._limit = limit
        self._slots = slots
        self._seen = 0
        self._holding = False

    def check_declared(self, scope: Scope) -> None:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit():
            self._over(int(declared), declared=True)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            self._over(self._seen, declared=False)
        return message

    def _over(self, size: int, *, declared: bool) -> None:
        if size > self._limit:
            limit = megabytes(self._limit)
            if declared:
                raise InputTooLarge(f"request body is {megabytes(size)}; the limit is {limit}")
            raise InputTooLarge(f"request body is over the {limit} limit")
        if size > LARGE_BODY_BYTES and not self._holding:
            if not self._slots.try_take():
                raise ServerBusy(
                    "too many large uploads are being received at once; try again shortly",
                    retry_after_s=RETRY_AFTER_S,
                )
            self._holding = True

    def release(self) -> None:
        if self._holding:
            self._slots.release()
            self._holding = False
