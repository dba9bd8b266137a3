"""What our S3 store refuses on its own, because moto (and some S3-compatible
stores) would accept it: each test first shows moto accepting the operation
through plain boto3, then asserts that our store refuses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from archiver.errors import RetentionError, StorageError
from storage.objects.base import ObjectStore
from storage.objects.registry import open_object_store
from storage.objects.s3 import S3ObjectStore
from tests.support.s3 import closed_port, s3_settings, unique_bucket_name

OpenStore = Callable[..., ObjectStore]


def days_from_now(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    """A plain boto3 client on the same server, to act behind our store's back."""
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    client.close()


def bucket_of(store: ObjectStore) -> str:
    assert isinstance(store, S3ObjectStore)
    return store.bucket


def test_moto_accepts_shortening_compliance_retention_but_our_guard_refuses(
    open_s3_store: OpenStore, s3: Any
) -> None:
    store = open_s3_store()
    bucket = bucket_of(store)
    retain_until = days_from_now(2)
    store.put("records/a.json", b"a", retain_until=retain_until)
    store.put("records/b.json", b"b", retain_until=retain_until)

    # moto alone: real S3 would refuse this, moto shortens the lock.
    s3.put_object_retention(
        Bucket=bucket,
        Key="records/a.json",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": days_from_now(1)},
    )
    assert s3.head_object(Bucket=bucket, Key="records/a.json")["ObjectLockRetainUntilDate"] < (
        retain_until
    )

    with pytest.raises(RetentionError, match="cannot shorten"):
        store.extend_retention("records/b.json", days_from_now(1))
    assert store.lock_state("records/b.json").retain_until == retain_until


def test_moto_accepts_downgrading_compliance_to_governance_but_our_guard_refuses(
    open_s3_store: OpenStore, s3: Any
) -> None:
    compliance = open_s3_store()
    bucket = bucket_of(compliance)
    compliance.put("records/a.json", b"a", retain_until=days_from_now(1))
    compliance.put("records/b.json", b"b", retain_until=days_from_now(1))

    s3.put_object_retention(  # moto alone: accepted, the object is now bypassable
        Bucket=bucket,
        Key="records/a.json",
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_from_now(2)},
    )
    assert s3.head_object(Bucket=bucket, Key="records/a.json")["ObjectLockMode"] == "GOVERNANCE"

    governance = open_s3_store(bucket=bucket, lock_mode="GOVERNANCE")
    with pytest.raises(RetentionError, match="COMPLIANCE to GOVERNANCE"):
        governance.extend_retention("records/b.json", days_from_now(2))
    assert compliance.lock_state("records/b.json").mode == "COMPLIANCE"


def test_a_locked_version_survives_a_direct_versioned_delete(
    open_s3_store: OpenStore, s3: Any
) -> None:
    store = open_s3_store()
    bucket = bucket_of(store)
    store.put("records/a.json", b"locked", retain_until=days_from_now(1))
    version_id = s3.head_object(Bucket=bucket, Key="records/a.json")["VersionId"]

    with pytest.raises(ClientError) as refused:  # here moto does enforce the lock
        s3.delete_object(Bucket=bucket, Key="records/a.json", VersionId=version_id)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert store.get("records/a.json") == b"locked"


def test_a_plain_delete_only_adds_a_delete_marker(open_s3_store: OpenStore, s3: Any) -> None:
    store = open_s3_store()
    bucket = bucket_of(store)
    store.put("records/a.json", b"locked", retain_until=days_from_now(1))

    response = s3.delete_object(Bucket=bucket, Key="records/a.json")
    assert response["DeleteMarker"] is True
    listing = s3.list_object_versions(Bucket=bucket, Prefix="records/a.json")
    assert len(listing["Versions"]) == 1 and len(listing["DeleteMarkers"]) == 1
    version_id = listing["Versions"][0]["VersionId"]
    kept = s3.get_object(Bucket=bucket, Key="records/a.json", VersionId=version_id)
    assert kept["Body"].read() == b"locked"


def test_our_delete_removes_every_version_not_just_the_current_name(
    open_s3_store: OpenStore, s3: Any
) -> None:
    store = open_s3_store()
    bucket = bucket_of(store)
    store.put("records/a.json", b"unlocked")
    store.put("records/ab.json", b"neighbour")
    store.delete("records/a.json")
    listing = s3.list_object_versions(Bucket=bucket, Prefix="records/a.json")
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
    assert store.get("records/ab.json") == b"neighbour"


def test_delete_is_refused_while_an_older_version_is_locked(
    open_s3_store: OpenStore, s3: Any
) -> None:
    # Two writers racing past head_object leave two versions; the first is locked.
    store = open_s3_store()
    bucket = bucket_of(store)
    store.put("records/a.json", b"same", retain_until=days_from_now(1))
    s3.put_object(Bucket=bucket, Key="records/a.json", Body=b"same")  # unlocked, now current
    with pytest.raises(RetentionError, match="version"):
        store.delete("records/a.json")
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="records/a.json")["Versions"]) == 2


def test_a_write_once_race_loser_is_refused_by_if_none_match(
    open_s3_store: OpenStore, s3: Any
) -> None:
    store = open_s3_store()
    bucket = bucket_of(store)
    store.put("records/a.json", b"first")
    with pytest.raises(ClientError) as refused:  # what our put sends after its head_object
        s3.put_object(Bucket=bucket, Key="records/a.json", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"


def test_a_bucket_without_object_lock_is_refused_at_start(
    moto_endpoint: str, tmp_path: Path, s3: Any
) -> None:
    bucket = unique_bucket_name("plain")
    s3.create_bucket(Bucket=bucket)
    settings = s3_settings(moto_endpoint, tmp_path, bucket=bucket)
    with pytest.raises(StorageError, match="Object Lock is not enabled") as caught:
        open_object_store(settings)
    assert bucket in str(caught.value) and moto_endpoint in str(caught.value)


def test_allow_without_object_lock_starts_but_will_not_drop_a_retention(
    moto_endpoint: str, tmp_path: Path, s3: Any
) -> None:
    bucket = unique_bucket_name("plain")
    s3.create_bucket(Bucket=bucket)
    settings = s3_settings(moto_endpoint, tmp_path, bucket=bucket, allow_without_object_lock=True)
    store = open_object_store(settings)
    try:
        store.put("records/a.json", b"a")
        assert store.get("records/a.json") == b"a"
        with pytest.raises(StorageError, match="has no Object Lock"):
            store.put("records/b.json", b"b", retain_until=days_from_now(1))
        with pytest.raises(StorageError, match="has no Object Lock"):
            store.put("records/c.json", b"c", legal_hold=True)
        store.delete("records/a.json")
        assert not store.exists("records/a.json")
    finally:
        store.close()


def test_suspended_versioning_is_refused_at_start(
    open_s3_store: OpenStore, moto_endpoint: str, tmp_path: Path, s3: Any
) -> None:
    bucket = bucket_of(open_s3_store())
    # Real S3 refuses to suspend versioning on an Object Lock bucket; moto accepts.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(StorageError, match="versioning is Suspended"):
        open_object_store(s3_settings(moto_endpoint, tmp_path, bucket=bucket))


def test_a_missing_bucket_is_not_created_unless_asked(moto_endpoint: str, tmp_path: Path) -> None:
    bucket = unique_bucket_name("missing")
    settings = s3_settings(moto_endpoint, tmp_path, bucket=bucket, create_bucket=False)
    with pytest.raises(StorageError, match="create_bucket") as caught:
        open_object_store(settings)
    assert bucket in str(caught.value)


def test_an_unreachable_endpoint_fails_fast_naming_it(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-that-must-not-leak"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    settings = s3_settings(endpoint, tmp_path, connect_timeout=0.5, max_attempts=1)
    with pytest.raises(StorageError) as caught:
        open_object_store(settings)
    message = str(caught.value)
    assert endpoint in message and str(settings.storage.s3.bucket) in message
    assert "endpoint_url" in message  # says what to check
    assert secret not in message


def test_s3_errors_name_the_operation_key_and_aws_code(open_s3_store: OpenStore, s3: Any) -> None:
    store = open_s3_store()
    s3.delete_bucket(Bucket=bucket_of(store))  # the bucket goes away under the store
    with pytest.raises(StorageError) as caught:
        store.put("records/a.json", b"a")
    message = str(caught.value)
    assert "records/a.json" in message and "NoSuchBucket" in message


def test_a_prefix_keeps_the_store_inside_its_part_of_the_bucket(
    open_s3_store: OpenStore, s3: Any
) -> None:
    store = open_s3_store(prefix="tenant-a/")
    bucket = bucket_of(store)
    store.put("records/a.json", b"a")
    s3.put_object(Bucket=bucket, Key="elsewhere/b.json", Body=b"b")
    s3.put_object(Bucket=bucket, Key="tenant-a/folder/", Body=b"")  # a console 'folder'
    assert list(store.keys()) == ["records/a.json"]
    assert s3.get_object(Bucket=bucket, Key="tenant-a/records/a.json")["Body"].read() == b"a"


def test_a_checksum_is_stored_with_every_object(open_s3_store: OpenStore, s3: Any) -> None:
    store = open_s3_store()
    store.put("records/a.json", b"checked")
    head = s3.head_object(Bucket=bucket_of(store), Key="records/a.json", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256")
