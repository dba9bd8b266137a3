"""Holds and retention enforced at the bucket (moto's S3 server over HTTP), not only
in our code: a held or unexpired object survives a direct delete of its version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.disposition import DispositionService
from archiver.errors import RetentionError
from archiver.holds import HoldService, Scope
from archiver.records import record_key
from archiver.retention_service import RetentionService
from archiver.setup import initialise
from config.settings import RetentionPolicySettings, RetentionSettings
from storage.objects.base import normalise_retain_until
from tests.retention.helpers import record_ids
from tests.support.items import make_item
from tests.support.s3 import s3_settings


def open_s3_archive(endpoint: str, tmp_path: Path, period: str, ago: float = 0) -> Archive:
    settings = s3_settings(endpoint, tmp_path / "archive")
    settings.retention = RetentionSettings(default_period=period)
    initialise(settings)
    # moto enforces locks by the real clock, so the archive's clock is the real time too.
    clock = FixedClock(datetime.now(UTC) - timedelta(seconds=ago))
    return Archive.open(settings, clock=clock, actor="test:officer")


def direct_version_delete(archive: Archive, key: str) -> None:
    """What a rogue administrator would try: delete the object's version by id."""
    s3 = archive.settings.storage.s3
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region)
    versions = client.list_object_versions(Bucket=s3.bucket, Prefix=key)["Versions"]
    client.delete_object(Bucket=s3.bucket, Key=key, VersionId=versions[0]["VersionId"],
                         BypassGovernanceRetention=True)


def test_a_held_object_survives_disposition_and_a_direct_delete(moto_endpoint: str, tmp_path: Path) -> None:
    # Expired at once (S3 rounds retain-until up to the second, hence the 5 s in the past):
    # only the legal hold protects.
    archive = open_s3_archive(moto_endpoint, tmp_path, "0d", ago=5)
    archive.ingest([make_item("1", "acme merger"), make_item("2", "lunch menu")])
    assert HoldService(archive).create("acme", Scope("merger"), "inquiry").records == 1
    result = DispositionService(archive).dispose()
    assert [r["native_id"] for r in result.plan.records] == ["2"]
    gone_id = result.plan.records[0]["record_id"]
    assert not archive.store.exists(record_key(gone_id))
    held_key = next(k for k in archive.store.keys("records/"))
    assert archive.store.lock_state(held_key).legal_hold
    with pytest.raises(RetentionError):
        archive.store.delete(held_key)
    with pytest.raises(ClientError, match="AccessDenied"):
        direct_version_delete(archive, held_key)
    assert archive.store.get(held_key)
    archive.checkpoint()
    assert archive.verify().ok
    archive.close()


def test_an_unexpired_object_is_refused_by_our_guard_and_by_the_bucket(
    moto_endpoint: str, tmp_path: Path
) -> None:
    archive = open_s3_archive(moto_endpoint, tmp_path, "1d")
    archive.ingest([make_item("1", "kept a day")])
    key = next(archive.store.keys("records/"))
    assert archive.store.lock_state(key).mode == "COMPLIANCE"
    with pytest.raises(RetentionError):
        archive.store.delete(key)
    with pytest.raises(ClientError, match="AccessDenied"):
        direct_version_delete(archive, key)
    assert DispositionService(archive).plan().records == []
    assert archive.store.get(key)
    archive.close()


def test_a_capture_in_an_active_matters_scope_is_held_at_the_bucket_at_ingest(
    moto_endpoint: str, tmp_path: Path
) -> None:
    # Expired at once, so only the legal hold can protect (see the first test).
    archive = open_s3_archive(moto_endpoint, tmp_path, "0d", ago=5)
    HoldService(archive).create("acme", Scope("merger"), "inquiry")
    archive.ingest([make_item("1", "acme merger"), make_item("2", "lunch menu")])
    assert archive.search.lag() == 2  # not indexed: held at ingest
    assert HoldService(archive).show("acme")["records"] == 1
    held_key, free_key = (record_key(record_ids(archive, native_id=n)[0]) for n in "12")
    assert archive.store.lock_state(held_key).legal_hold
    with pytest.raises(ClientError, match="AccessDenied"):
        direct_version_delete(archive, held_key)
    assert archive.store.get(held_key)
    direct_version_delete(archive, free_key)  # the control: nothing else protects it
    assert not archive.store.exists(free_key)
    archive.close()


def bucket_lock(archive: Archive, key: str) -> tuple[str | None, datetime | None]:
    """The lock as the bucket reports it to a plain boto3 client (not through our store)."""
    s3 = archive.settings.storage.s3
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region)
    head = client.head_object(Bucket=s3.bucket, Key=key)
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


def test_retention_apply_extends_locks_at_the_bucket_and_never_shortens_them(
    moto_endpoint: str, tmp_path: Path
) -> None:
    archive = open_s3_archive(moto_endpoint, tmp_path, "1d")
    archive.ingest([make_item("1", "kept a day, then a month")])
    key = record_key(record_ids(archive)[0])
    month = normalise_retain_until(archive.clock.now() + timedelta(days=30))
    assert bucket_lock(archive, key) == ("COMPLIANCE", month - timedelta(days=29))
    policies = [RetentionPolicySettings(name="all-30d", period="30d")]
    longer = Archive.open(
        archive.settings.model_copy(
            update={"retention": RetentionSettings(default_period="1d", policies=policies)}
        ),
        clock=archive.clock,
    )
    result = RetentionService(longer).apply()
    assert (result.checked, result.extended) == (1, 1)
    assert bucket_lock(archive, key) == ("COMPLIANCE", month)
    assert RetentionService(longer).explain(record_ids(archive)[0])["governing_policy"] == "all-30d"
    longer.close()
    shorter = RetentionService(archive).apply()  # the one-day rules again
    assert (shorter.extended, shorter.kept_longer) == (0, 1)
    assert bucket_lock(archive, key) == ("COMPLIANCE", month)
    with pytest.raises(ClientError, match="AccessDenied"):
        direct_version_delete(archive, key)
    archive.close()
