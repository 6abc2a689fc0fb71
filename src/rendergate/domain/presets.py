"""Presets: a saved look (an app, its params, a reference image for colour tone) that a
create names instead of repeating them. A key's presets are its own; built-in ones come
from the apps file. An edit makes a new version and keeps the old, so a task records the
version it ran with and no later edit changes what it was."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from rendergate.domain.errors import InvalidInput
from rendergate.domain.money import parse_amount
from rendergate.domain.task import InputRef

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_DESCRIPTION = 500
MAX_LABEL = 64


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    version: int  # 1 for the first; each edit adds one
    app: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reference: InputRef | None = None
    description: str = ""
    label: str = ""  # its name on a page ("Dusk, photoreal"); "" shows the name
    owner: str = ""  # the API key's id; "" in open mode and for built-ins
    built_in: bool = False
    price: Decimal | None = None  # built-in ones only: what a render with it is charged
    created_at: datetime


def check_name(name: str) -> str:
    """A preset's name: lower-case letters, digits, `_` and `-`, 1 to 64, so it reads well
    in a URL path and a CLI argument."""
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "a preset name is 1 to 64 lower-case letters, digits, '_' or '-', starting with "
            "a letter or digit",
            field="name",
        )
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is over {MAX_DESCRIPTION} characters", field="description")
    return description


def check_label(label: str) -> str:
    """A preset's display name: at most 64 characters, on one line, since a page shows it
    as a card's title; any script is accepted, though ASCII reads on every system."""
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"label is over {MAX_LABEL} characters", field="label")
    for at, char in enumerate(label):
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidInput(
                f"label has a control character {char!r} at position {at}: "
                "a label is one line of text",
                field="label",
            )
    return label


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What a create runs with once its preset is applied."""

    app: str
    params: Mapping[str, Any]
    reference: InputRef | None  # the preset's, when the request gave none


def apply(
    preset: Preset, *, app: str | None, params: Mapping[str, Any], has_reference: bool
) -> Applied:
    """The request's own app, params and reference win over the preset's; params merge
    key by key over the preset's."""
    chosen = app or preset.app
    own = preset.params if chosen == preset.app else {}  # another app's params do not fit
    return Applied(
        app=chosen,
        params={**own, **params},
        reference=None if has_reference else preset.reference,
    )


@dataclass(frozen=True)
class BuiltinPresets:
    """The apps files' presets, with their reference images read at start."""

    presets: Mapping[str, Preset] = field(default_factory=dict)
    references: Mapping[str, bytes] = field(default_factory=dict)  # by reference key


PRESET_KEYS = frozenset({"type", "params", "reference", "description", "label", "price"})


@dataclass(frozen=True, kw_only=True)
class PresetDeclaration:
    """A `[presets.<name>]` table of an apps file; `reference` a path beside the file."""

    name: str
    app: str
    params: Mapping[str, Any]
    reference: str
    description: str
    label: str = ""
    price: Decimal | None = None  # a render with it is charged this, over the app's price


def parse_presets(document: Mapping[str, Any]) -> list[PresetDeclaration]:
    """The `[presets.<name>]` tables of an apps file, checked for shape; the apps and the
    reference files are checked by whoever reads them."""
    section = document.get("presets", {})
    if not isinstance(section, Mapping):
        raise ValueError("`presets` must be a table")
    declared = []
    for name, raw in section.items():
        where = f"preset {name!r}"
        if not isinstance(raw, Mapping) or not NAME.fullmatch(str(name)):
            raise ValueError(f"{where} must be a table named with a-z, 0-9, '_' or '-'")
        if unknown := sorted(set(raw) - PRESET_KEYS):
            raise ValueError(f"{where} has unknown keys {', '.join(unknown)}")
        if not isinstance(raw.get("type"), str) or not isinstance(raw.get("params", {}), Mapping):
            raise ValueError(f"{where} needs `type`, an app's name, and `params` as a table")
        declared.append(
            PresetDeclaration(
                name=str(name),
                app=raw["type"],
                params=dict(raw.get("params", {})),
                reference=str(raw.get("reference", "")),
                description=str(raw.get("description", "")),
                label=_label(where, raw),
                price=_price(where, raw),
            )
        )
    return declared


def _label(where: str, raw: Mapping[str, Any]) -> str:
    label = raw.get("label", "")
    if not isinstance(label, str):
        raise ValueError(f"{where}: label must be text")
    try:
        return check_label(label)
    except InvalidInput as exc:
        raise ValueError(f"{where}: {exc.message}") from None


def _price(where: str, raw: Mapping[str, Any]) -> Decimal | None:
    if "price" not in raw:
        return None
    try:
        return parse_amount(raw["price"], field="price")
    except InvalidInput as exc:
        raise ValueError(f"{where}: {exc.message}") from None
