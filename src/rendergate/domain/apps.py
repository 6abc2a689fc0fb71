"""Apps: what a task's `type` names. An app binds our inputs to a provider's job, and may
list fallback routes: other providers tried in order when the first cannot take the task."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from rendergate.domain.errors import InvalidInput
from rendergate.domain.money import parse_amount
from rendergate.domain.params import ParamSpec, fill_params, parse_form
from rendergate.domain.values import MAX_DAYS, MAX_SECONDS

INPUT_ROLES = ("image", "reference")
Reference = Literal["required", "optional", "none"]  # whether the app takes a reference image
REFERENCE_KINDS: tuple[str, ...] = get_args(Reference)
AppKind = Literal["render", "upscale"]  # what the app does to its image, for a page's pickers
APP_KINDS: tuple[str, ...] = get_args(AppKind)
ROUTE_KEYS = frozenset({"provider", "bindings", "options"})
APP_KEYS = ROUTE_KEYS | {
    "title", "label", "description", "kind", "reference", "requires_reference", "seed", "params",
    "deadline_s", "retention_days", "angles", "fallbacks", "price", "price_per_second",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class NodeBinding:
    """Puts one of our inputs into one node field of a provider workflow."""

    source: str  # an input role ("image", "reference"), "angle", "seed" or "params.<key>"
    field: str
    node_id: str = ""  # the workflow node, for providers that have nodes (RunningHub, ComfyUI)


@dataclass(frozen=True, kw_only=True)
class Route:
    """One provider an app can run on, with what that provider needs to run it."""

    provider: str
    bindings: tuple[NodeBinding, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # provider-specific: webapp id, ...


def _duration(name: str, raw: Mapping[str, Any], key: str, unit: str, limit: int) -> float | None:
    """A duration of the app's table: over 0, and short enough to add to a date."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= limit:
        raise ValueError(f"app {name!r}: {key} must be a number of {unit} over 0, at most {limit}")
    return float(value)


@dataclass(frozen=True)
class Deadline:
    at: datetime
    own: str  # "" for the app's deadline, else what the client asked for

    def message(self, app: AppSpec) -> str:
        """Why a task past it failed."""
        if self.own:
            return f"canceled: {self.own} passed"
        return f"timed out after {app.deadline_s:g} s"


@dataclass(frozen=True, kw_only=True)
class AppSpec:
    name: str
    routes: tuple[Route, ...]  # every provider the app can run on, in the order they are tried
    title: str = ""
    label: str = ""  # the title in ASCII, for a page with no CJK font
    description: str = ""
    kind: AppKind = "render"
    reference: Reference = "optional"
    seed: bool = False  # whether the app uses a seed (declared here; the seed is wired apart)
    params: tuple[ParamSpec, ...] = ()  # its form; empty: the params its routes read, unchecked
    deadline_s: float = 1800.0
    retention_days: float | None = None  # None: RENDERGATE_RETENTION_DAYS applies
    angles: tuple[str, ...] = ()  # empty: any angle is accepted
    price: Decimal | None = None  # what a render is charged, in RENDERGATE_CURRENCY
    price_per_second: Decimal | None = None  # what its provider costs a second (Aliyun)

    def __post_init__(self) -> None:
        if not self.routes:
            raise ValueError(f"app {self.name!r} has no route: name a provider")
        _refuse_repeats(self.name, [route.provider for route in self.routes])

    # The first route's provider, bindings and options: what the app was written for, and
    # for an adapter (given `on(provider)`) its own route's.

    @property
    def requires_reference(self) -> bool:
        return self.reference == "required"

    @property
    def provider(self) -> str:
        return self.routes[0].provider

    @property
    def bindings(self) -> tuple[NodeBinding, ...]:
        return self.routes[0].bindings

    @property
    def options(self) -> Mapping[str, Any]:
        return self.routes[0].options

    def on(self, provider: str) -> AppSpec:
        """This app as one route sees it, for the adapter of `provider`: that route alone."""
        for route in self.routes:
            if route.provider == provider:
                return dataclasses.replace(self, routes=(route,))
        raise ValueError(f"app {self.name!r} has no route on provider {provider!r}")

    def deadline(self, created_at: datetime, own_s: float | None = None) -> Deadline:
        """When a task of this app created at `created_at` times out: after the app's
        deadline_s, or the client's own `own_s` if it gave a shorter one."""
        if own_s is not None and own_s < self.deadline_s:
            return Deadline(created_at + timedelta(seconds=own_s), f"its deadline_s of {own_s:g} s")
        return Deadline(created_at + timedelta(seconds=self.deadline_s), "")

    def check_deadline_s(self, own_s: float | None) -> None:
        if own_s is not None and not 0 < own_s <= self.deadline_s:
            raise InvalidInput(
                f"deadline_s must be over 0 s and at most {self.deadline_s:g} s, the deadline "
                f"of app {self.name!r}",
                field="deadline_s",
            )

    def after(self, provider: str) -> tuple[str, ...]:
        """The providers of the routes after `provider`'s, in order (none if it is not one)."""
        names = [route.provider for route in self.routes]
        return tuple(names[names.index(provider) + 1 :]) if provider in names else ()

    def check_request(self, *, angle: str, has_reference: bool) -> None:
        if self.requires_reference and not has_reference:
            raise InvalidInput(f"app {self.name!r} needs a reference image", field="reference")
        if self.reference == "none" and has_reference:
            raise InvalidInput(f"app {self.name!r} takes no reference image", field="reference")
        if self.angles and angle not in self.angles:
            raise InvalidInput(
                f"angle {angle!r} is not one of {', '.join(self.angles)} for app {self.name!r}",
                field="angle",
            )

    def checked_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` checked against the app's form, its defaults filled in (domain/params.py)."""
        return fill_params(self.params, params)


def parse_apps(document: Mapping[str, Any]) -> dict[str, AppSpec]:
    """Builds apps from a parsed TOML document of the form `[apps.<name>]`."""
    apps: dict[str, AppSpec] = {}
    section = document.get("apps", {})
    if not isinstance(section, Mapping):
        raise ValueError("`apps` must be a table")
    for name, raw in section.items():
        apps[name] = _parse_app(str(name), raw)
    return apps


def _parse_app(name: str, raw: Any) -> AppSpec:
    if not isinstance(raw, Mapping):
        raise ValueError(f"app {name!r} must be a table")
    unknown = sorted(set(raw) - APP_KEYS)
    if unknown:  # a typo (`param` for `params`) would otherwise drop what it names unseen
        raise ValueError(
            f"app {name!r} has unknown keys {', '.join(unknown)} "
            f"(an app has {', '.join(sorted(APP_KEYS))})"
        )
    angles = raw.get("angles", [])
    if not isinstance(angles, list) or not all(isinstance(a, str) for a in angles):
        raise ValueError(f"app {name!r}: angles must be a list of strings")
    routes = _parse_routes(name, raw)
    form = parse_form(name, raw.get("params", {}))
    _refuse_unbound_params(name, form, routes)
    title = str(raw.get("title", ""))
    label, reference, seed = (
        _label(name, raw.get("label"), title),
        _reference(name, raw),
        _flag(name, raw, "seed"),
    )
    try:
        return AppSpec(
            name=name,
            routes=routes,
            title=title,
            label=label,
            description=str(raw.get("description", "")),
            kind=_one_of(name, raw, "kind", APP_KINDS, "render"),
            reference=reference,
            seed=seed,
            params=form,
            deadline_s=_duration(name, raw, "deadline_s", "seconds", MAX_SECONDS) or 1800.0,
            retention_days=_duration(name, raw, "retention_days", "days", MAX_DAYS),
            angles=tuple(angles),
            price=_amount(name, raw, "price"),
            price_per_second=_amount(name, raw, "price_per_second"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"app {name!r} is malformed: {exc}") from exc


def _amount(name: str, raw: Mapping[str, Any], key: str) -> Decimal | None:
    """Money in the apps file: a decimal string ("2.00"); a TOML float is refused."""
    if key not in raw:
        return None
    try:
        return parse_amount(raw[key], field=key)
    except InvalidInput as exc:
        raise ValueError(f"app {name!r}: {exc.message}") from None


def _flag(name: str, raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"app {name!r}: {key} must be true or false")
    return value


def _reference(name: str, raw: Mapping[str, Any]) -> Reference:
    """`reference`, or the older `requires_reference = true` (apps files still use it)."""
    legacy = _flag(name, raw, "requires_reference")
    if "reference" not in raw:
        return "required" if legacy else "optional"
    if "requires_reference" in raw:
        raise ValueError(
            f"app {name!r} sets both reference and requires_reference (its older spelling): "
            "keep reference"
        )
    return _one_of(name, raw, "reference", REFERENCE_KINDS, "optional")  # type: ignore[no-any-return]


def _one_of(
    name: str, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str
) -> Any:
    """The app's `key`, one of `allowed` (`default` when it is not set)."""
    value = raw.get(key, default)
    if value not in allowed:
        raise ValueError(
            f"app {name!r}: {key} must be one of {', '.join(map(repr, allowed))}, not {value!r}"
        )
    return value


def _label(name: str, label: Any, title: str) -> str:
    """The app's ASCII title: its `label`; else its title when that is ASCII; else its name."""
    if label is None:
        return title if title and title.isascii() else name
    if not isinstance(label, str) or not label.isascii() or not label.isprintable() or not label:
        raise ValueError(
            f"app {name!r}: label must be printable ASCII text (it stands in for the title "
            "where no CJK font is)"
        )
    return label


def _refuse_unbound_params(
    name: str, form: tuple[ParamSpec, ...], routes: tuple[Route, ...]
) -> None:
    """In an app that declares its params, each `params.<key>` binding names one of them."""
    if not form:
        return
    declared = [spec.name for spec in form]
    for route in routes:
        for binding in route.bindings:
            key = binding.source.removeprefix("params.")
            if binding.source.startswith("params.") and key not in declared:
                raise ValueError(
                    f"app {name!r}: a binding reads params.{key}, which its params do not "
                    f"declare; its params: {', '.join(declared)}"
                )


def _parse_routes(name: str, raw: Mapping[str, Any]) -> tuple[Route, ...]:
    """The app's own route (its top-level provider, bindings and options), then each of
    its `[[apps.<name>.fallbacks]]`."""
    fallbacks = raw.get("fallbacks", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, Mapping) for f in fallbacks):
        raise ValueError(f"app {name!r}: fallbacks must be tables ([[apps.{name}.fallbacks]])")
    for number, fallback in enumerate(fallbacks, start=1):
        unknown = sorted(set(fallback) - ROUTE_KEYS)
        if unknown:
            raise ValueError(
                f"app {name!r}: fallback {number} has unknown keys {', '.join(unknown)} "
                f"(a fallback has {', '.join(sorted(ROUTE_KEYS))})"
            )
    try:
        routes = tuple(_parse_route(route) for route in (raw, *fallbacks))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"app {name!r} is malformed: {exc}") from exc
    _refuse_repeats(name, [route.provider for route in routes])
    return routes


def _parse_route(raw: Mapping[str, Any]) -> Route:
    return Route(
        provider=str(raw["provider"]),
        bindings=tuple(
            NodeBinding(
                source=str(b["source"]), node_id=str(b.get("node_id", "")), field=str(b["field"])
            )
            for b in raw.get("bindings", ())
        ),
        options=dict(raw.get("options", {})),
    )


def _refuse_repeats(app: str, providers: list[str]) -> None:
    """A provider twice in one app would make its second route unreachable: refuse it."""
    twice = sorted({p for p in providers if providers.count(p) > 1})
    if twice:
        raise ValueError(
            f"app {app!r} names provider {', '.join(map(repr, twice))} more than once; "
            "each provider may appear only once among an app's routes"
        )
