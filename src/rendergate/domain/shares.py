"""Share links: one batch shown, read only, to someone without a key (a client on a phone).

The owner of a batch makes a link for it; the link's token is shown once, in its URL, and
only a SHA-256 of it is kept (as API keys are), so a copy of the database opens no share.
A link ends at its expiry or when its owner revokes it. It shows the kept results (the
picks) unless its owner chose all, and never prices, params, seeds or providers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from rendergate.domain.errors import ShareExpired, ShareNotFound

MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 30, 7
TOKEN_BYTES = 32  # 256 random bits: not guessed, so a plain hash is enough


@dataclass(frozen=True, kw_only=True)
class Share:
    share_id: int
    owner: str  # the batch's API key's id; "" in open mode
    batch_id: int
    token_hash: str  # sha256 of the token, hex
    kept_only: bool = True  # only the picks (kept results and the steps made from them)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def revoke(self, *, now: datetime) -> Share:
        """Revoked now; revoking again keeps the first time."""
        return self if self.revoked_at else dataclasses.replace(self, revoked_at=now)

    def open_at(self, now: datetime) -> Share:
        """The share, if its link opens now: ShareNotFound once revoked (as if unknown),
        ShareExpired past its expiry."""
        if self.revoked_at is not None:
            raise ShareNotFound()
        if now >= self.expires_at:
            on = self.expires_at.date().isoformat()
            raise ShareExpired(f"this link expired on {on}; ask for a new one")
        return self


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
