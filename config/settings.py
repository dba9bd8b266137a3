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


class StorageSettings(_Section):
    backend: str = Field("local", description="An installed object-store backend: local, s3.")
    local: LocalStoreSettings = LocalStoreSettings()
    s3: S3StoreSettings = S3StoreSettings()

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
        2000, ge=1, le=100_000, description="Items per ingest transaction (fewer syncs when larger)."
    )


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

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, safe to print or log (no secrets are settings)."""
        return self.model_dump(mode="json")
