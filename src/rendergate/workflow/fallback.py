"""When the submit step passes a provider over: the guard that counts a provider's failed
calls on its circuit, what is worth calling again as it is, and the reason a skip records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from rendergate.domain.errors import (
    Fault,
    InputsGone,
    OutOfFunds,
    ProviderBusy,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.workflow.circuit import Circuit
from rendergate.workflow.provider_calls import (
    CallObserver,
    readable,
)

T = TypeVar("T")


@dataclass
class Guard:
    """Counts each failed provider call on the provider's circuit, and in a row here.

    Only an accepted job closes the circuit (SubmitStep._record): a provider that takes
    uploads but refuses every job (an empty wallet) must still trip it.
    """

    circuit: Circuit
    clock: Callable[[], datetime]
    provider: str
    observe: CallObserver | None = None
    failed_in_a_row: int = 0

    async def __call__(self, call: Awaitable[T], *, creates_job: bool = False) -> T:
        try:
            result = await readable(
                self.provider, call, creates_job=creates_job, observe=self.observe
            )
        except ProviderBusy:  # it answered, it is only full: no sign of a broken provider
            raise
        except ProviderUnavailable:
            self.failed_in_a_row += 1
            self.circuit.failed(self.clock())
            raise
        except ProviderRejected as exc:
            if exc.fault is Fault.CONFIG:
                self.circuit.failed(self.clock())
            raise
        self.failed_in_a_row = 0
        return result


def retryable(can_move: bool) -> Callable[[Exception], bool]:
    """What is worth calling again as it is: with a later route, a busy provider is not;
    lost inputs never are (they are uploaded again first)."""
    if can_move:
        return lambda exc: (
            isinstance(exc, ProviderUnavailable) and not isinstance(exc, ProviderBusy | InputsGone)
        )
    return lambda exc: isinstance(exc, ProviderUnavailable) and not isinstance(exc, InputsGone)


def skip_reason(provider: str, error: ProviderError, attempts: int) -> str | None:
    """Why `provider` is passed over for this error, or None when no other can help."""
    if isinstance(error, ProviderBusy):
        return f"{provider} is at its concurrency or quota limit: {error.message}"
    if isinstance(error, ProviderUnavailable):
        return f"{provider} did not answer after {attempts} attempts: {error.message}"
    if isinstance(error, OutOfFunds):
        return f"{provider} is out of funds: {error.message}"
    if isinstance(error, ProviderRejected) and error.fault is Fault.CONFIG:
        return f"{provider} refused our credentials, account or app settings: {error.message}"
    return None
