"""The emulated OSS's in-memory buckets, objects and multipart uploads.

:class:`OssStore` is thread-safe: one lock guards every bucket; the values it hands out
(:class:`StoredObject`, :class:`StoredPart`) are immutable, so callers read them without the lock.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from dataclasses import dataclass, field, replace

from .oss_signature import crc64_ecma

__all__ = ["Listing", "OssStore", "OssStoreError", "StoredObject", "StoredPart"]


class OssStoreError(Exception):
    """A request the store refuses: ``status`` and OSS error ``code`` to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes = field(repr=False)
    content_type: str
    etag: str  # unquoted
    last_modified: float
    crc64: int
    object_type: str = "Normal"
    metadata: tuple[tuple[str, str], ...] = ()  # (x-oss-meta-*, value)


@dataclass(frozen=True)
class StoredPart:
    number: int
    data: bytes = field(repr=False)
    etag: str
    last_modified: float
    crc64: int


@dataclass
class _Upload:
    key: str
    content_type: str
    initiated: float
    metadata: tuple[tuple[str, str], ...]
    parts: dict[int, StoredPart] = field(default_factory=dict)


@dataclass
class _Bucket:
    name: str
    created: float
    objects: dict[str, StoredObject] = field(default_factory=dict)
    uploads: dict[str, _Upload] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """One page of a listing: objects, common prefixes, and where the next page starts."""

    objects: list[StoredObject]
    prefixes: list[str]
    truncated: bool
    next_marker: str  # the last key or prefix returned, when truncated


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()  # noqa: S324 - ETag, not security


def new_object(
    key: str,
    data: bytes,
    content_type: str,
    now: float,
    metadata: tuple[tuple[str, str], ...] = (),
) -> StoredObject:
    return StoredObject(key, data, content_type, _md5(data), now, crc64_ecma(data), "Normal", metadata)


class OssStore:
    """Buckets keyed by name. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def create_bucket(self, name: str, now: float = 0.0) -> None:
        """Create ``name`` if it does not exist yet (idempotent, as PutBucket by its owner is)."""
        with self._lock:
            self._buckets.setdefault(name, _Bucket(name, now))

    def delete_bucket(self, name: str) -> None:
        with self._lock:
            bucket = self._bucket(name)
            if bucket.objects or bucket.uploads:
                raise OssStoreError(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.")
            del self._buckets[name]

    def has_bucket(self, name: str) -> bool:
        with self._lock:
            return name in self._buckets

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise OssStoreError(404, "NoSuchBucket", "The specified bucket does not exist.")
        return bucket

    # ---- objects -----------------------------------------------------------------------------
    def put(self, bucket: str, obj: StoredObject) -> None:
        with self._lock:
            self._bucket(bucket).objects[obj.key] = obj

    def get(self, bucket: str, key: str) -> StoredObject:
        with self._lock:
            obj = self._bucket(bucket).objects.get(key)
        if obj is None:
            raise OssStoreError(404, "NoSuchKey", "The specified key does not exist.")
        return obj

    def delete(self, bucket: str, key: str) -> None:
        with self._lock:
            self._bucket(bucket).objects.pop(key, None)

    def keys(self, bucket: str) -> list[str]:
        with self._lock:
            return sorted(self._bucket(bucket).objects)

    def list_objects(self, bucket: str, *, prefix: str, after: str, delimiter: str, max_keys: int) -> Listing:
        """Keys sorted by UTF-8 bytes, after ``after``, rolled up at ``delimiter`` into prefixes."""
        with self._lock:
            objects = sorted(self._bucket(bucket).objects.values(), key=lambda o: o.key.encode())
        found: list[StoredObject] = []
        prefixes: list[str] = []
        last = ""
        for obj in objects:
            if not obj.key.startswith(prefix) or obj.key.encode() <= after.encode():
                continue
            common = None
            if delimiter:
                cut = obj.key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = obj.key[: cut + len(delimiter)]
            if common is not None and (after.startswith(common) or (prefixes and prefixes[-1] == common)):
                continue
            if len(found) + len(prefixes) >= max_keys:
                return Listing(found, prefixes, True, last)
            if common is not None:
                prefixes.append(common)
                last = common
            else:
                found.append(obj)
                last = obj.key
        return Listing(found, prefixes, False, "")

    # ---- multipart ---------------------------------------------------------------------------
    def initiate(
        self, bucket: str, key: str, content_type: str, now: float, metadata: tuple[tuple[str, str], ...]
    ) -> str:
        upload_id = uuid.uuid4().hex.upper()
        with self._lock:
            self._bucket(bucket).uploads[upload_id] = _Upload(key, content_type, now, metadata)
        return upload_id

    def _upload(self, bucket: str, key: str, upload_id: str) -> _Upload:
        upload = self._bucket(bucket).uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise OssStoreError(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, "
                "or the upload may have been aborted or completed.",
            )
        return upload

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, data: bytes, now: float
    ) -> StoredPart:
        part = StoredPart(number, data, _md5(data), now, crc64_ecma(data))
        with self._lock:
            self._upload(bucket, key, upload_id).parts[number] = part
        return part

    def parts(self, bucket: str, key: str, upload_id: str) -> list[StoredPart]:
        with self._lock:
            upload = self._upload(bucket, key, upload_id)
            return [upload.parts[n] for n in sorted(upload.parts)]

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._upload(bucket, key, upload_id)
            del self._bucket(bucket).uploads[upload_id]

    def complete(
        self, bucket: str, key: str, upload_id: str, wanted: list[tuple[int, str]] | None, now: float
    ) -> StoredObject:
        """Join the ``(part number, etag)`` parts (all parts when ``None``) into the object."""
        with self._lock:
            upload = self._upload(bucket, key, upload_id)
            if wanted is None:
                wanted = [(n, upload.parts[n].etag) for n in sorted(upload.parts)]
            numbers = [n for n, _ in wanted]
            if numbers != sorted(set(numbers)):
                raise OssStoreError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
            chosen: list[StoredPart] = []
            for number, etag in wanted:
                part = upload.parts.get(number)
                if part is None or part.etag != etag.strip('"').upper():
                    raise OssStoreError(
                        400,
                        "InvalidPart",
                        "One or more of the specified parts could not be found or the specified entity "
                        "tag might not have matched the part's entity tag.",
                    )
                chosen.append(part)
            data = b"".join(p.data for p in chosen)
            digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest()  # noqa: S324
            obj = replace(
                new_object(key, data, upload.content_type, now, upload.metadata),
                etag=f"{digest.upper()}-{len(chosen)}",
                object_type="Multipart",
            )
            bucket_state = self._bucket(bucket)
            bucket_state.objects[key] = obj
            del bucket_state.uploads[upload_id]
            return obj


def encode_token(text: str) -> str:
    """An opaque continuation token (url-safe base64, so it survives ``encoding-type=url``)."""
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise OssStoreError(400, "InvalidArgument", "The continuation token is not valid.") from None
