"""Standard Webhooks signatures (https://www.standardwebhooks.com), made with the
`standardwebhooks` package that receivers verify with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks.webhooks import Webhook


def signed_headers(
    message_id: str, at: datetime, body: str, secrets: Sequence[str]
) -> dict[str, str]:
    """The three headers of one try. Each secret signs it (the current one, and during a
    rotation's overlap the previous one too), so a receiver holding either verifies it."""
    if not secrets:
        raise ValueError("a webhook needs at least one signing secret")
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
