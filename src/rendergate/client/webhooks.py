"""Checking a webhook rendergate sent, with the `standardwebhooks` package (the scheme the
server signs by): the signature, and an age of at most 5 minutes (replays)."""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from rendergate.client.errors import InvalidSignature
from rendergate.client.models import Task, WebhookEvent


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """The event of a webhook request, once its `webhook-*` headers verify with `secret`
    (the API key's `whsec_...`); InvalidSignature otherwise. Pass the body exactly as it
    arrived: re-encoded JSON no longer matches its signature. A signed body that is not an
    event is refused the same way."""
    webhook = Webhook(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        payload = webhook.verify(body, lowered)
    except (WebhookVerificationError, binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidSignature(f"the webhook does not verify: {exc}") from None
    try:
        return WebhookEvent(
            id=lowered["webhook-id"],
            type=str(payload["type"]),
            timestamp=_when(payload.get("timestamp")),
            task=Task.from_json(payload["data"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSignature(f"a signed body that is not a rendergate event: {exc}") from None


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
