"""Money: a Decimal amount with its currency, never a float. What a render cost upstream
and what its customer was charged are Money; JSON carries the amount as a decimal string."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rendergate.domain.errors import InvalidInput

CURRENCY = re.compile(r"[A-Z]{3}")
MAX_PLACES = 6  # a thousandth of a fen, a millionth of a yuan: finer than any bill
MAX_AMOUNT = Decimal("1e12")


@dataclass(frozen=True, order=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise TypeError(f"a money amount is a finite Decimal, not {self.amount!r}")
        if not CURRENCY.fullmatch(self.currency):
            raise ValueError(f"a currency is three capital letters (ISO 4217): {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.text} {self.currency}"

    @property
    def text(self) -> str:
        """The amount as JSON carries it: a decimal string, never in exponent form, with at
        least two decimals ("2.00", "0.0015")."""
        exponent = self.amount.normalize().as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
        return format(self.amount.quantize(Decimal(1).scaleb(-places)), "f")


def zero(currency: str) -> Money:
    return Money(Decimal(0), currency)


def parse_amount(value: object, *, field: str) -> Decimal:
    """A non-negative amount written as a decimal string ("2.00") or an integer; a float is
    refused, since it cannot hold most cents exactly. InvalidInput names `field`."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput(
            f'{field} must be a decimal string such as "2.00", not {type(value).__name__}',
            field=field,
        )
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        said = f'{field} must be a decimal string such as "2.00"'
        raise InvalidInput(said, field=field) from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        raise InvalidInput(f"{field} must be from 0 up to a trillion", field=field)
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise InvalidInput(f"{field} has over {MAX_PLACES} decimal places", field=field)
    return amount


def check_currency(code: str) -> str:
    if not CURRENCY.fullmatch(code):
        raise InvalidInput(
            f"a currency is three capital letters (ISO 4217), not {code!r}", field="currency"
        )
    return code


def figure(value: object) -> Decimal | None:
    """A provider's money or count as it sends it (a string, a number, null) as a Decimal;
    None when absent or not a finite number. Through str(), so a JSON number becomes the
    decimal it was written as, not a float's."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
