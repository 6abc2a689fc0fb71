"""An app's form: the params it takes, each with a type, a range or choices, a default, a
label and a description, declared once in the apps file (`[apps.<name>.params.<key>]`).
The server checks a create against it, fills in its defaults, and serves it on GET /apps so
that a page or an SDK builds its form from it."""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from rendergate.domain.errors import InvalidInput

ParamType = Literal["number", "integer", "boolean", "string", "choice"]
PARAM_TYPES: tuple[str, ...] = get_args(ParamType)
PARAM_KEYS = (
    "type", "min", "max", "step", "choices", "choice_labels", "default", "label", "description",
    "advanced",
)  # fmt: skip
Scalar = bool | int | float | str


def _is_number(value: Any) -> bool:
    """An int or a finite float: bool is not a number, though Python says it is an int."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _same(choice: str | int | float, value: Any) -> bool:
    """Whether `value` is that choice: 2 and 2.0 are, "2" and True are not."""
    if _is_number(choice):
        return _is_number(value) and choice == value
    return isinstance(value, str) and choice == value


def _show(value: Any) -> str:
    """A bound or a choice as the apps file would spell it: 4, 0.5, 'dusk'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One param of an app's form. `default` None: none (TOML has no null); a param without
    a default is left out of a task that does not give it, so its provider's own value holds."""

    name: str
    type: ParamType
    min: int | float | None = None  # number and integer only; inclusive
    max: int | float | None = None
    step: int | float | None = None  # number and integer only: a slider's step (not checked)
    choices: tuple[str | int | float, ...] = ()  # choice only
    choice_labels: tuple[str, ...] = ()  # choice only: each choice's name on a form, in order
    default: Scalar | None = None
    label: str = ""
    description: str = ""
    advanced: bool = False  # a form shows it folded away, under "Advanced"

    def allowed(self) -> str:
        """What a value must be, for a message: "a number from 1 to 4", "one of 'a', 'b'"."""
        if self.type == "boolean":
            return "true or false"
        if self.type == "string":
            return "text"
        if self.type == "choice":
            return f"one of {', '.join(map(_show, self.choices))}"
        kind = "a number" if self.type == "number" else "an integer"
        if self.min is not None and self.max is not None:
            return f"{kind} from {_show(self.min)} to {_show(self.max)}"
        if self.min is not None:
            return f"{kind} of at least {_show(self.min)}"
        if self.max is not None:
            return f"{kind} of at most {_show(self.max)}"
        return kind

    def check(self, value: Any) -> Scalar:
        """The value as a task stores it (a whole float given for an integer becomes an int);
        InvalidInput naming the param and what it takes when the value does not fit."""
        fits = self._fits(value)
        if fits is None:
            raise InvalidInput(
                f"params.{self.name} must be {self.allowed()}, not {reprlib.repr(value)}",
                field=f"params.{self.name}",
            )
        return fits

    def _fits(self, value: Any) -> Scalar | None:
        if self.type == "boolean":
            return value if isinstance(value, bool) else None
        if self.type == "string":
            return value if isinstance(value, str) else None
        if self.type == "choice":
            same = [c for c in self.choices if _same(c, value)]
            return same[0] if same else None
        if not _is_number(value):
            return None
        if self.type == "integer":
            if isinstance(value, float) and not value.is_integer():
                return None
            value = int(value)
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            return None
        return value  # type: ignore[no-any-return]


def fill_params(form: tuple[ParamSpec, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` with each declared param checked and each declared default filled in, so a
    task records what it ran with; keys the form does not declare pass through unchanged
    (which of them an app takes is the caller's question: services/routing.py)."""
    params = dict(given)
    for spec in form:
        if spec.name in params:
            params[spec.name] = spec.check(params[spec.name])
        elif spec.default is not None:
            params[spec.name] = spec.default
    return params


def parse_form(app: str, raw: Any) -> tuple[ParamSpec, ...]:
    """An app's `params` table as its form, in declaration order; ValueError naming the app
    and the param for a declaration that could not be honoured."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"app {app!r}: params must be a table of params ([apps.{app}.params.X])")
    return tuple(_parse_param(app, str(name), spec) for name, spec in raw.items())


def _parse_param(app: str, name: str, raw: Any) -> ParamSpec:
    where = f"app {app!r}: param {name!r}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table ([apps.{app}.params.{name}])")
    unknown = sorted(set(raw) - set(PARAM_KEYS))
    if unknown:
        raise ValueError(
            f"{where} has unknown keys {', '.join(unknown)} (a param has {', '.join(PARAM_KEYS)})"
        )
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        raise ValueError(
            f"{where} has type {kind!r}; a param's type is one of {', '.join(PARAM_TYPES)}"
        )
    for text in ("label", "description"):
        if not isinstance(raw.get(text, ""), str):
            raise ValueError(f"{where}: {text} must be text")
    if not isinstance(raw.get("advanced", False), bool):
        raise ValueError(f"{where}: advanced must be true or false")
    choices = _choices(where, kind, raw.get("choices"))
    spec = ParamSpec(
        name=name,
        type=kind,
        min=_bound(where, kind, raw, "min"),
        max=_bound(where, kind, raw, "max"),
        step=_step(where, kind, raw),
        choices=choices,
        choice_labels=_choice_labels(where, choices, raw.get("choice_labels")),
        label=raw.get("label", "") or name,
        description=raw.get("description", ""),
        advanced=raw.get("advanced", False),
    )
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise ValueError(f"{where} has min {_show(spec.min)} over its max {_show(spec.max)}")
    return _with_default(where, spec, raw.get("default"))


def _bound(where: str, kind: str, raw: Mapping[str, Any], key: str) -> int | float | None:
    value = raw.get(key)
    if value is None:
        return None
    if kind not in ("number", "integer"):
        raise ValueError(f"{where}: {key} applies to number and integer params, not {kind}")
    if not _is_number(value) or (kind == "integer" and not isinstance(value, int)):
        raise ValueError(
            f"{where}: {key} must be {'an integer' if kind == 'integer' else 'a number'}"
        )
    return value  # type: ignore[no-any-return]


def _step(where: str, kind: str, raw: Mapping[str, Any]) -> int | float | None:
    """A slider's step: over 0, of the param's own kind (an integer's is an integer)."""
    step = _bound(where, kind, raw, "step")
    if step is not None and step <= 0:
        raise ValueError(f"{where}: step must be over 0, not {_show(step)}")
    return step


def _choices(where: str, kind: str, value: Any) -> tuple[str | int | float, ...]:
    if kind != "choice":
        if value is not None:
            raise ValueError(f"{where}: choices apply to choice params, not {kind}")
        return ()
    if value is None or value == []:
        raise ValueError(f'{where} is a choice but has no choices (choices = ["a", "b"])')
    if not isinstance(value, list) or not all(isinstance(c, str) or _is_number(c) for c in value):
        raise ValueError(f"{where}: choices must be a list of strings or numbers")
    if len(set(map(_show, value))) < len(value):
        raise ValueError(f"{where} lists a choice twice")
    return tuple(value)


def _choice_labels(where: str, choices: tuple[object, ...], value: Any) -> tuple[str, ...]:
    """Each choice's name on a form, in the choices' order; none: the choices themselves."""
    if value is None:
        return ()
    if not choices:
        raise ValueError(f"{where}: choice_labels apply to choice params only")
    if not isinstance(value, list) or not all(isinstance(label, str) and label for label in value):
        raise ValueError(f"{where}: choice_labels must be a list of text, one per choice")
    if len(value) != len(choices):
        raise ValueError(
            f"{where} has {len(value)} choice_labels for {len(choices)} choices: "
            "give one per choice"
        )
    return tuple(value)


def _with_default(where: str, spec: ParamSpec, default: Any) -> ParamSpec:
    """The spec with its default, which must be a value the param itself takes."""
    if default is None:
        return spec
    try:
        checked = spec.check(default)
    except InvalidInput as exc:
        raise ValueError(f"{where} has a default it does not take: {exc.message}") from exc
    _on_the_steps(where, spec, checked)
    return dataclasses.replace(spec, default=checked)


def _on_the_steps(where: str, spec: ParamSpec, default: Any) -> None:
    """A slider counts its steps from its min: a default between two of them would show
    (and be sent) as the nearest one instead, so it is refused at start."""
    if spec.step is None or not _is_number(default):
        return
    base = spec.min if spec.min is not None else 0
    if (Decimal(str(default)) - Decimal(str(base))) % Decimal(str(spec.step)) != 0:
        raise ValueError(
            f"{where} has default {_show(default)} between its slider's steps (every "
            f"{_show(spec.step)} from {_show(base)}): a page would show and send another value"
        )
