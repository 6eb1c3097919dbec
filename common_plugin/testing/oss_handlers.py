"""The emulated OSS's bucket and object operations, once a request is authenticated.

Each handler takes ``(request, bucket, key)`` and returns an :class:`HttpResponse` or raises
:class:`OssStoreError`. Stateless apart from the store, so thread-safe.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
from datetime import datetime, timezone
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from ..clock import Clock
from .oss_store import OssStore, OssStoreError, StoredObject, decode_token, encode_token, new_object
from .wire import HttpRequest, HttpResponse

__all__ = ["ObjectHandlers"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_XML_HEADERS = {"Content-Type": "application/xml"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def _xml(root: ElementTree.Element) -> bytes:
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _add(parent: ElementTree.Element, tag: str, text: object) -> ElementTree.Element:
    child = ElementTree.SubElement(parent, tag)
    child.text = str(text)
    return child


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise OssStoreError(400, "InvalidArgument", f"Argument {name} is not valid.")
    return int(raw)


def _metadata(request: HttpRequest) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in request.headers.items() if k.startswith("x-oss-meta-")))


def _object_headers(obj: StoredObject) -> dict[str, str]:
    headers = {
        "Content-Type": obj.content_type,
        "ETag": f'"{obj.etag}"',
        "Last-Modified": _http_date(obj.last_modified),
        "x-oss-object-type": obj.object_type,
        "x-oss-storage-class": "Standard",
        "x-oss-hash-crc64ecma": str(obj.crc64),
        "Accept-Ranges": "bytes",
    }
    headers.update(obj.metadata)
    return headers


def _precondition_failed() -> OssStoreError:
    return OssStoreError(
        412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold."
    )


def _parse_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


class ObjectHandlers:
    """Bucket listing, object and multipart operations over an :class:`OssStore`."""

    def __init__(self, store: OssStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # ---- objects -----------------------------------------------------------------------------
    def put_object(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        md5 = request.header("content-md5")
        if md5 and base64.b64encode(hashlib.md5(request.body).digest()).decode() != md5:  # noqa: S324
            raise OssStoreError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        if request.header("x-oss-forbid-overwrite").lower() == "true" and key in self._store.keys(bucket):
            raise OssStoreError(409, "FileAlreadyExists", "The object you specified already exists.")
        content_type = request.header("content-type", "application/octet-stream")
        obj = new_object(key, request.body, content_type, self._clock.time(), _metadata(request))
        self._store.put(bucket, obj)
        return HttpResponse(200, headers={"ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc64)})

    def copy_object(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        source = request.header("x-oss-copy-source").split("?", 1)[0].lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        src = self._store.get(unquote(src_bucket), unquote(src_key))
        if request.header("x-oss-metadata-directive").upper() == "REPLACE":
            content_type = request.header("content-type", "application/octet-stream")
            metadata = _metadata(request)
        else:
            content_type, metadata = src.content_type, src.metadata
        obj = new_object(key, src.data, content_type, self._clock.time(), metadata)
        self._store.put(bucket, obj)
        root = ElementTree.Element("CopyObjectResult")
        _add(root, "ETag", f'"{obj.etag}"')
        _add(root, "LastModified", _iso(obj.last_modified))
        headers = {**_XML_HEADERS, "ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc64)}
        return HttpResponse(200, _xml(root), headers)

    def get_object(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        """GetObject, HeadObject and GetObjectMeta."""
        obj = self._store.get(bucket, key)
        headers = _object_headers(obj)
        if_match = request.header("if-match").strip('"').upper()
        if if_match and if_match != obj.etag:
            raise _precondition_failed()
        since = _parse_date(request.header("if-unmodified-since"))
        if since is not None and int(obj.last_modified) > since:
            raise _precondition_failed()
        if_none = request.header("if-none-match").strip('"').upper()
        modified_since = _parse_date(request.header("if-modified-since"))
        if (if_none and if_none == obj.etag) or (
            modified_since is not None and int(obj.last_modified) <= modified_since
        ):
            return HttpResponse(304, headers={"ETag": headers["ETag"]})
        size = len(obj.data)
        if request.method == "HEAD":
            # The HTTP layer derives Content-Length from the body and sends no body for HEAD.
            return HttpResponse(200, obj.data, headers)
        match = _RANGE.match(request.header("range").strip())
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start, end = max(0, size - int(match[2])), size - 1
            if start >= size:
                raise OssStoreError(416, "InvalidRange", "The requested range cannot be satisfied.")
            if start <= end:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                return HttpResponse(206, obj.data[start : end + 1], headers)
        return HttpResponse(200, obj.data, headers)

    def delete_object(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        self._store.delete(bucket, key)
        return HttpResponse(204)

    # ---- listing -----------------------------------------------------------------------------
    def list_objects(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        """ListObjects (v1, ``marker``) and ListObjectsV2 (``list-type=2``, continuation tokens)."""
        query = request.query
        v2 = query.get("list-type") == "2"
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        max_keys = _int_param(query, "max-keys", 100, 0, 1000)
        url = query.get("encoding-type", "") == "url"
        token = query.get("continuation-token", "")
        if v2:
            after = decode_token(token) if token else query.get("start-after", "")
        else:
            after = query.get("marker", "")
        listing = self._store.list_objects(
            bucket, prefix=prefix, after=after, delimiter=delimiter, max_keys=max_keys
        )

        def enc(text: str) -> str:
            return quote(text, safe="") if url else text

        root = ElementTree.Element("ListBucketResult")
        _add(root, "Name", bucket)
        _add(root, "Prefix", enc(prefix))
        if v2:
            if "start-after" in query:
                _add(root, "StartAfter", enc(query["start-after"]))
            if token:
                _add(root, "ContinuationToken", token)
        else:
            _add(root, "Marker", enc(after))
        _add(root, "MaxKeys", max_keys)
        _add(root, "Delimiter", enc(delimiter))
        if url:
            _add(root, "EncodingType", "url")
        _add(root, "IsTruncated", "true" if listing.truncated else "false")
        if listing.truncated:
            if v2:
                _add(root, "NextContinuationToken", encode_token(listing.next_marker))
            else:
                _add(root, "NextMarker", enc(listing.next_marker))
        if v2:
            _add(root, "KeyCount", len(listing.objects) + len(listing.prefixes))
        for obj in listing.objects:
            contents = ElementTree.SubElement(root, "Contents")
            _add(contents, "Key", enc(obj.key))
            _add(contents, "LastModified", _iso(obj.last_modified))
            _add(contents, "ETag", f'"{obj.etag}"')
            _add(contents, "Type", obj.object_type)
            _add(contents, "Size", len(obj.data))
            _add(contents, "StorageClass", "Standard")
        for common in listing.prefixes:
            _add(ElementTree.SubElement(root, "CommonPrefixes"), "Prefix", enc(common))
        return HttpResponse(200, _xml(root), dict(_XML_HEADERS))

    # ---- multipart ---------------------------------------------------------------------------
    def initiate_multipart(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        content_type = request.header("content-type", "application/octet-stream")
        upload_id = self._store.initiate(bucket, key, content_type, self._clock.time(), _metadata(request))
        root = ElementTree.Element("InitiateMultipartUploadResult")
        _add(root, "Bucket", bucket)
        _add(root, "Key", key)
        _add(root, "UploadId", upload_id)
        return HttpResponse(200, _xml(root), dict(_XML_HEADERS))

    def upload_part(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        query = request.query
        number = _int_param(query, "partNumber", 0, 1, 10000)
        part = self._store.upload_part(
            bucket, key, query["uploadId"], number, request.body, self._clock.time()
        )
        return HttpResponse(200, headers={"ETag": f'"{part.etag}"', "x-oss-hash-crc64ecma": str(part.crc64)})

    def complete_multipart(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        wanted: list[tuple[int, str]] | None = None
        if request.header("x-oss-complete-all").lower() != "yes":
            try:
                # Loopback test traffic from our own clients, not untrusted input.
                root = ElementTree.fromstring(request.body)  # noqa: S314
                wanted = [
                    (int(part.findtext("PartNumber", "")), part.findtext("ETag", ""))
                    for part in root.iter("Part")
                ]
            except (ElementTree.ParseError, ValueError):
                raise OssStoreError(
                    400, "MalformedXML", "The XML you provided was not well-formed."
                ) from None
        obj = self._store.complete(bucket, key, request.query["uploadId"], wanted, self._clock.time())
        result = ElementTree.Element("CompleteMultipartUploadResult")
        _add(result, "Location", f"/{bucket}/{quote(key, safe='')}")
        _add(result, "Bucket", bucket)
        _add(result, "Key", key)
        _add(result, "ETag", f'"{obj.etag}"')
        headers = {**_XML_HEADERS, "ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc64)}
        return HttpResponse(200, _xml(result), headers)

    def abort_multipart(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        self._store.abort(bucket, key, request.query["uploadId"])
        return HttpResponse(204)

    def list_parts(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        query = request.query
        marker = _int_param(query, "part-number-marker", 0, 0, 10000)
        max_parts = _int_param(query, "max-parts", 1000, 1, 1000)
        parts = [p for p in self._store.parts(bucket, key, query["uploadId"]) if p.number > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        root = ElementTree.Element("ListPartsResult")
        _add(root, "Bucket", bucket)
        _add(root, "Key", key)
        _add(root, "UploadId", query["uploadId"])
        _add(root, "PartNumberMarker", marker)
        _add(root, "NextPartNumberMarker", page[-1].number if page else marker)
        _add(root, "MaxParts", max_parts)
        _add(root, "IsTruncated", "true" if truncated else "false")
        for part in page:
            node = ElementTree.SubElement(root, "Part")
            _add(node, "PartNumber", part.number)
            _add(node, "LastModified", _iso(part.last_modified))
            _add(node, "ETag", f'"{part.etag}"')
            _add(node, "Size", len(part.data))
        return HttpResponse(200, _xml(root), dict(_XML_HEADERS))
