"""API keys: who a request speaks for, and the secret its webhooks are signed with.

A key is shown once, as `rk_<key id>_<secret>`; only a hash of the secret is kept, so a
copy of the database lets no one call the API. The key id (public, in logs and task rows)
finds the row; the hash is compared in constant time. The webhook signing secret
(`whsec_…`, the Standard Webhooks form) must be kept as is to sign with; after a rotation
the previous one stays valid for an overlap, so receivers can switch without missing a
delivery.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from rendergate.domain.limits import KeyLimits

PREFIX = "rk"
KEY_ID_HEX = 12  # 48 bits: unique among a deployment's keys, short enough to read in a log


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    secret_hash: str  # sha256 of the secret part, hex
    webhook_secret: str  # whsec_<base64>
    created_at: datetime
    previous_webhook_secret: str = ""  # still verifies until `previous_until`
    previous_until: datetime | None = None
    revoked_at: datetime | None = None
    limits: KeyLimits = field(default_factory=KeyLimits)  # its own limits, prices, webhook

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))

    def revoke(self, *, now: datetime) -> ApiKey:
        return self if self.revoked_at else dataclasses.replace(self, revoked_at=now)

    def rotate_webhook_secret(self, *, overlap_until: datetime) -> ApiKey:
        return dataclasses.replace(
            self,
            webhook_secret=new_webhook_secret(),
            previous_webhook_secret=self.webhook_secret,
            previous_until=overlap_until,
        )


def hash_secret(secret: str) -> str:
    """A plain SHA-256: the secret is 192 random bits, so no slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_key(name: str, *, now: datetime) -> tuple[str, ApiKey]:
    """A fresh key: the token to show once, and the row to keep."""
    key_id, secret = secrets.token_hex(KEY_ID_HEX // 2), secrets.token_hex(24)
    key = ApiKey(
        key_id=key_id,
        name=name,
        secret_hash=hash_secret(secret),
        webhook_secret=new_webhook_secret(),
        created_at=now,
    )
    return f"{PREFIX}_{key_id}_{secret}", key


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a token shaped like ours, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != KEY_ID_HEX or not secret:
        return None
    return key_id, secret
