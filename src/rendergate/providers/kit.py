"""What provider adapters share, so a new one writes only what is its own.

- `Action` and `CodeInfo`: a provider's error-code table, and `error_from` turning an entry
  into the ProviderError the core understands (retry, busy, lost, terminal).
- `binding_values`: an app's bindings filled with a task's inputs, angle, params and seed.
- `download_refreshing`: fetch an output whose signed URL may have expired, asking the
  provider for a fresh URL once before giving up.
- `number`: a provider's loosely typed number ("12.5", 12, null) as a float or None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rendergate.domain.apps import NodeBinding
from rendergate.domain.errors import (
    Fault,
    JobLost,
    OutOfFunds,
    ProviderBusy,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.providers.base import JobRequest, OutputRef


class Action(StrEnum):
    """What the core does about an error code."""

    RETRY = "retry"  # back off, then call again
    BUSY = "busy"  # our account is at its limit: retry later, or another provider now
    POLL = "poll"  # the job is still going
    LOST = "lost"  # the provider no longer knows the job: submit again
    TERMINAL = "terminal"  # the task fails with the message
    FUNDS = "funds"  # the account's balance is used up: terminal, and the provider pauses


@dataclass(frozen=True)
class CodeInfo:
    action: Action
    fault: Fault
    message: str


def error_from(known: CodeInfo, text: str, code: str) -> ProviderError:
    """The exception for a code-table entry, with `text` as its message."""
    if known.action is Action.BUSY:
        return ProviderBusy(text, fault=known.fault, code=code)
    if known.action is Action.RETRY:
        return ProviderUnavailable(text, fault=known.fault, code=code)
    if known.action is Action.LOST:
        return JobLost(text, fault=known.fault, code=code)
    if known.action is Action.FUNDS:
        return OutOfFunds(text, fault=known.fault, code=code)
    return ProviderRejected(text, fault=known.fault, code=code)


def binding_values(request: JobRequest) -> Iterator[tuple[NodeBinding, Any]]:
    """Each of the app's bindings with its value for this task. A binding whose source the
    task did not give (an optional input, a param left out) is skipped: the provider's own
    default stays."""
    return bound_values(
        request.app.bindings, request.inputs, request.angle, request.params, seed=request.seed
    )


def bound_values(
    bindings: Iterable[NodeBinding],
    inputs: Mapping[str, str],
    angle: str,
    params: Mapping[str, Any],
    *,
    seed: int | None = None,
) -> Iterator[tuple[NodeBinding, Any]]:
    """binding_values, from the request's parts."""
    for binding in bindings:
        if binding.source in inputs:
            yield binding, inputs[binding.source]
        elif binding.source == "angle":
            yield binding, angle
        elif binding.source == "seed":
            if seed is not None:
                yield binding, seed
        elif binding.source.startswith("params."):
            key = binding.source.removeprefix("params.")
            if key in params:
                yield binding, params[key]


async def download_refreshing(
    output: OutputRef,
    *,
    fetch: Callable[[str], Awaitable[bytes | None]],
    refresh: Callable[[], Awaitable[tuple[OutputRef, ...]]],
    same: Callable[[OutputRef, OutputRef], bool],
    provider: str,
) -> bytes:
    """`output`'s bytes. `fetch` answers None for a URL that no longer works; then `refresh`
    asks the provider for the job's outputs again and the matching one is fetched once."""
    data = await fetch(output.locator)
    if data is not None:
        return data
    for fresh in await refresh():
        if same(fresh, output):
            data = await fetch(fresh.locator)
            if data is not None:
                return data
    raise JobLost(f"{provider}'s result file has expired")


def number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
