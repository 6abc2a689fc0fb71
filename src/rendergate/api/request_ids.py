"""A request id for each request: the client's `X-Request-ID` if it sent a short token,
else a new one. It is returned in the response's `X-Request-ID` and bound to every log line
written while the request runs, so a client's complaint finds its lines."""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")  # a client's id is kept only if it is tame


class RequestIds:
    """Outside every layer that answers, so that every answer, refusals included, carries
    the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if CLIENT_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
