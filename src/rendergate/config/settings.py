"""Settings, read from RENDERGATE_* environment variables and an optional TOML file.

`Settings` holds rendergate's own; each provider adapter declares its own in a
`ProviderSettings` class beside its code (fields named after the provider, so names stay
flat and never collide), and `Settings.of` reads one from the same sources. No instance
lives at module level: the CLI and tests build one with `load_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rendergate.config.clients import ClientSettings
from rendergate.config.requests import RequestLimits
from rendergate.config.values import (
    CommaList,
    existing_file,
    is_loopback,
    lower,
    read_toml,
    url_passwords,
    user_data_dir,
    within_reach,
)
from rendergate.domain.errors import ConfigError


class SettingsSources(BaseSettings):
    """Where every settings class reads from: (highest first) the values passed in, the
    RENDERGATE_* environment, the TOML file, the defaults."""

    model_config = SettingsConfigDict(env_prefix="RENDERGATE_", extra="ignore")
    toml_file: ClassVar[Path | None] = None

    @field_validator("*", mode="after")
    @classmethod
    def _within_reach(cls, value: Any, info: ValidationInfo) -> Any:
        """Every number finite, and durations and sizes within their unit's limit."""
        return within_reach(value, info.field_name or "")

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for redaction."""
        return [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr) and value.get_secret_value()
        ]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file))
        return tuple(sources)


class ProviderSettings(SettingsSources):
    """An adapter's own settings. Each field starts with the provider's name
    (`runninghub_api_key` is RENDERGATE_RUNNINGHUB_API_KEY, and `runninghub_api_key` in
    the TOML file); the registry refuses a field that does not."""


P = TypeVar("P", bound=ProviderSettings)


class Settings(SettingsSources, ClientSettings, RequestLimits):
    # Where things live
    data_dir: Path = Field(
        default_factory=user_data_dir,
        description="SQLite database and stored images; unset: $XDG_DATA_HOME/rendergate, "
        "else ~/.local/share/rendergate, the same whichever directory a command runs in.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the task database; overrides the SQLite default."
    )
    dbos_database_url: str | None = Field(
        None, description="DBOS system database; defaults to beside the task database."
    )
    storage_url: str | None = Field(
        None,
        description="Where inputs and results live, shared by every process: s3://bucket/prefix "
        "(or gs://, az://, file://); credentials from the cloud's usual environment "
        "(AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...). Unset: <data dir>/blobs.",
    )
    result_links: Literal["proxy", "presigned"] = Field(
        "proxy",
        description="How GET /tasks/{id}/image serves a result: through rendergate (proxy), "
        "or as a redirect to a link the storage signs for 5 minutes (presigned; S3, GCS, Azure).",
    )
    public_url: str | None = Field(
        None,
        description="Base URL clients and providers reach us at (image links, provider "
        "callbacks). Unset: an answer's links use its request's base URL, a webhook's that of "
        "the request that created the task, and providers are polled.",
    )

    # Money
    currency: str = Field(
        "CNY",
        pattern=r"^[A-Z]{3}$",
        description="The currency of every price and cost (ISO 4217): apps' `price`, "
        "RENDERGATE_RUNNINGHUB_COIN_PRICE, budgets.",
    )

    # Serving
    host: str = Field("127.0.0.1", description="Address `rendergate serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `rendergate serve` listens on.")
    open: bool = Field(
        False,
        description="Open mode (`serve --open`, which `make run` uses): serve requests with no "
        "API key while no key has been created, on a loopback address only, refusing "
        "requests that came through a proxy. Off: every /tasks route needs a key.",
    )
    log_level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(lower)] = (
        Field("info", description="debug, info, warning or error.")
    )
    log_json: bool = Field(False, description="Log JSON lines instead of console text.")

    # Apps and providers
    apps_file: Annotated[Path | None, AfterValidator(existing_file)] = Field(
        None, description="Extra apps (TOML), added to the built-ins."
    )

    provider_modules: CommaList = Field(
        default_factory=list,
        description="More provider modules (comma-separated or a JSON list), each "
        "exporting PROVIDER, its registry entry; see docs/adding-a-provider.md.",
    )

    # Workers
    worker: bool = Field(True, description="Run the task worker inside `serve`.")
    executor_id: str | None = Field(
        None,
        description="This worker's id in the cluster; unset: a new one at each start (a "
        "worker of an earlier start is resumed by the reaper). Two live workers never share one.",
    )
    worker_dead_after_s: float = Field(
        30.0,
        ge=3,
        description="A worker silent this long (the database's clock) is declared dead and "
        "its tasks resumed by another; it beats every sixth of this, and stops by itself "
        "after half of it without a beat.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port a `rendergate worker` serves its Prometheus /metrics on (at the "
        "host setting's address); unset: none. `serve` has /metrics on its own port.",
    )
    worker_concurrency: int = Field(
        50,
        ge=1,
        description="Tasks of one provider one worker runs at once: its share of the "
        "provider's cap, so several workers split the load.",
    )

    # Fallback between providers
    circuit_failures: int = Field(
        3,
        ge=1,
        description="Failed calls in a row after which a provider's circuit opens: tasks with "
        "a later route skip it at once.",
    )
    circuit_open_s: float = Field(
        30.0,
        gt=0,
        description="How long an open circuit skips its provider before one task "
        "is let through to try it again.",
    )

    _known: frozenset[str] = PrivateAttr(default=frozenset())  # every settings class's fields
    _passed: dict[str, Any] = PrivateAttr(default_factory=dict)  # for the providers'
    _providers: dict[type[ProviderSettings], ProviderSettings] = PrivateAttr(default_factory=dict)

    def of(self, settings_class: type[P]) -> P:
        """A provider's settings, read from the same sources as these (once)."""
        found = self._providers.get(settings_class)
        if found is None:
            bound = type(settings_class.__name__, (settings_class,), {"toml_file": self.toml_file})
            fields = settings_class.model_fields
            found = bound(**{k: v for k, v in self._passed.items() if k in fields})
            self._providers[settings_class] = found
        return cast("P", found)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold (keys, and passwords inside URLs), with those of
        the providers' settings read so far (load_settings reads them all), for redaction."""
        found = super().secret_values()
        found += url_passwords([self.database_url, self.dbos_database_url])
        for provider in self._providers.values():
            found += provider.secret_values()
        return found

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def task_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rendergate.db').resolve()}"

    @property
    def is_single_process(self) -> bool:
        """SQLite: one rendergate process only (DBOS's rule too)."""
        return self.task_database_url.startswith("sqlite")

    @property
    def open_off_loopback(self) -> bool:
        """Open mode asked for on an address other machines may reach: refused at start."""
        return self.open and not is_loopback(self.host)

    @property
    def system_database_url(self) -> str:
        """DBOS's own tables: beside ours, in a separate SQLite file or the same PostgreSQL."""
        if self.dbos_database_url:
            return self.dbos_database_url
        url = self.task_database_url
        if url.startswith("sqlite"):
            return f"sqlite:///{(self.data_dir / 'dbos.sqlite').resolve()}"
        return url.replace("postgresql+psycopg://", "postgresql://", 1)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from (highest first) overrides, the environment, the TOML file, defaults;
    every provider's settings are read too, so a bad value fails here, at start."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")
    document = read_toml(config_file, what="the config file") if config_file else {}

    class _FromFile(Settings):
        toml_file: ClassVar[Path | None] = config_file

    own = Settings.model_fields
    settings = _FromFile(**{k: v for k, v in overrides.items() if k in own})
    settings._passed = {k: v for k, v in overrides.items() if k not in own}
    from rendergate.providers import registry  # here: the adapters import this module

    known = set(own)
    for entry in registry(settings).values():
        settings.of(entry.settings)
        known |= set(entry.settings.model_fields)
    given = set(overrides) | set(document)
    if unknown := sorted(given - known):
        raise ConfigError(f"unknown setting {', '.join(unknown)}: see docs/configuration.md")
    settings._known = frozenset(known)
    return settings


NOT_SETTINGS = ("RENDERGATE_API_KEY", "RENDERGATE_SERVER", "RENDERGATE_COMFYUI_HOME")
"""RENDERGATE_* variables that are not server settings: the clients' and scripts' own."""


def unknown_variables(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """RENDERGATE_* variables that name no setting (a typo would otherwise be lost)."""
    names = {f"RENDERGATE_{name.upper()}" for name in settings._known}
    return sorted(
        name
        for name in environ
        if name.startswith("RENDERGATE_")
        and name not in names
        and name not in NOT_SETTINGS
        and not name.startswith("RENDERGATE_TEST_")
    )
