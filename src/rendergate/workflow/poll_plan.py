"""When to ask a provider about a job again: from what is known of when it will end.

Each app's recent run times (seen by this worker) say when its jobs tend to end. A job is
asked sparsely before the earliest of them and densely from then on, then less and less
often once it runs well past the slowest, with a cap on every wait. With a webhook on its
way the provider is asked only as a safety net, after the slowest should have ended, and
at once when a webhook comes; a job that runs on is asked less and less often (as far
apart as it is old): 10,000 jobs waiting on a queue upstream must not cost a poll each a
minute. A provider's own hint (its estimate of the end, its queue)
comes first, and a provider that answers from memory (`AnswersFromMemory`: our own
servers, the local engine) is asked as often as it says from the start. Pure: the tracker
(tracker.py) owns the clock.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

FIRST_POLL_S = 0.5  # a job not yet asked about: is it there at all?
DENSE_S = 1.5  # between the earliest and the slowest end seen: a client hears within this
UNKNOWN_S = 2.0  # an app with no history yet is asked this often, as a simple client would
MAX_WAIT_S = 30.0  # no job goes unasked longer (without a webhook)
SAFETY_MARGIN_S = 30.0  # with a webhook: the safety poll comes this long after the slowest end
SAFETY_EVERY_S = 60.0  # and then as often as the job's age, at least this far apart
SAFETY_MAX_S = 600.0  # and at most this far apart
HISTORY = 50  # run times kept per app
MIN_HISTORY = 3  # fewer than this says nothing yet


@dataclass(frozen=True)
class Expected:
    """When an app's jobs end, in seconds after submit: the earliest seen, the typical and
    the slowest of the recent ones (the median and 90th percentile). Dense polling starts
    at the earliest: any later start leaves the quickest jobs, a tenth of them from the
    10th percentile, waiting for it."""

    early: float
    typical: float
    late: float


@dataclass
class RunTimes:
    """Recent run times per app, as this worker saw them end. What they say is worked out
    once per new run time, not on every poll that asks."""

    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _said: dict[str, Expected | None] = field(default_factory=dict)

    def record(self, app: str, seconds: float) -> None:
        if seconds > 0:
            self._seen.setdefault(app, deque(maxlen=HISTORY)).append(seconds)
            self._said.pop(app, None)

    def expected(self, app: str) -> Expected | None:
        if app not in self._said:
            self._said[app] = _expected(self._seen.get(app))
        return self._said[app]


def _expected(seen: deque[float] | None) -> Expected | None:
    if seen is None or len(seen) < MIN_HISTORY:
        return None
    cuts = statistics.quantiles(seen, n=10, method="inclusive")
    return Expected(early=min(seen), typical=statistics.median(seen), late=cuts[-1])


def next_poll_s(
    elapsed_s: float,
    expected: Expected | None,
    *,
    webhook: bool,
    hint_s: float | None = None,
) -> float:
    """Seconds until the job is asked about again, `elapsed_s` after its submit."""
    if hint_s is not None:
        return max(0.01, min(hint_s, MAX_WAIT_S))
    if webhook:
        return _safety_wait(elapsed_s, expected)
    if expected is None:
        return UNKNOWN_S
    if elapsed_s < expected.early - DENSE_S:
        return min(expected.early - elapsed_s, MAX_WAIT_S)  # sparse: nothing ends yet
    overdue = elapsed_s - 1.5 * expected.late
    if overdue <= 0:
        return DENSE_S
    return min(MAX_WAIT_S, DENSE_S + overdue / 4)  # a straggler: less and less often


def _safety_wait(elapsed_s: float, expected: Expected | None) -> float:
    slowest = expected.late if expected is not None else SAFETY_EVERY_S
    first = 1.5 * slowest + SAFETY_MARGIN_S
    if elapsed_s < first:
        return first - elapsed_s
    return min(SAFETY_MAX_S, max(SAFETY_EVERY_S, elapsed_s))  # a lost webhook is rare
