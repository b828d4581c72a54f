"""Rewind's one settings object: environment variables (``REWIND_*``) over an optional ``rewind.toml``.

The names here are a public interface documented in README.md; keep them stable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import ConfigurationError, RewindError
from core.retention import parse_duration
from core.scheduling import slots

Cloud = Literal["global", "usgov", "usgovdod", "china"]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$")


def config_file_path() -> Path:
    """``REWIND_CONFIG`` names the TOML file; by default ``rewind.toml`` in the working directory."""
    return Path(os.environ.get("REWIND_CONFIG", "rewind.toml"))


class RewindSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REWIND_", extra="ignore", validate_default=True)

    data_dir: Path = Path(".rewind")
    database_url: str | None = None
    store_url: str | None = None
    s3_endpoint_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_certificate: Path | None = None
    cloud: Cloud = "global"
    graph_url: str | None = Field(default=None, description="Graph root without version")
    authority_host: str | None = Field(default=None, description="login host; authority = host/tenant")
    # Client-side encryption of the snapshot repository: a passphrase (scrypt-wrapped key) or a raw key.
    repository_passphrase: SecretStr | None = None
    repository_key: SecretStr | None = None  # base64 of 32 bytes
    # S3 Object Lock on everything a backup writes; "none" turns it off.
    s3_lock_mode: Literal["none", "governance", "compliance"] = "none"
    s3_lock_days: int = Field(default=30, ge=1, le=36500)
    # Restores may use a separate, write-capable app registration; backups stay read-only.
    restore_client_id: str | None = None
    restore_client_secret: SecretStr | None = None
    restore_client_certificate: Path | None = None
    # Who may approve restores: chat user ids, emails or Entra object ids, and/or an Entra group whose
    # transitive members may approve. With neither set, any second person may approve.
    approvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    approver_group: str | None = None
    restore_request_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)  # a request expires after this
    # Plans touching privileged roles or Conditional Access need this many distinct approvers.
    privileged_approvals: int = Field(default=2, ge=1, le=5)
    # Accounts no restore may take out of a Conditional Access policy's exclusions (UPNs or object ids).
    break_glass_accounts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The schedule (rewind scheduler / serve): incrementals every N minutes, a full daily at a local time.
    backup_interval_minutes: int = 15
    full_backup_time: str = "02:00"
    timezone: str = "UTC"
    # Retention applied by the scheduled daily prune; keeping everything (no policy) turns the prune off.
    prune_keep_within: str | None = "30d"
    prune_keep_daily: int = Field(default=30, ge=0)
    prune_keep_monthly: int = Field(default=12, ge=0)
    # rewind serve: where the HTTP listener binds (Slack's request URL points here), and Slack's Web API root
    # (a Slack-compatible gateway, or the mock server in tests).
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    slack_api_url: str = "https://slack.com/api/"
    # Slack's own variable names, without the REWIND_ prefix; secrets, so they never print.
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments, then the environment, then rewind.toml: the file holds defaults, env overrides.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file_path()))

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id_shape(cls, value: str | None) -> str | None:
        if value is None or _GUID.match(value) or _DOMAIN.match(value):
            return value
        raise ValueError("must be the tenant's GUID or one of its domains, e.g. contoso.onmicrosoft.com")

    @field_validator("client_id", "restore_client_id")
    @classmethod
    def _client_id_shape(cls, value: str | None) -> str | None:
        if value is None or _GUID.match(value):
            return value
        raise ValueError(
            "must be the application (client) id, a GUID like 00000000-0000-0000-0000-000000000000"
        )

    @field_validator("graph_url", "authority_host", "s3_endpoint_url", "slack_api_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be a URL starting with https:// (for example https://graph.microsoft.com)")
        return value.rstrip("/")

    @field_validator("approvers", "break_glass_accounts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # REWIND_APPROVERS=U01ABC,alice@contoso.com reads as a list; so does a TOML array.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approver_group")
    @classmethod
    def _group_id_shape(cls, value: str | None) -> str | None:
        if value is None or _GUID.match(value):
            return value
        raise ValueError(
            "must be the Entra group's object id, a GUID like 00000000-0000-0000-0000-000000000000"
        )

    @field_validator("backup_interval_minutes")
    @classmethod
    def _interval_shape(cls, value: int) -> int:
        return slots.check_interval(value)

    @field_validator("full_backup_time")
    @classmethod
    def _local_time_shape(cls, value: str) -> str:
        moment = slots.parse_local_time(value)
        return f"{moment.hour:02d}:{moment.minute:02d}"

    @field_validator("timezone")
    @classmethod
    def _timezone_shape(cls, value: str) -> str:
        slots.zone(value)
        return value

    @field_validator("prune_keep_within")
    @classmethod
    def _duration_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip() or value.strip().lower() == "none":
            return None
        try:
            parse_duration(value)
        except RewindError:
            raise ValueError(
                f"must be a duration like 30d, 24h or 2w (or empty to keep none), not {value!r}"
            ) from None
        return value.strip()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'rewind.db').resolve()}"

    @property
    def effective_store_url(self) -> str:
        return self.store_url or (self.data_dir / "store").resolve().as_uri()


def ca_bundle_from_environment() -> str | None:
    """The CA bundle enterprises set for TLS inspection, by the standard variables; None = system default."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def load_settings(**overrides: object) -> RewindSettings:
    """Load settings, turning validation failures into one line that names the variable and the fix."""
    try:
        return RewindSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigurationError(f"REWIND_{field.upper()} {message}{more}") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {config_file_path()}: {exc}") from None
