"""The settings schema: every option, its default and its validation.

Defaults are the embedded setup (SQLite catalogue, local object store, Whoosh
index) under one archive directory, so an empty config file is a working one.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from config.period import Period

STORAGE_ENTRY_POINTS = "archiver.storage"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchiveSettings(_Section):
    dir: Path = Field(Path("archive"), description="Where the embedded archive lives.")
    organisation: str = Field(
        "Example Organisation", description="Named in evidence packs as Source-Organization."
    )


class CatalogueSettings(_Section):
    url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file catalogue.sqlite3 in archive.dir."
    )


class LocalStoreSettings(_Section):
    path: Path | None = Field(None, description="Default: objects/ in archive.dir.")
    durability: Literal["file", "batch", "none"] = Field(
        "batch",
        description="fsync each file, flush once per ingest batch, or leave it to the OS.",
    )


class S3StoreSettings(_Section):
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = Field(None, description="For S3-compatible stores and tests.")
    region: str = "us-east-1"
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    create_bucket: bool = Field(False, description="Create a versioned Object Lock bucket.")
    allow_without_object_lock: bool = Field(
        False, description="Start on a bucket without Object Lock (not WORM: tests only)."
    )
    connect_timeout: float = 5.0
    max_attempts: int = 3


def duration_seconds(value: Any) -> Any:
    """A duration as seconds: a number, or text such as '90s', '15m', '4h', '1d'
    (here 'm' is minutes: retention periods, where 'm' is months, are not durations)."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    factor = units.get(text[-1:], None)
    number = text[:-1] if factor else text
    try:
        seconds = float(number.strip()) * (factor or 1)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a duration; use seconds or a number with s, m, h or d "
            "(e.g. '90s', '15m', '4h', '1d')"
        ) from None
    if seconds < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return seconds


class SpoolSettings(_Section):
    enabled: bool | None = Field(
        None, description="Spool captures while the store is unreachable; default: on for s3."
    )
    path: Path | None = Field(
        None, description="Default: spool/ in archive.dir (a relative path is under archive.dir)."
    )
    retry_interval: float = Field(
        30.0, ge=0, description="After an outage, write straight to the spool this long."
    )

    _durations = field_validator("retry_interval", mode="before")(duration_seconds)


class StorageSettings(_Section):
    backend: str = Field("local", description="An installed object-store backend: local, s3.")
    local: LocalStoreSettings = LocalStoreSettings()
    s3: S3StoreSettings = S3StoreSettings()
    spool: SpoolSettings = SpoolSettings()

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        installed = sorted(ep.name for ep in entry_points(group=STORAGE_ENTRY_POINTS))
        if name not in installed:
            raise ValueError(f"unknown backend {name!r} (installed: {', '.join(installed)})")
        return name

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError("storage.s3.bucket is required when storage.backend = 's3'")
        return self


class RetentionPolicySettings(_Section):
    """One retention rule: records it matches are kept at least `period`."""

    name: str = Field(description="Named in `archiver records show` and disposition reports.")
    period: str = Field(description="How long: '3y', '6y', '18m', '90d'.")
    counted_from: Literal["captured", "created"] = Field(
        "captured", description="From capture, or from the post's own creation time."
    )
    platforms: list[str] = Field(default_factory=list, description="Empty: every platform.")
    accounts: list[str] = Field(default_factory=list, description="Empty: every account.")
    kinds: list[str] = Field(default_factory=list, description="Empty: every kind.")

    @field_validator("period")
    @classmethod
    def _valid_period(cls, text: str) -> str:
        Period.parse(text)
        return text


class RetentionSettings(_Section):
    default_period: str = Field(
        "6y", description="Kept at least this long from capture (FINRA 4511 default: 6 years)."
    )
    policies: list[RetentionPolicySettings] = Field(
        default_factory=list, description="More rules; the longest applicable period wins."
    )

    @field_validator("default_period")
    @classmethod
    def _valid_period(cls, text: str) -> str:
        Period.parse(text)
        return text

    @model_validator(mode="after")
    def _unique_names(self) -> RetentionSettings:
        names = [policy.name for policy in self.policies]
        duplicates = sorted({name for name in names if names.count(name) > 1 or name == "default"})
        if duplicates:
            raise ValueError(f"policy names must be unique and not 'default': {duplicates}")
        return self

    @property
    def default(self) -> Period:
        return Period.parse(self.default_period)


class SigningSettings(_Section):
    key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM); default keys/signing-key.pem in archive.dir."
    )


class SearchSettings(_Section):
    index_dir: Path | None = Field(None, description="Whoosh index; default index/ in archive.dir.")


class IngestSettings(_Section):
    batch_size: int = Field(
        5000, ge=1, le=100_000, description="Items per ingest transaction (larger: fewer syncs)."
    )


class DaemonSettings(_Section):
    """`archiver daemon`: schedules, failure handling, leases, shutdown, logs.
    Durations are seconds or text such as '90s', '15m', '4h', '1d'."""

    name: str | None = Field(
        None, description="Lease holder; default host:pid. Set it to reclaim leases on restart."
    )
    workers: int = Field(4, ge=1, le=64, description="Accounts captured at the same time.")
    capture_interval: float = Field(900.0, gt=0, description="Default capture schedule.")
    capture_jitter: float = Field(60.0, ge=0, description="Random delay added to each run.")
    capture_cron: str | None = Field(
        None, description="Crontab line (UTC) instead of capture_interval, e.g. '*/10 * * * *'."
    )
    reconcile_interval: float = Field(
        21600.0, ge=0, description="Deletion/edit sweep per account; 0 = never."
    )
    reconcile_jitter: float = Field(300.0, ge=0)
    ephemeral_max_interval: float = Field(
        14400.0, gt=0, description="Ephemeral content (stories) is captured at least this often."
    )
    ephemeral_lifetime: float = Field(
        86400.0, gt=0, description="No success within this long: a missed window in status."
    )
    checkpoint_interval: float = Field(300.0, gt=0, description="Sign a tree head if the log grew.")
    index_interval: float = Field(60.0, gt=0, description="Index catch-up.")
    spool_drain_interval: float = Field(30.0, gt=0, description="Push spooled objects.")
    maintenance_cron: str = Field(
        "30 3 * * *", description="Daily maintenance tasks (entry points archiver.maintenance)."
    )
    misfire_grace: float = Field(
        300.0, gt=0, description="A run this late still runs; later ones are skipped."
    )
    backoff_base: float = Field(60.0, gt=0, description="Wait after a first failure; doubles.")
    backoff_max: float = Field(3600.0, gt=0, description="Longest wait between retries.")
    breaker_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the circuit breaker."
    )
    breaker_cooldown: float = Field(
        21600.0, gt=0, description="An open breaker waits this long before one trial run."
    )
    lease_ttl: float = Field(
        120.0, gt=0, description="A capture lease lasts this long unless renewed (every third)."
    )
    shutdown_timeout: float = Field(
        30.0, gt=0, description="On SIGTERM, wait this long for runs to finish their batch."
    )
    log_file: Path | None = Field(None, description="JSON log lines; default: stderr.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _durations = field_validator(
        "capture_interval", "capture_jitter", "reconcile_interval", "reconcile_jitter",
        "ephemeral_max_interval", "ephemeral_lifetime", "checkpoint_interval",
        "index_interval", "spool_drain_interval", "misfire_grace", "backoff_base",
        "backoff_max", "breaker_cooldown", "lease_ttl", "shutdown_timeout", mode="before",
    )(duration_seconds)

    @field_validator("capture_cron", "maintenance_cron")
    @classmethod
    def _valid_cron(cls, text: str | None) -> str | None:
        if text is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(text, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a crontab line: {exc}") from None
        return text


class Settings(BaseSettings):
    """The whole configuration. Environment variables override the file:
    ARCHIVER_<SECTION>__<KEY>, e.g. ARCHIVER_STORAGE__BACKEND=s3."""

    model_config = SettingsConfigDict(
        env_prefix="ARCHIVER_", env_nested_delimiter="__", extra="forbid"
    )

    archive: ArchiveSettings = ArchiveSettings()
    catalogue: CatalogueSettings = CatalogueSettings()
    storage: StorageSettings = StorageSettings()
    retention: RetentionSettings = RetentionSettings()
    signing: SigningSettings = SigningSettings()
    search: SearchSettings = SearchSettings()
    ingest: IngestSettings = IngestSettings()
    daemon: DaemonSettings = DaemonSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (init kwargs carry the file's values).
        return (env_settings, init_settings)

    # Resolved locations: everything embedded defaults to a place under archive.dir.
    @property
    def archive_dir(self) -> Path:
        return self.archive.dir

    @property
    def catalogue_url(self) -> str:
        return self.catalogue.url or f"sqlite:///{self.archive.dir / 'catalogue.sqlite3'}"

    @property
    def objects_dir(self) -> Path:
        return self.storage.local.path or self.archive.dir / "objects"

    @property
    def key_file(self) -> Path:
        return self.signing.key_file or self.archive.dir / "keys" / "signing-key.pem"

    @property
    def index_dir(self) -> Path:
        return self.search.index_dir or self.archive.dir / "index"

    @property
    def spool_dir(self) -> Path:
        path = self.storage.spool.path
        return self.archive.dir / (path or "spool")  # an absolute path stays as it is

    @property
    def spool_enabled(self) -> bool:
        """storage.spool.enabled; unset means on for s3, off for local files."""
        if self.storage.spool.enabled is not None:
            return self.storage.spool.enabled
        return self.storage.backend == "s3"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, safe to print or log (no secrets are settings)."""
        return self.model_dump(mode="json")
