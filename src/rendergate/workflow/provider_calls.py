"""How the steps call providers: replies we cannot read, back-off, and best-effort cancels."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from rendergate.domain.errors import (
    Fault,
    OutOfFunds,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.domain.task import JobHandle
from rendergate.providers.base import Provider, cancel_capability

log = structlog.get_logger(__name__)

T = TypeVar("T")
CALL_ATTEMPTS = 5
UNREADABLE = (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError)


@dataclass(frozen=True)
class Backoff:
    """Waits between tries of one provider call (stamina's exponential back-off, jittered)."""

    initial_s: float = 1.0
    max_s: float = 30.0


DEFAULT_BACKOFF = Backoff()


class CallObserver(Protocol):
    """Told of each provider call: its outcome ("ok", or the error's code) and time."""

    def provider_call(self, provider: str, outcome: str, seconds: float) -> None: ...


async def readable(
    provider: str,
    call: Awaitable[T],
    *,
    creates_job: bool = False,
    observe: CallObserver | None = None,
) -> T:
    """Runs a provider call; a reply the adapter could not read (a missing key, a wrong
    type) is the provider's error, never an internal one. After a call that creates paid
    work it is final: the job may exist, and submitting again could pay for it twice."""
    started, outcome = time.monotonic(), "error"
    try:
        result = await call
        outcome = "ok"
        return result
    except ProviderError as exc:
        outcome = exc.code or type(exc).__name__
        raise
    except UNREADABLE as exc:
        outcome = "unreadable"
        message = f"{provider} sent a reply we could not read ({type(exc).__name__})"
        if creates_job:
            raise ProviderRejected(message, code="unreadable") from exc
        raise ProviderUnavailable(message, code="unreadable") from exc
    finally:
        if observe is not None:
            observe.provider_call(provider, outcome, time.monotonic() - started)


def failure_message(provider: str, error: ProviderError) -> str:
    """A provider error as the task's message: whose fault, then what was said."""
    if isinstance(error, OutOfFunds):
        return f"{provider} refused the task: {error.message}"
    prefix = "the inputs were refused" if error.fault is Fault.USER else f"{provider} failed"
    return f"{prefix}: {error.message}"


async def cancel_upstream(provider: Provider | None, job: JobHandle) -> None:
    """Asks the provider to stop the job, if it can; a failure is only logged (the job may
    have ended meanwhile)."""
    canceller = cancel_capability(provider)
    if provider is None or canceller is None:
        return
    try:
        await canceller.cancel(job)
    except ProviderError as exc:
        log.info("provider cancel failed", provider=provider.name, reason=exc.message)
