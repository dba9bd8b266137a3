"""The S3 object store: a versioned bucket with Object Lock, through boto3.

S3 enforces WORM for locked versions, but test stores (moto) and some
S3-compatible ones accept shortening COMPLIANCE retention or downgrading its
mode, so a guard here refuses those before S3 is asked. Credentials come only
from boto3's standard chain (environment, shared files, instance role): never
from our config, never into our messages.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.loaders import Loader, create_loader

from archiver.errors import IntegrityError, RetentionError, StorageError
from storage.objects.base import (
    LockState,
    NewObject,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    checked_batch,
    normalise_retain_until,
    refuse_if_locked,
    refuse_shortening,
    utc_now,
)
from storage.objects.paths import key_problem, validate_key

log = logging.getLogger(__name__)

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_NO_BUCKET_CODES = {"404", "NoSuchBucket", "NotFound"}
_MODE_RANK = {None: 0, "GOVERNANCE": 1, "COMPLIANCE": 2}
PUT_THREADS = 8


class S3ObjectStore(ObjectStore):
    """Objects in `bucket` under `prefix`, each version locked as it is written."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        lock_mode: str = "COMPLIANCE",
        create_bucket: bool = False,
        allow_without_object_lock: bool = False,
        connect_timeout: float = 5.0,
        max_attempts: int = 3,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise StorageError(f"unknown lock mode {lock_mode!r}; use COMPLIANCE or GOVERNANCE")
        self.bucket = bucket
        self.prefix = _normalise_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.lock_mode = lock_mode
        self.create_bucket = create_bucket
        self.allow_without_object_lock = allow_without_object_lock
        self._clock = clock
        self._where = f"bucket {bucket!r} at {endpoint_url or f'AWS S3 ({region})'}"
        # Until check() has looked, assume Object Lock: a put then fails loudly
        # rather than silently writing an unlocked object.
        self._object_lock = True
        self._versioned = True
        self._executor: ThreadPoolExecutor | None = None
        config = Config(
            region_name=region,
            connect_timeout=connect_timeout,
            retries={"total_max_attempts": max(1, max_attempts), "mode": "standard"},
            max_pool_connections=PUT_THREADS + 2,
            # S3-compatible stores and moto are reached by path, not virtual host.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self._client = _new_session().client("s3", endpoint_url=endpoint_url, config=config)

    @classmethod
    def from_settings(cls, settings: Any) -> S3ObjectStore:
        """The store described by `settings.storage.s3`."""
        s3 = settings.storage.s3
        if not s3.bucket:
            raise StorageError("storage.s3.bucket is required for the s3 object store")
        return cls(
            s3.bucket,
            prefix=s3.prefix,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            lock_mode=s3.lock_mode,
            create_bucket=s3.create_bucket,
            allow_without_object_lock=s3.allow_without_object_lock,
            connect_timeout=s3.connect_timeout,
            max_attempts=s3.max_attempts,
        )

    # -- startup -------------------------------------------------------------

    def check(self) -> None:
        """Reach the bucket (creating it if configured), then refuse to start on
        one that cannot keep records WORM: versioning and Object Lock enabled."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in _NO_BUCKET_CODES:
                raise self._error("reach", None, exc) from exc
            if not self.create_bucket:
                raise StorageError(
                    f"S3 {self._where} does not exist; create it with Object Lock enabled, "
                    "or set storage.s3.create_bucket = true"
                ) from exc
            self._create_locked_bucket()
        except BotoCoreError as exc:
            raise self._error("reach", None, exc) from exc
        problems = self._worm_problems()
        if problems and not self.allow_without_object_lock:
            raise StorageError(
                f"S3 {self._where} cannot keep records write-once: {'; '.join(problems)}. "
                "Use a bucket created with Object Lock (storage.s3.create_bucket = true makes "
                "one); storage.s3.allow_without_object_lock is for tests only"
            )
        if problems:
            log.warning("S3 %s is not WORM (%s); tests only", self._where, "; ".join(problems))

    def _create_locked_bucket(self) -> None:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": True}
        region = self._client.meta.region_name
        if region and region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._call("create", None, self._client.create_bucket, **arguments)
        # Object Lock turns versioning on; saying so again costs one call and
        # covers stores that do not.
        self._call(
            "enable versioning on",
            None,
            self._client.put_bucket_versioning,
            Bucket=self.bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )

    def _worm_problems(self) -> list[str]:
        problems = []
        versioning = self._call(
            "read versioning of", None, self._client.get_bucket_versioning, Bucket=self.bucket
        )
        self._versioned = versioning.get("Status") == "Enabled"
        if not self._versioned:
            problems.append(f"versioning is {versioning.get('Status') or 'off'}, not Enabled")
        try:
            lock = self._client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except ClientError as exc:
            if _code(exc) != "ObjectLockConfigurationNotFoundError":
                raise self._error("read the Object Lock configuration of", None, exc) from exc
            enabled = None
        except BotoCoreError as exc:
            raise self._error("read the Object Lock configuration of", None, exc) from exc
        self._object_lock = enabled == "Enabled"
        if not self._object_lock:
            problems.append("Object Lock is not enabled")
        return problems

    # -- writing -------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes,
        *,
        retain_until: datetime | None = None,
        legal_hold: bool = False,
    ) -> None:
        """Write once. The head_object check leaves a race (two writers both see
        no object); If-None-Match: * closes it on S3, and where a store ignores
        that header both writes land as versions and Object Lock keeps the
        first, locked, version anyway. With content-addressed keys both carry
        the same bytes."""
        full_key = self._full_key(key)
        arguments = self._put_arguments(key, full_key, data, retain_until, legal_hold)
        if self._head(key, "check for", full_key) is not None:
            raise ObjectExistsError.for_keys([key])
        try:
            self._client.put_object(**arguments)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                raise ObjectExistsError.for_keys([key]) from exc
            raise self._error("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("write", key, exc) from exc

    def _put_arguments(
        self,
        key: str,
        full_key: str,
        data: bytes,
        retain_until: datetime | None,
        legal_hold: bool,
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": full_key,
            "Body": bytes(data),
            # S3 requires a checksum on Object Lock writes, and checks it.
            "ChecksumAlgorithm": "SHA256",
            "IfNoneMatch": "*",
        }
        if retain_until is not None:
            retain_until = normalise_retain_until(retain_until)
            if retain_until <= self._clock():
                retain_until = None  # already run out: protects nothing; S3 refuses it
        if not self._object_lock:
            if retain_until is not None or legal_hold:
                raise self._no_object_lock(key)
            return arguments
        if retain_until is not None:
            arguments["ObjectLockMode"] = self.lock_mode
            arguments["ObjectLockRetainUntilDate"] = retain_until
        arguments["ObjectLockLegalHoldStatus"] = "ON" if legal_hold else "OFF"
        return arguments

    def put_many(self, objects: Iterable[NewObject]) -> None:
        """Write the batch on a few threads (each put is two HTTP round trips);
        see ObjectStore.put_many for what an existing key does."""
        batch = checked_batch(objects)
        if len(batch) <= 1:
            super().put_many(batch)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="s3-put")
        put = self.put
        futures = [
            self._executor.submit(
                put, obj.key, obj.data, retain_until=obj.retain_until, legal_hold=obj.legal_hold
            )
            for obj in batch
        ]
        existing: list[str] = []
        failure: BaseException | None = None
        for obj, future in zip(batch, futures, strict=True):
            error = future.exception()
            if isinstance(error, ObjectExistsError):
                existing.append(obj.key)
            elif error is not None and failure is None:
                failure = error
        if failure is not None:
            raise failure
        if existing:
            raise ObjectExistsError.for_keys(existing)

    def set_legal_holds(self, keys: Iterable[str], on: bool) -> int:
        """On the put threads: each hold is two HTTP round trips."""
        wanted = list(dict.fromkeys(keys))
        if self._executor is None:
            self._executor = ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="s3-put")
        for future in [self._executor.submit(self.set_legal_hold, key, on) for key in wanted]:
            future.result()
        return len(wanted)

    # -- reading -------------------------------------------------------------

    def get(self, key: str) -> bytes:
        full_key = self._full_key(key)
        try:
            response = self._client.get_object(
                Bucket=self.bucket, Key=full_key, ChecksumMode="ENABLED"
            )
            return response["Body"].read()  # type: ignore[no-any-return]
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFoundError(f"no object {key!r} in {self._where}") from None
            raise self._error("read", key, exc) from exc
        except FlexibleChecksumError as exc:
            raise _integrity_error(key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self._head(key, "look up", self._full_key(key)) is not None

    def keys(self, prefix: str = "") -> Iterator[str]:
        """S3 lists in UTF-8 byte order, which is code-point order: the same
        order as sorting the Python strings."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    if key_problem(key) is None:  # skip foreign objects such as 'dir/'
                        yield key
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix or "(all keys)", exc) from exc

    # -- locks ---------------------------------------------------------------

    def lock_state(self, key: str) -> LockState:
        head = self._require(key, "read the lock of")
        return _lock_state(head)

    def delete(self, key: str) -> None:
        """Our guard reads each version's lock with head_object (moto answers
        get_object_retention with HTTP 500) and refuses while any is retained
        or held; then every version and delete marker of the key is deleted
        by version id, so the object is gone, not hidden behind a marker."""
        full_key = self._full_key(key)
        head = self._require(key, "delete")
        now = self._clock()
        refuse_if_locked(key, _lock_state(head), now)
        if not self._versioned:
            self._call("delete", key, self._client.delete_object, Bucket=self.bucket, Key=full_key)
            return
        versions, markers = self._versions(key, full_key)
        for version_id in versions:
            if version_id != head.get("VersionId"):
                other = self._head(key, "read the lock of", full_key, version_id)
                if other is not None:
                    refuse_if_locked(f"{key} (version {version_id})", _lock_state(other), now)
        for version_id in versions + markers:
            self._call(
                "delete",
                key,
                self._client.delete_object,
                Bucket=self.bucket,
                Key=full_key,
                VersionId=version_id,
            )

    def delete_many(self, keys: Iterable[str]) -> int:
        """Every key's lock is checked (on the put threads) before any is deleted."""
        wanted = list(dict.fromkeys(keys))
        if self._executor is None:
            self._executor = ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="s3-put")
        now = self._clock()
        for key, state in zip(wanted, self._executor.map(self.lock_state, wanted), strict=True):
            refuse_if_locked(key, state, now)
        for future in [self._executor.submit(self.delete, key) for key in wanted]:
            future.result()
        return len(wanted)

    def extend_retention(self, key: str, retain_until: datetime) -> None:
        """Guard first: S3 itself refuses shortening COMPLIANCE retention, but
        moto and some compatible stores do not."""
        new_date = normalise_retain_until(retain_until)
        full_key = self._full_key(key)
        current = _lock_state(self._require(key, "read the lock of"))
        if not self._object_lock:
            raise self._no_object_lock(key)
        refuse_shortening(key, current, new_date)
        if _MODE_RANK.get(current.mode, 0) > _MODE_RANK[self.lock_mode]:
            raise RetentionError(
                f"cannot change the retention of {key!r} from {current.mode} to "
                f"{self.lock_mode} mode: that would let it be deleted early. Set "
                f"storage.s3.lock_mode = {current.mode!r} to extend it"
            )
        if new_date <= self._clock() or (
            new_date == current.retain_until and current.mode == self.lock_mode
        ):
            return
        self._call(
            "extend the retention of",
            key,
            self._client.put_object_retention,
            Bucket=self.bucket,
            Key=full_key,
            Retention={"Mode": self.lock_mode, "RetainUntilDate": new_date},
        )

    def set_legal_hold(self, key: str, on: bool) -> None:
        # Head first: moto answers a hold on a missing key with HTTP 500.
        self._require(key, "set the legal hold of")
        if not self._object_lock:
            if not on:
                return  # nothing can be held in this bucket
            raise self._no_object_lock(key)
        self._call(
            "set the legal hold of",
            key,
            self._client.put_object_legal_hold,
            Bucket=self.bucket,
            Key=self._full_key(key),
            LegalHold={"Status": "ON" if on else "OFF"},
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._client.close()

    # -- helpers -------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _head(
        self, key: str, operation: str, full_key: str, version_id: str | None = None
    ) -> dict[str, Any] | None:
        """head_object, or None when the key (or version) holds no object."""
        arguments = {"Bucket": self.bucket, "Key": full_key}
        if version_id is not None:
            arguments["VersionId"] = version_id
        try:
            return self._client.head_object(**arguments)  # type: ignore[no-any-return]
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                return None
            raise self._error(operation, key, exc) from exc
        except BotoCoreError as exc:
            raise self._error(operation, key, exc) from exc

    def _require(self, key: str, operation: str) -> dict[str, Any]:
        head = self._head(key, operation, self._full_key(key))
        if head is None:
            raise ObjectNotFoundError(f"no object {key!r} in {self._where}")
        return head

    def _versions(self, key: str, full_key: str) -> tuple[list[str], list[str]]:
        """Version ids and delete-marker ids of exactly this key."""
        versions: list[str] = []
        markers: list[str] = []
        paginator = self._client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_key):
                for version in page.get("Versions", []):
                    if version["Key"] == full_key:
                        versions.append(version["VersionId"])
                for marker in page.get("DeleteMarkers", []):
                    if marker["Key"] == full_key:
                        markers.append(marker["VersionId"])
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list the versions of", key, exc) from exc
        return versions, markers

    def _no_object_lock(self, key: str) -> StorageError:
        return StorageError(
            f"cannot retain or hold {key!r}: {self._where} has no Object Lock, so the "
            "retention date or legal hold would be silently lost"
        )

    def _call(self, operation: str, key: str | None, method: Any, **arguments: Any) -> Any:
        try:
            return method(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(operation, key, exc) from exc

    def _error(self, operation: str, key: str | None, exc: Exception) -> StorageError:
        """One message shape: what we tried, on what, where, and what S3 said."""
        target = f"{key!r} in {self._where}" if key is not None else self._where
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            detail = f"{error.get('Code', '?')} (HTTP {status}): {error.get('Message', '')}"
            if error.get("Code") in ("AccessDenied", "403"):
                detail += "; check the credentials' permissions, or the object is locked"
        elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
            detail = (
                "no usable AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE), or run with an instance role"
            )
        elif isinstance(exc, ConnectionError):
            detail = (
                f"cannot connect ({type(exc).__name__}); check storage.s3.endpoint_url, "
                "the network and that the service is running"
            )
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return StorageError(f"S3 could not {operation} {target}: {detail}")


_loader_lock = threading.Lock()
_shared_loader: Loader | None = None


def _new_session() -> boto3.session.Session:
    """A fresh session (so credentials are resolved anew from the standard
    chain) sharing one model loader: a client then takes ~10 ms, not ~60 ms."""
    global _shared_loader
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = create_loader()
        session = botocore.session.Session()
        session.register_component("data_loader", _shared_loader)
    return boto3.session.Session(botocore_session=session)


def _normalise_prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    problem = key_problem(stripped)
    if problem:
        raise StorageError(f"invalid storage.s3.prefix {prefix!r}: {problem}")
    return stripped + "/"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _lock_state(head: dict[str, Any]) -> LockState:
    retain_until = head.get("ObjectLockRetainUntilDate")
    if retain_until is not None:
        retain_until = retain_until.astimezone(UTC)
    return LockState(
        retain_until=retain_until,
        mode=head.get("ObjectLockMode"),
        legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
    )


def _integrity_error(key: str, exc: FlexibleChecksumError) -> StorageError | IntegrityError:
    found = re.search(r"Expected checksum (\S+) did not match calculated checksum: (\S+)", str(exc))
    if found is None:
        return StorageError(f"S3 checksum check of {key!r} failed: {exc}")
    return IntegrityError(key, "sha256 (S3 checksum, base64)", found.group(1), found.group(2))
