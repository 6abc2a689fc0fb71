"""When to ask RunningHub again, and what to say meanwhile.

With a webhook on its way, status answers from an estimate (the time since submit against
the app's recent run times) and RunningHub is asked only every SAFETY_POLL_S, unless a
webhook says the job has ended. Without one, the poll interval follows the app's run time.
"""

from __future__ import annotations

import statistics
import time
from collections import deque

from rendergate.providers.base import JobHandle, JobPhase, JobStatus

SAFETY_POLL_S = 30.0  # with a webhook on its way, RunningHub is still asked this often
ESTIMATE_EVERY_S = 10.0  # how often an estimated progress is reported meanwhile (a write each)
DEFAULT_RUN_S = 60.0


class Pacing:
    def __init__(self) -> None:
        self._run_times: dict[str, deque[float]] = {}  # app key -> recent taskCostTime (s)
        self._last_poll: dict[str, float] = {}  # job id -> monotonic time of the last real call
        self._hinted: set[str] = set()  # jobs a webhook said have ended

    def polled(self, job_id: str) -> None:
        """RunningHub was asked about the job (or given it) just now."""
        self._last_poll[job_id] = time.monotonic()

    def hinted(self, job_id: str) -> None:
        """A webhook said the job has ended: the next status asks RunningHub."""
        self._hinted.add(job_id)

    def ended(self, job: JobHandle, run_s: float | None) -> None:
        self._hinted.discard(job.job_id)
        self._last_poll.pop(job.job_id, None)
        if run_s:
            app = str(job.data.get("app", ""))
            self._run_times.setdefault(app, deque(maxlen=20)).append(run_s)

    def waiting_for_webhook(self, job: JobHandle) -> bool:
        if not job.data.get("webhook") or job.job_id in self._hinted:
            return False
        last = self._last_poll.get(job.job_id)
        return last is not None and time.monotonic() - last < SAFETY_POLL_S

    def estimate(self, job: JobHandle) -> JobStatus:
        """Progress from the time since submit against this app's recent run times; < 100."""
        elapsed = time.time() - float(job.data.get("submitted_at", time.time()))
        progress = min(95, int(100 * elapsed / max(self._expected_run_s(job), 1.0)))
        wait = ESTIMATE_EVERY_S
        if self.waiting_for_webhook(job):
            wait = min(wait, SAFETY_POLL_S - (time.monotonic() - self._last_poll[job.job_id]))
        return JobStatus(phase=JobPhase.RUNNING, progress=progress, poll_after_s=max(wait, 0.5))

    def poll_s(self, job: JobHandle) -> float:
        if job.data.get("webhook"):
            return SAFETY_POLL_S
        return min(10.0, max(1.0, self._expected_run_s(job) / 10))

    def _expected_run_s(self, job: JobHandle) -> float:
        recent = self._run_times.get(str(job.data.get("app", "")))
        return statistics.median(recent) if recent else DEFAULT_RUN_S
