"""Secrets out of text: what is logged, stored as an error or recorded by DBOS.

Provider keys travel in request bodies (RunningHub's `apiKey`), and an upstream reply
may echo the request back. Whatever text leaves rendergate passes `Redactor.scrub` first;
the composition root builds the one Redactor from the settings' secrets.
"""

from __future__ import annotations

from collections.abc import Iterable

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
