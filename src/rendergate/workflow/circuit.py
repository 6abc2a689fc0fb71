"""Circuit breakers: after repeated failed calls, stop asking a provider for a while.

The submit step keys them by provider and app ("runninghub/su_render"). While one is open,
the app's tasks skip that provider at once, when the app has a later route, instead of
spending their retries there. After the open period one task is let through
(half-open); its outcome closes the circuit or opens it again. Pure: time comes in as
arguments, from the services' injectable clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Circuit:
    failures_to_open: int
    open_for: timedelta
    failures: int = 0  # consecutive failed calls
    opened_at: datetime | None = None  # None: closed
    trial_at: datetime | None = None  # when the half-open circuit let one task through

    def allows(self, now: datetime) -> bool:
        """Whether a task may call the provider now; claims the one half-open trial."""
        if self.opened_at is None:
            return True
        if now - self.opened_at < self.open_for:
            return False
        # Half-open: one trial at a time; a trial that never reports (canceled, crashed)
        # frees the slot after another open period, so the circuit cannot stay stuck.
        if self.trial_at is not None and now - self.trial_at < self.open_for:
            return False
        self.trial_at = now
        return True

    def failed(self, now: datetime) -> None:
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.failures_to_open:
            self.opened_at, self.trial_at = now, None  # (re)opens: a failed trial too

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.trial_at = 0, None, None


@dataclass
class Circuits:
    """One circuit per key (provider and app), made on first use."""

    failures_to_open: int = 3
    open_s: float = 30.0
    _by_key: dict[str, Circuit] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Circuit:
        circuit = self._by_key.get(key)
        if circuit is None:
            circuit = Circuit(self.failures_to_open, timedelta(seconds=self.open_s))
            self._by_key[key] = circuit
        return circuit
