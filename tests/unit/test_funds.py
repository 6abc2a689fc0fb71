"""The out-of-funds gate: the first refusal is told, later ones wait; the balance is read
again once per period, and only a balance above zero makes the provider usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rendergate.domain.errors import ProviderUnavailable
from rendergate.providers.base import Balance
from rendergate.workflow.funds import Funds, usable

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class Account:
    """A provider's balance as it reads it (ReadsBalance), counting the reads."""

    balance_every_s = 0.0
    balance_low: Decimal | None = None

    def __init__(self, *answers: Balance | Exception) -> None:
        self.answers, self.reads = list(answers), 0

    async def balance(self) -> Balance:
        self.reads += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_only_the_first_refusal_since_the_provider_had_funds_is_told() -> None:
    funds = Funds(recheck_s=30)
    assert funds.used_up("runninghub", T0) is True
    assert funds.used_up("runninghub", T0 + timedelta(seconds=1)) is False
    funds.topped_up("runninghub")
    assert not funds.is_out("runninghub")
    assert funds.used_up("runninghub", T0 + timedelta(seconds=2)) is True


async def test_the_balance_is_read_once_per_period_until_it_is_above_zero() -> None:
    funds, account = (
        Funds(recheck_s=30),
        Account(Balance(coins=Decimal(0)), ProviderUnavailable("down"), Balance(coins=Decimal(50))),
    )
    funds.used_up("runninghub", T0)
    at = [T0 + timedelta(seconds=s) for s in (10, 30, 31, 60, 90)]
    answers = [await usable(funds, "runninghub", account, now) for now in at]
    assert answers == [False, False, False, False, True]
    assert account.reads == 3  # at 30, 60 and 90 s: one read per period, however many ask
    assert not funds.is_out("runninghub")
    assert await usable(funds, "aliyun", object(), T0) is True  # never refused


async def test_a_provider_that_cannot_say_its_balance_gets_one_trial_per_period() -> None:
    funds = Funds(recheck_s=30)
    funds.used_up("fake", T0)
    later = T0 + timedelta(seconds=30)
    assert [await usable(funds, "fake", object(), later) for _ in range(2)] == [True, False]
