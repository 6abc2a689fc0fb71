"""Secrets out of text: what is logged, stored as an error or recorded by DBOS.

Provider keys travel in request bodies (RunningHub's `apiKey`), and an upstream reply
may echo the request back. Whatever text leaves rendergate passes `Redactor.scrub` first;
the composition root builds the one Redactor from the settings' secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values would mask ordinary words


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        self._secrets = sorted(unique, key=len, reverse=True)  # a longer one may hold a shorter

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


def bare_url(url: str) -> str:
    """The URL as it may be shown: scheme, host, port and path, without the userinfo, query
    and fragment that can hold a password or a token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
