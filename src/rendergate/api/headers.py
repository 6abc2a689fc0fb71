"""Headers that keep a browser from misreading our answers: every answer says `nosniff`
(a result, an error or a file is only ever what its Content-Type says, never sniffed into
HTML or script), and /docs, the one page with an inline script, says which scripts may run
and that no other site may frame it."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class NoSniff:
    """Outermost layer: the answers of the layers before the app (the finished-body cache,
    the body limits) carry it too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), NOSNIFF]}
            await send(message)

        await self.app(scope, receive, send_nosniff)


def docs_headers(page: str) -> dict[str, str]:
    """The /docs page's policy: this origin's files, and its inline scripts by their hashes
    (Swagger UI's start), nothing from elsewhere; and it cannot be framed."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page)
    )
    policy = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",  # Swagger UI sets style attributes
            "img-src 'self' data: blob:",  # its icons; results shown by "Try it out"
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY"}
