"""A store in an S3 bucket (`s3://bucket/prefix`).

Writes are multipart uploads with a SHA-256 checksum on every part (S3 checks
each part on arrival), SSE-KMS when a key is configured, and object tags. Any
failure aborts the upload, so no partial object and no dangling multipart
upload (which would be billed forever) is left.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from smokejumper.errors import NotFoundError, ObjectLockedError, StoreError
from smokejumper.store.base import ObjectWriter, Store, check_key, join_key

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB  # S3's floor is 5 MiB; 8 MiB matches the AWS CLI default
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
# Leave headroom under MAX_PARTS so an object somewhat larger than expected still fits.
PLANNED_PARTS = 9_000
# Without an expected size, part sizes double every this many parts, so an
# object of any size S3 allows (5 TiB) fits within MAX_PARTS.
GROWTH_STEP = 1_000


def part_size_for(expected_size: int | None, part_number: int) -> int:
    """Size of part `part_number` (1-based) for an object of about `expected_size` bytes."""
    base = MIN_PART_SIZE
    if expected_size:
        base = max(MIN_PART_SIZE, math.ceil(expected_size / PLANNED_PARTS / MIB) * MIB)
    grown = base * 2 ** ((part_number - 1) // GROWTH_STEP)
    return min(grown, MAX_PART_SIZE)


def new_client(region: str | None = None) -> Any:
    """An S3 client in `region` (None: the environment's), with standard retries: backoff on S3's throttling
    and 5xx, so an upload or a read survives a bad second."""
    import boto3  # deferred: it costs ~0.4 s of start-up that local-only commands never need
    from botocore.config import Config

    return boto3.client("s3", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 6}))


def _client_error(action: str, where: str, exc: Exception) -> StoreError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        hints = {
            "NoSuchBucket": "check the bucket name in the URL, or deploy the stack that creates it",
            "AccessDenied": "the caller's IAM policy (or the KMS key policy) does not allow this",
            "KMS.NotFoundException": "check the KMS key id/ARN",
            "InvalidAccessKeyId": "check the AWS credentials in use",
        }
        return StoreError(f"cannot {action} {where}: {code} {message}".rstrip(), hint=hints.get(code))
    return StoreError(f"cannot {action} {where}: {exc}")


class S3Writer(ObjectWriter):
    def __init__(
        self,
        client: Any,
        bucket: str,
        object_key: str,
        key: str,
        *,
        expected_size: int | None,
        extra_args: dict[str, Any],
    ) -> None:
        super().__init__(key)
        self._client = client
        self._bucket = bucket
        self._object_key = object_key
        self._expected_size = expected_size
        self._extra = extra_args
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._where = f"s3://{bucket}/{object_key}"

    def _next_part_size(self) -> int:
        return part_size_for(self._expected_size, len(self._parts) + 1)

    def _write(self, data: memoryview) -> None:
        self._buffer += data
        while len(self._buffer) >= self._next_part_size():
            size = self._next_part_size()
            self._upload_part(bytes(self._buffer[:size]))
            del self._buffer[:size]

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            try:
                response = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._object_key, ChecksumAlgorithm="SHA256", **self._extra
                )
            except (ClientError, BotoCoreError) as exc:
                raise _client_error("start upload to", self._where, exc) from exc
            self._upload_id = response["UploadId"]
        part_number = len(self._parts) + 1
        if part_number > MAX_PARTS:
            raise StoreError(f"{self._where}: more than {MAX_PARTS} parts; object too large for S3")
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                PartNumber=part_number,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(f"upload part {part_number} of", self._where, exc) from exc
        self._parts.append({"PartNumber": part_number, "ETag": response["ETag"], "ChecksumSHA256": checksum})

    def _commit(self) -> str | None:
        try:
            if self._upload_id is None:
                # Small object: one PUT, still checksummed by S3.
                data = bytes(self._buffer)
                response = self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                    **self._extra,
                )
            else:
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                response = self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._object_key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("complete upload of", self._where, exc) from exc
        self._buffer = bytearray()
        return cast(str | None, response.get("VersionId"))

    def _abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._object_key, UploadId=self._upload_id)
        except (ClientError, BotoCoreError) as exc:
            # The original failure matters more; the bucket's lifecycle rule
            # (abort incomplete uploads after 1 day) is the safety net.
            raise _client_error("abort upload of", self._where, exc) from exc


class S3Store(Store):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        kms_key_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3  # deferred: it costs ~0.4 s of start-up that local-only commands never need

            client = boto3.client("s3")
        self.client = client
        self.kms_key_id = kms_key_id
        self.tags = dict(tags or {})
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _object_key(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def writer(
        self,
        key: str,
        *,
        expected_size: int | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> S3Writer:
        extra: dict[str, Any] = {"ContentType": content_type}
        if self.kms_key_id:
            extra["ServerSideEncryption"] = "aws:kms"
            extra["SSEKMSKeyId"] = self.kms_key_id
            extra["BucketKeyEnabled"] = True
        all_tags = {**self.tags, **(tags or {})}
        if all_tags:
            extra["Tagging"] = "&".join(
                f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in all_tags.items()
            )
        return S3Writer(
            self.client,
            self.bucket,
            self._object_key(key),
            key,
            expected_size=expected_size,
            extra_args=extra,
        )

    def open_read(self, key: str, *, start: int = 0, length: int | None = None) -> BinaryIO:
        object_key = self._object_key(key)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": object_key}
        if length is not None:
            if length == 0:
                return io.BytesIO(b"")
            args["Range"] = f"bytes={start}-{start + length - 1}"
        elif start:
            args["Range"] = f"bytes={start}-"
        try:
            response = self.client.get_object(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError(f"s3://{self.bucket}/{object_key} does not exist") from exc
            raise _client_error("read", f"s3://{self.bucket}/{object_key}", exc) from exc
        except BotoCoreError as exc:
            raise _client_error("read", f"s3://{self.bucket}/{object_key}", exc) from exc
        return cast(BinaryIO, response["Body"])

    def size(self, key: str) -> int:
        object_key = self._object_key(key)
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"s3://{self.bucket}/{object_key} does not exist") from exc
            raise _client_error("read", f"s3://{self.bucket}/{object_key}", exc) from exc
        except BotoCoreError as exc:
            raise _client_error("read", f"s3://{self.bucket}/{object_key}", exc) from exc
        return int(response["ContentLength"])

    def _list(self, prefix: str, **extra: Any) -> Iterator[dict[str, Any]]:
        full = join_key(self.prefix, prefix)
        full = f"{full}/" if full else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=full, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("list", f"s3://{self.bucket}/{full}", exc) from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self._list(prefix):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def list_children(self, prefix: str = "") -> list[str]:
        names = []
        for page in self._list(prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"].rstrip("/").rsplit("/", 1)[-1])
        return sorted(names)

    def delete(self, key: str) -> None:
        # On a versioned bucket a DeleteObject without a VersionId only adds a
        # delete marker; the old version stays until the bucket's
        # noncurrent-version lifecycle rule removes it. Our roles get
        # s3:DeleteObject but never s3:DeleteObjectVersion, so a stolen role
        # cannot destroy versions: never pass a VersionId here.
        #
        # Object Lock does not stop a delete marker either, so an object still
        # under retention or legal hold would silently vanish from listings
        # while it is in fact kept. Look first and report it instead. The lock
        # fields appear in HeadObject only if the caller may
        # s3:GetObjectRetention and s3:GetObjectLegalHold; without those this
        # check cannot see a lock.
        object_key = self._object_key(key)
        where = f"s3://{self.bucket}/{object_key}"
        if not self._check_lock(object_key, where):
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=object_key)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("delete", where, exc) from exc

    def check_deletable(self, key: str) -> None:
        object_key = self._object_key(key)
        self._check_lock(object_key, f"s3://{self.bucket}/{object_key}")

    def _check_lock(self, object_key: str, where: str) -> bool:
        """Raise ObjectLockedError if a lock holds the object; False if it is gone already."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                # Already deleted (its current version is a delete marker, or it
                # never existed): adding another marker would only add clutter.
                return False
            raise _client_error("delete", where, exc) from exc
        except BotoCoreError as exc:
            raise _client_error("delete", where, exc) from exc
        until = cast(datetime | None, head.get("ObjectLockRetainUntilDate"))
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until is not None and until <= datetime.now(UTC):
            until = None  # retention has expired: no longer a lock
        legal_hold = head.get("ObjectLockLegalHoldStatus") == "ON"
        if until is not None or legal_hold:
            raise ObjectLockedError(where, until=until, legal_hold=legal_hold)
        return True

    def child(self, prefix: str) -> S3Store:
        return S3Store(
            self.bucket,
            join_key(self.prefix, prefix),
            client=self.client,
            kms_key_id=self.kms_key_id,
            tags=self.tags,
        )
