"""Apps: what a task's `type` names. An app binds our inputs to one provider's job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rendergate.domain.errors import InvalidInput

INPUT_ROLES = ("image", "reference")


@dataclass(frozen=True, kw_only=True)
class NodeBinding:
    """Puts one of our inputs into one node field of a provider workflow."""

    source: str  # an input role ("image", "reference"), "angle" or "params.<key>"
    node_id: str
    field: str


@dataclass(frozen=True, kw_only=True)
class AppSpec:
    name: str
    provider: str
    title: str = ""
    description: str = ""
    requires_reference: bool = False
    deadline_s: float = 1800.0
    angles: tuple[str, ...] = ()  # empty: any angle is accepted
    bindings: tuple[NodeBinding, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # provider-specific: webapp id, ...

    def check_request(self, *, angle: str, has_reference: bool) -> None:
        if self.requires_reference and not has_reference:
            raise InvalidInput(f"app {self.name!r} needs a reference image", field="reference")
        if self.angles and angle not in self.angles:
            raise InvalidInput(
                f"angle {angle!r} is not one of {', '.join(self.angles)} for app {self.name!r}",
                field="angle",
            )


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
    if not isinstance(raw.get("requires_reference", False), bool):
        raise ValueError(f"app {name!r}: requires_reference must be true or false")
    angles = raw.get("angles", [])
    if not isinstance(angles, list) or not all(isinstance(a, str) for a in angles):
        raise ValueError(f"app {name!r}: angles must be a list of strings")
    try:
        bindings = tuple(
            NodeBinding(source=str(b["source"]), node_id=str(b["node_id"]), field=str(b["field"]))
            for b in raw.get("bindings", ())
        )
        return AppSpec(
            name=name,
            provider=str(raw["provider"]),
            title=str(raw.get("title", "")),
            description=str(raw.get("description", "")),
            requires_reference=raw.get("requires_reference", False),
            deadline_s=float(raw.get("deadline_s", 1800.0)),
            angles=tuple(angles),
            bindings=bindings,
            options=dict(raw.get("options", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"app {name!r} is malformed: {exc}") from exc
