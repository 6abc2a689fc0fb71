"""A per-key limit on creates a minute, counted in this process (services/admission.py)."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rendergate.domain.errors import LimitReached

WINDOW_S = 60.0


@dataclass
class CreateRates:
    """Each key's creates in the last minute, in this process."""

    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, collections.deque[float]] = field(default_factory=dict)

    def take(self, owner: str, per_minute: int, count: int = 1) -> float:
        """Counts `count` creates (a batch's members), or raises LimitReached if the key
        has not that many left of its minute's share; returns their stamp, for
        `give_back`."""
        now = self.clock()
        seen = self._seen.setdefault(owner, collections.deque())
        while seen and seen[0] <= now - WINDOW_S:
            seen.popleft()
        if count > per_minute:
            raise LimitReached(
                f"{count} tasks at once is over this key's limit of {per_minute} task "
                "creates a minute",
                retry_after_s=math.ceil(WINDOW_S),
            )
        if len(seen) + count > per_minute:
            wait = math.ceil(seen[len(seen) + count - per_minute - 1] + WINDOW_S - now)
            raise LimitReached(
                f"over this key's limit of {per_minute} task creates a minute; "
                f"retry after {wait} s",
                retry_after_s=wait,
            )
        seen.extend([now] * count)
        if len(self._seen) > 100_000:  # keys long idle are forgotten
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - WINDOW_S}
        return now

    def give_back(self, owner: str, stamp: float, count: int = 1) -> None:
        """Uncounts creates that `take` counted but that were refused after all."""
        seen = self._seen.get(owner)
        for _ in range(count):
            if seen is not None and stamp in seen:
                seen.remove(stamp)
