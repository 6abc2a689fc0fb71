"""Request bodies: a size cap on every route, counted as the bytes arrive, and a bound on
how many large bodies are read at once.

A declared Content-Length only helps against honest clients: a chunked upload declares
nothing, so the bytes are counted as they come and reading stops at the cap. Large bodies
(base64 images, multipart uploads) each hold tens of MB while they are read and checked;
past RENDERGATE_MAX_LARGE_BODIES at once, new ones are turned away with 503 and
Retry-After instead of letting memory swell, and past RENDERGATE_MAX_LARGE_BODIES_PER_KEY
of one key's, with 429: one key's slow uploads cannot hold every slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rendergate.api.deps import services_of
from rendergate.api.errors import body_refusal
from rendergate.domain.batches import MAX_VIEWS
from rendergate.domain.errors import InputTooLarge, ServerBusy, ShareTaken, Unauthorized
from rendergate.domain.values import megabytes

if TYPE_CHECKING:
    from rendergate.services.context import Slots
    from rendergate.services.keys import KeyRing

LARGE_BODY_BYTES = 1024 * 1024  # bodies past this take one of the large-body slots
WEBHOOK_BODY_BYTES = 1024 * 1024
OTHER_BODY_BYTES = 64 * 1024  # routes without a real body (cancel, GETs)


def create_body_limit(max_upload_bytes: int) -> int:
    """POST /tasks: two base64-encoded images at the upload limit, and the rest."""
    return 2 * (max_upload_bytes * 4 // 3) + 1024 * 1024


def batch_body_limit(max_upload_bytes: int) -> int:
    """POST /batches: every view and the reference, base64-encoded at the upload limit."""
    return (MAX_VIEWS + 1) * (max_upload_bytes * 4 // 3) + 1024 * 1024


def limit_for(scope: Scope, max_upload_bytes: int) -> int:
    path: str = scope["path"]
    if scope["method"] == "POST" and path.rstrip("/") == "/tasks":
        return create_body_limit(max_upload_bytes)
    if scope["method"] == "POST" and path.rstrip("/") == "/batches":
        return batch_body_limit(max_upload_bytes)
    if scope["method"] in ("POST", "PUT") and path.startswith("/presets"):
        return create_body_limit(max_upload_bytes)  # a reference image, as a create's
    if path.startswith("/webhooks/"):
        return WEBHOOK_BODY_BYTES
    return OTHER_BODY_BYTES


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = services_of(scope)
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        body = CountedBody(
            receive,
            limit=limit_for(scope, services.settings.max_upload_bytes),
            slots=services.large_bodies,
            holder=lambda: holder_of(scope, services.keys),
        )
        try:
            await body.check_declared(scope)
        except (InputTooLarge, ServerBusy, ShareTaken) as exc:  # answered before it is read
            await body_refusal(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, body.receive, send)
        finally:
            body.release()


async def holder_of(scope: Scope, keys: KeyRing) -> str:
    """Whose share a large body counts against: the caller's key id, "" for the open caller,
    and "" too for a token that is no key's (the route answers it 401 before reading on)."""
    authorization = Headers(scope=scope).get("authorization")
    scheme, token = get_authorization_scheme_param(authorization)
    try:
        return await keys.caller(token if scheme.lower() == "bearer" else None) or ""
    except Unauthorized:
        return ""


class CountedBody:
    """Wraps `receive`: counts the body, takes a large-body slot (in all and of its key's
    share) when it grows past LARGE_BODY_BYTES, and raises once it passes the route's limit."""

    def __init__(
        self,
        receive: Receive,
        *,
        limit: int,
        slots: Slots,
        holder: Callable[[], Awaitable[str]],
    ) -> None:
        self._receive = receive
        self._limit = limit
        self._slots = slots
        self._holder = holder
        self._seen = 0
        self._held_by: str | None = None  # whose slot it holds, once it holds one

    async def check_declared(self, scope: Scope) -> None:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit():
            await self._over(int(declared), declared=True)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            await self._over(self._seen, declared=False)
        return message

    async def _over(self, size: int, *, declared: bool) -> None:
        if size > self._limit:
            limit = megabytes(self._limit)
            if declared:
                raise InputTooLarge(f"request body is {megabytes(size)}; the limit is {limit}")
            raise InputTooLarge(f"request body is over the {limit} limit")
        if size > LARGE_BODY_BYTES and self._held_by is None:
            holder = await self._holder()
            self._slots.take(holder)
            self._held_by = holder

    def release(self) -> None:
        if self._held_by is not None:
            self._slots.release(self._held_by)
            self._held_by = None
