"""The provider port: what the core needs from any rendering backend.

Adapters translate one provider's API into these values and raise only from the
ProviderError tree (retryable or terminal, user's or provider's fault).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ProviderError
from rendergate.domain.task import JobHandle

__all__ = [
    "Balance",
    "Cancellable",
    "InputFile",
    "JobHandle",
    "JobPhase",
    "JobRequest",
    "JobStatus",
    "OutputRef",
    "Provider",
    "ReceivesWebhooks",
    "WebhookEvent",
]


@dataclass(frozen=True, kw_only=True)
class InputFile:
    role: str  # "image" or "reference"
    data: bytes
    content_type: str
    extension: str
    account: str | None = None  # the pooled key to upload with (JobRequest.account)


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    task_id: int
    app: AppSpec
    inputs: Mapping[str, str]  # role -> what upload() returned
    angle: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None  # the task's: for a `seed` binding, and the local engine
    callback_url: str | None = None  # where the provider may POST its webhook
    attempt: int = 1
    idempotency_key: str = ""  # the same for every try of one attempt, unique across installs
    account: str | None = None  # the pooled key chosen for it (providers/accounts.py)


class JobPhase(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, kw_only=True)
class OutputRef:
    """One result file at the provider, to be downloaded and re-hosted by us."""

    locator: str  # a URL or a provider-specific key
    file_type: str = ""  # "png", "jpg", ...
    node_id: str = ""


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    phase: JobPhase
    progress: int | None = None  # 0-100 within the provider's own run, when known
    queue_position: int | None = None
    error: ProviderError | None = None  # set when phase is FAILED
    outputs: tuple[OutputRef, ...] = ()  # filled when phase is SUCCEEDED
    cost: Mapping[str, Any] | None = None
    poll_after_s: float | None = None  # the provider's hint for the next status call


@dataclass(frozen=True, kw_only=True)
class WebhookEvent:
    """A provider's callback, parsed: it says which job to look at, never what to believe."""

    job_id: str
    event: str = ""


class Provider(Protocol):
    """One rendering backend. Constructors do no I/O; `aclose` releases what it opened.

    Cancelling, webhooks, job counts and batch status reads are optional capabilities
    (`Cancellable`, `ReceivesWebhooks`, `CountsJobs`, `AnswersTogether` below): an adapter
    has the method or not, and the registry entry says which it has."""

    name: str

    async def upload(self, file: InputFile) -> str:
        """Makes an input available to the provider; returns the value a job refers to it by."""
        ...

    async def submit(self, request: JobRequest) -> JobHandle:
        """Hands the job over. ProviderUnanswered means it may have been taken unheard;
        an adapter whose next try finds such a job itself (ComfyUI, by prompt id) raises
        a plain ProviderUnavailable instead, which is simply tried again."""
        ...

    async def status(self, job: JobHandle) -> JobStatus: ...

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        """Fetches one output's bytes (the provider's URLs expire; we keep our own copy)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Cancellable(Protocol):
    """A provider that can stop a job it accepted."""

    async def cancel(self, job: JobHandle) -> bool:
        """Asks the provider to stop; True when it confirms it will not run the job further."""
        ...


@runtime_checkable
class ReceivesWebhooks(Protocol):
    """A provider that calls us back when a job changes (at the task's callback URL)."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Reads an incoming callback; raises ProviderRejected for one it cannot read. Keeps
        no state: the process receiving it may not be the one tracking the job."""
        ...


@runtime_checkable
class AnswersFromMemory(Protocol):
    """A provider whose status calls cost nothing upstream (our own servers, the local
    engine): the tracker asks it this often from the first poll, not on a plan."""

    poll_interval_s: float


@runtime_checkable
class AnswersTogether(Protocol):
    """A provider with a view of many jobs at once (ComfyUI's `/queue` and `/history` answer
    for every prompt on a server): the tracker asks it once for the jobs due together."""

    async def statuses(self, jobs: Sequence[JobHandle]) -> dict[str, JobStatus | ProviderError]:
        """Each job's status by its id, or the error `status` would raise for it alone (a
        job lost upstream, a server that does not answer): one job's error is its own."""
        ...


@runtime_checkable
class CountsJobs(Protocol):
    """A provider that says how many jobs the account has queued or running: after a
    submit that went unanswered, whether it may have taken the job (`SubmitStep`)."""

    async def jobs_running(self) -> int: ...


@runtime_checkable
class SelfChecks(Protocol):
    """A provider that can say, for `rendergate doctor`, whether it answers and takes our
    credentials: what it found, or a ProviderError saying what is wrong."""

    async def self_check(self) -> str: ...


@dataclass(frozen=True)
class Balance:
    """What the provider account has left, as the provider reports it (None: not given)."""

    coins: Decimal | None = None
    money: Decimal | None = None
    currency: str | None = None

    @classmethod
    def total(cls, balances: Sequence[Balance]) -> Balance:
        """Several keys' balances as one: the sums of the figures given (None: none gave)."""

        def added(amounts: list[Decimal | None]) -> Decimal | None:
            given = [amount for amount in amounts if amount is not None]
            return sum(given, Decimal(0)) if given else None

        return cls(
            coins=added([b.coins for b in balances]),
            money=added([b.money for b in balances]),
            currency=next((b.currency for b in balances if b.currency), None),
        )

    @property
    def has_funds(self) -> bool | None:
        """Whether anything is left; None when the provider gave neither figure."""
        given = [amount for amount in (self.coins, self.money) if amount is not None]
        return any(amount > 0 for amount in given) if given else None


@runtime_checkable
class ReadsBalance(Protocol):
    """A provider that can say what its account has left (RunningHub's accountStatus), and
    how often one worker reads it (0: never) and below how many coins it warns."""

    balance_every_s: float
    balance_low: Decimal | None

    async def balance(self) -> Balance: ...


@runtime_checkable
class ReadsKeyBalances(Protocol):
    """A provider with several keys (providers/accounts.py) that reads each one's balance,
    by the key's id, for the gauge and doctor."""

    async def balances(self) -> dict[str, Balance]: ...


async def balances_of(reader: ReadsBalance) -> dict[str, Balance]:
    """Each key's balance by its id, when the provider reads them one by one; else {}."""
    return await reader.balances() if isinstance(reader, ReadsKeyBalances) else {}


def balance_capability(provider: object) -> ReadsBalance | None:
    return provider if isinstance(provider, ReadsBalance) else None


def self_check_capability(provider: object) -> SelfChecks | None:
    return provider if isinstance(provider, SelfChecks) else None


def cancel_capability(provider: object) -> Cancellable | None:
    """The provider as a Cancellable, or None when it cannot cancel."""
    return provider if isinstance(provider, Cancellable) else None


def webhook_capability(provider: object) -> ReceivesWebhooks | None:
    """The provider as a ReceivesWebhooks, or None when it sends none."""
    return provider if isinstance(provider, ReceivesWebhooks) else None


def poll_interval_capability(provider: object) -> float | None:
    """How often a provider that answers from memory may be asked; None for any other."""
    return provider.poll_interval_s if isinstance(provider, AnswersFromMemory) else None


def together_capability(provider: object) -> AnswersTogether | None:
    """The provider as an AnswersTogether, or None when it is asked one job at a time."""
    return provider if isinstance(provider, AnswersTogether) else None


def job_count_capability(provider: object) -> CountsJobs | None:
    """The provider as a CountsJobs, or None when it cannot say."""
    return provider if isinstance(provider, CountsJobs) else None
