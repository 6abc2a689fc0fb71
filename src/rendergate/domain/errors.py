"""One exception tree for the whole service; the API edge alone maps it to HTTP.

RendergateError
├── ConfigError               the settings or apps file cannot work (start-up refuses)
├── Unauthorized              no API key, or not one of ours
├── RequestInProgress         an Idempotency-Key whose first request is still running
├── TaskNotFound              (also another key's task: isolation answers as if absent)
├── InvalidTransition         e.g. canceling a finished task
├── ResultNotReady            the task has no stored result (yet)
├── ShareNotFound             no share link with this token or id (also a revoked one)
├── ShareExpired              the share link is past its expiry
├── ResultLost                a completed task's stored result is missing
├── FilesExpired              a task's inputs and results were removed for their age
├── InputsUnavailable         a task's stored inputs are gone: it cannot be run again
├── ServerBusy                no room for the request right now (too many large uploads)
├── LimitReached              the caller's key is over one of its limits (rate, in flight)
│   ├── ShareTaken            it holds its share of what all keys share (uploads, streams)
│   └── BudgetReached         its charges this month would pass its monthly budget
├── ReplayPending             an earlier replay of the same webhook is not settled yet
├── InvalidInput              the caller sent something we cannot use
│   ├── UnknownApp
│   ├── AppUnavailable        the app's provider is not configured here
│   ├── InputTooLarge
│   └── UnsupportedInput
├── ProviderError             a provider refused or failed; says who is at fault
│   ├── ProviderUnavailable   transient: back off and try again
│   │   ├── ProviderBusy      the account's concurrency or quota is used up right now
│   │   ├── InputsGone        the provider lost the uploads before the job was in
│   │   └── ProviderUnanswered  sent, but no answer came: what it asked may have happened
│   ├── JobInDoubt            a submit went unanswered and its job may exist: not resent
│   ├── JobLost               the provider forgot our job: submit it again
│   └── ProviderRejected      terminal: the task fails with this message
│       └── OutOfFunds        the provider account's balance is used up
└── StepFailed                (runtime/dbos_runtime.py) a step's unexpected error,
                              as DBOS records it: its type and a scrubbed message
"""

from __future__ import annotations

from enum import StrEnum


class RendergateError(Exception):
    """Base of every error rendergate raises on purpose."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(RendergateError):
    """The settings cannot work together."""


class Unauthorized(RendergateError):
    """The request carries no valid API key, and the service has keys."""


class RequestInProgress(RendergateError):
    """A request with the same Idempotency-Key is still being processed."""

    def __init__(self, message: str | None = None, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # when asking again can have another answer


class TaskNotFound(RendergateError):
    """No task has this id."""

    def __init__(self, task_id: int | str) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class BatchNotFound(RendergateError):
    """No batch of the caller has this id."""

    def __init__(self, batch_id: int | str) -> None:
        super().__init__(f"batch {batch_id} not found")
        self.batch_id = batch_id


class PresetNotFound(RendergateError):
    """The caller has no preset of this name, and no built-in one has it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"preset {name!r} not found")
        self.name = name


class PresetExists(RendergateError):
    """A preset of that name exists (POST), or another edit of it came first (PUT)."""


class InvalidTransition(RendergateError):
    """The task cannot move to that state from the one it is in."""


class InvalidInput(RendergateError):
    """The request cannot be used as it is."""

    def __init__(self, message: str, *, field: str | None = None, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.location = location  # "body", "query" or "path", as in FastAPI's `loc`


class UnknownApp(InvalidInput):
    """The task type names no configured app."""


class AppUnavailable(InvalidInput):
    """The app exists but its provider is not configured on this server."""


class InputTooLarge(InvalidInput):
    """An input is over a size or pixel limit."""


class UnsupportedInput(InvalidInput):
    """An input is of a kind we cannot read."""


class Fault(StrEnum):
    """Whose fault a provider error is, so callers know whether retrying can help."""

    USER = "user"  # the inputs or the app's bindings: retrying the same task will not help
    PROVIDER = "provider"  # the provider broke or is busy
    CONFIG = "config"  # our credentials, quota or settings


class ProviderError(RendergateError):
    """A provider call failed."""

    retryable = False

    def __init__(self, message: str, *, fault: Fault = Fault.PROVIDER, code: str = "") -> None:
        super().__init__(message)
        self.fault = fault
        self.code = code


class ProviderUnavailable(ProviderError):
    """The provider is busy, down or slow; the same call may succeed later."""

    retryable = True


class ProviderBusy(ProviderUnavailable):
    """The account's concurrency or quota is exhausted right now.

    Waiting helps, but another provider may take the task at once: an app with a fallback
    route moves on instead of waiting.
    """


class InputsGone(ProviderUnavailable):
    """The provider no longer holds the inputs uploaded for this job: upload them again."""


class ProviderUnanswered(ProviderUnavailable):
    """The request went out but no answer came back (a timeout, a reset): a call that
    creates paid work may have created it, so a submit is not simply sent again."""


class JobInDoubt(ProviderError):
    """A submit went unanswered and the provider cannot rule out that it took the job:
    sending it again could run and pay for the task twice, so the task fails instead."""


class JobLost(ProviderError):
    """The provider no longer knows the job (it restarted or expired it); submit again."""

    retryable = True


class ProviderRejected(ProviderError):
    """The provider refused or failed the job for good."""


class OutOfFunds(ProviderRejected):
    """The provider refused the job because the account's balance is used up: this task
    fails, and the provider's next tasks wait for a top-up (or fall back) instead."""


class ServerBusy(RendergateError):
    """This server has no room for the request right now; the same request may work later."""

    def __init__(self, message: str, *, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LimitReached(RendergateError):
    """The caller's API key is over one of its limits; the message says it in words and
    `limit` names it for a program (the key's limit field: "rate_per_minute", ...)."""

    def __init__(self, message: str, *, retry_after_s: int, limit: str) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
        self.limit = limit


class BudgetReached(LimitReached):
    """The create's charges would take its key's month past its budget (domain/limits.py)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s, limit="monthly_budget")


class ShareTaken(LimitReached):
    """The caller's key holds its share of something every key draws on at once (large
    uploads being read, event streams, webhook replays); it may try again once one ends."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s, limit="share")


class ReplayPending(RendergateError):
    """An earlier replay of the same webhook event is still waiting to be delivered."""


class ResultNotReady(RendergateError):
    """The task has no stored result (yet)."""


class ShareNotFound(RendergateError):
    """This share link is unknown or was revoked; ask its sender for a new one."""


class ShareExpired(RendergateError):
    """This share link has expired; ask its sender for a new one."""


class FilesExpired(RendergateError):
    """The task's inputs and results were removed for their age (retention)."""


class InputsUnavailable(RendergateError):
    """A task's stored inputs are gone (retention removed them, or our storage lost them),
    so no new task can be made from them."""


class ResultLost(RendergateError):
    """A completed task's stored result is missing: our storage lost it."""


class WorkflowErrored(RendergateError):
    """The task's workflow ended in an error its orchestrator recorded: resuming it would
    replay the same error, so the task is failed with a message instead."""
