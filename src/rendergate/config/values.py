"""The value types and checks the settings classes share (config/settings.py): lists given as
text, files that must exist, numbers within reach, TOML read with its mistakes named,
loopback addresses, the default data directory."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from rendergate.domain.errors import ConfigError
from rendergate.domain.values import MAX_DAYS, MAX_SECONDS

MAX_MB = 1024 * 1024
# The largest a setting may be, by the unit its name ends in: more is a typo, and past it a
# duration overflows the dates it is added to (RENDERGATE_RETENTION_DAYS=1e308 once stopped
# the start with a traceback) and a size the integers it becomes.
UNIT_LIMITS = {
    "_s": (MAX_SECONDS, "s (ten years)"),
    "_days": (MAX_DAYS, "days (a hundred years)"),
    "_mb": (MAX_MB, "MB (a terabyte)"),
}


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def existing_file(value: Path | None) -> Path | None:
    if value is not None and not value.is_file():
        raise ValueError(f"{value} does not exist or is not a file")
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list setting given as a JSON list or as comma-separated text."""


def within_reach(value: Any, name: str) -> Any:
    """A number setting as given, if finite and within the limit of its unit."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    for suffix, (limit, unit) in UNIT_LIMITS.items():
        if name.endswith(suffix) and value > limit:
            raise ValueError(f"must be at most {limit} {unit}")
    return value


def url_passwords(urls: list[str | None]) -> list[str]:
    """The passwords inside URLs (a database's, a server's), for redaction."""
    return [password for url in urls if url and (password := urlsplit(url).password)]


def user_data_dir() -> Path:
    """rendergate's folder in the user's data directory (XDG): one database for `make run`
    in a checkout and a `rendergate keys` run anywhere, whatever the current directory."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "rendergate"


def read_toml(path: Path, *, what: str) -> dict[str, Any]:
    """A TOML file's document; a syntax error is a ConfigError naming the file and line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only localhost is known to be this machine
        return False
