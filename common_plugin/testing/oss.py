"""The emulated OSS: path-style object storage, signed with v1 or v4 by the valid access keys.

Requests are ``/<bucket>/<percent-encoded key>`` as ``oss2`` sends them to an IP endpoint (see
docs/protocols.md section 3). Supported: PutBucket/DeleteBucket, PutObject, GetObject (with
``Range`` and ``If-Match``/``If-None-Match``/``If-Unmodified-Since``), HeadObject, GetObjectMeta,
DeleteObject, CopyObject, ListObjects (v1 and v2), and multipart upload (Initiate, UploadPart,
Complete, Abort, ListParts) - enough for ``oss2.resumable_upload``/``resumable_download``.

Thread-safe: ``handle`` runs on many threads at once; the store takes one lock per operation.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote
from xml.etree import ElementTree

from .oss_handlers import ObjectHandlers
from .oss_signature import (
    ParsedAuthorization,
    parse_authorization,
    v1_signature,
    v1_string_to_sign,
    v4_scope_error,
    v4_signature,
)
from .oss_store import OssStore, OssStoreError
from .state import CloudState
from .wire import HttpRequest, HttpResponse

__all__ = ["OssService"]

_LOGGER = logging.getLogger(__name__)

_EC = {
    "InvalidAccessKeyId": "0002-00000902",
    "SignatureDoesNotMatch": "0002-00000040",
    "InvalidSecurityToken": "0002-00000005",
    "SecurityTokenExpired": "0002-00000007",
    "AccessDenied": "0003-00000001",
    "NoSuchBucket": "0015-00000101",
    "NoSuchKey": "0026-00000001",
}
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class OssService:
    """The emulated OSS endpoint.

    Args:
        state: the cloud whose valid access keys (``state.lookup_key``) may sign requests.
        host_id: the ``HostId`` written in error bodies (default ``oss-<region>.aliyuncs.com``).
        region: the endpoint's region; a v4 signature must be scoped to it (``LocalAliyun`` passes
            its ``region_id``).
    """

    name = "oss"

    def __init__(self, state: CloudState, host_id: str | None = None, *, region: str = "cn-hangzhou") -> None:
        self._state = state
        self.region = region
        self._host_id = host_id or f"oss-{region}.aliyuncs.com"
        self._store = OssStore()
        self._objects = ObjectHandlers(self._store, state.clock)

    # ---- fixtures ----------------------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        """Create a bucket (idempotent)."""
        self._store.create_bucket(name, self._state.clock.time())

    def object_keys(self, bucket: str) -> list[str]:
        """The keys stored in ``bucket``, sorted (for test assertions)."""
        return self._store.keys(bucket)

    # ---- service interface -------------------------------------------------------------------
    def action_of(self, request: HttpRequest) -> str:
        """The OSS API name of a request (``PutObject``, ``ListObjectsV2``, ...), without handling it."""
        bucket, key = _split_path(request.path)
        return _action(request, bucket, key)

    def access_key_id_of(self, request: HttpRequest) -> str:
        """The AccessKeyId in the ``Authorization`` header (``""`` if unsigned), without handling it."""
        auth = parse_authorization(request.header("authorization"))
        return auth.access_key_id if auth else ""

    def error_response(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> HttpResponse:
        """An OSS XML ``<Error>`` reply (also base64 in ``x-oss-err``, which HEAD replies rely on)."""
        request_id = uuid.uuid4().hex[:24].upper()
        root = ElementTree.Element("Error")
        fields = {"Code": code, "Message": message, "RequestId": request_id, "HostId": self._host_id}
        fields.update(extra or {})
        fields["EC"] = _EC.get(code, "0000-00000000")
        for tag, text in fields.items():
            ElementTree.SubElement(root, tag).text = text
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")
        headers = {
            "Content-Type": "application/xml",
            "x-oss-request-id": request_id,
            "x-oss-ec": fields["EC"],
            "x-oss-err": base64.b64encode(body).decode(),
        }
        return HttpResponse(status, body, headers)

    def garbage_response(self) -> HttpResponse:
        """A 200 whose XML body is malformed."""
        return HttpResponse(200, b"<ListBucketResult><Contents>", {"Content-Type": "application/xml"})

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Authenticate and serve one request; never raises for a bad request."""
        bucket, key = _split_path(request.path)
        action = _action(request, bucket, key)
        auth = parse_authorization(request.header("authorization"))
        access_key_id = auth.access_key_id if auth else ""
        try:
            if auth is None:
                raise OssStoreError(403, "AccessDenied", "You have no right to access this object.")
            error = self._authenticate(request, bucket, key, auth)
            if error is not None:
                response = error
            else:
                response = self._dispatch(action)(request, bucket, key)
                response.headers.setdefault("x-oss-request-id", uuid.uuid4().hex[:24].upper())
        except OssStoreError as exc:
            extra = {"BucketName": bucket} if exc.code == "NoSuchBucket" else {}
            if exc.code == "NoSuchKey":
                extra = {"Key": key}
            response = self.error_response(exc.status, exc.code, exc.message, extra)
        response.action = action
        response.access_key_id = access_key_id
        return response

    # ---- internals ---------------------------------------------------------------------------
    def _authenticate(
        self, request: HttpRequest, bucket: str, key: str, auth: ParsedAuthorization
    ) -> HttpResponse | None:
        stored = self._state.lookup_key(auth.access_key_id)
        if stored is None:
            return self.error_response(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                {"OSSAccessKeyId": auth.access_key_id},
            )
        if stored.status != "Active":
            return self.error_response(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided is disabled.",
                {"OSSAccessKeyId": auth.access_key_id},
            )
        token = request.header("x-oss-security-token")
        if stored.security_token is not None or token:
            if stored.security_token is None or not hmac.compare_digest(token, stored.security_token):
                return self.error_response(
                    403, "InvalidSecurityToken", "The security token you provided is invalid."
                )
            if stored.token_expires_at is not None and self._state.clock.time() >= stored.token_expires_at:
                return self.error_response(
                    403, "SecurityTokenExpired", "The security token you provided has expired."
                )
        if auth.version == 4:
            scope_error = v4_scope_error(request, auth, self.region)
            if scope_error is not None:
                _LOGGER.debug("OSS v4 scope refused for %s: %s", auth.access_key_id, scope_error)
                return self.error_response(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. "
                    + scope_error,
                    {"SignatureProvided": auth.signature, "OSSAccessKeyId": auth.access_key_id},
                )
        if auth.version == 1:
            string_to_sign = v1_string_to_sign(request, bucket, key)
            expected = v1_signature(stored.access_key_secret, string_to_sign)
            shown = string_to_sign.decode("utf-8", "replace")
        else:
            shown, expected = v4_signature(request, bucket, key, auth, stored.access_key_secret)
        if hmac.compare_digest(expected.encode(), auth.signature.encode()):
            return None
        _LOGGER.debug("OSS signature mismatch for %s", auth.access_key_id)
        return self.error_response(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            {
                "StringToSign": shown,
                "SignatureProvided": auth.signature,
                "OSSAccessKeyId": auth.access_key_id,
            },
        )

    def _dispatch(self, action: str) -> Callable[[HttpRequest, str, str], HttpResponse]:
        handlers: dict[str, Callable[[HttpRequest, str, str], HttpResponse]] = {
            "PutBucket": self._put_bucket,
            "DeleteBucket": self._delete_bucket,
            "ListObjects": self._objects.list_objects,
            "ListObjectsV2": self._objects.list_objects,
            "PutObject": self._objects.put_object,
            "CopyObject": self._objects.copy_object,
            "GetObject": self._objects.get_object,
            "HeadObject": self._objects.get_object,
            "GetObjectMeta": self._objects.get_object,
            "DeleteObject": self._objects.delete_object,
            "InitiateMultipartUpload": self._objects.initiate_multipart,
            "UploadPart": self._objects.upload_part,
            "CompleteMultipartUpload": self._objects.complete_multipart,
            "AbortMultipartUpload": self._objects.abort_multipart,
            "ListParts": self._objects.list_parts,
        }
        return handlers.get(action, self._unsupported)

    def _unsupported(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        raise OssStoreError(501, "NotImplemented", "This operation is not supported by the emulator.")

    def _put_bucket(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        if not _BUCKET_NAME.match(bucket):
            raise OssStoreError(400, "InvalidBucketName", "The specified bucket is not valid.")
        self.create_bucket(bucket)
        return HttpResponse(200, headers={"Location": f"/{bucket}"})

    def _delete_bucket(self, request: HttpRequest, bucket: str, key: str) -> HttpResponse:
        self._store.delete_bucket(bucket)
        return HttpResponse(204)


def _split_path(path: str) -> tuple[str, str]:
    """``/bkt/dir%2Fa.txt`` -> (``bkt``, ``dir/a.txt``); ``/bkt/`` -> (``bkt``, ``""``)."""
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


def _action(request: HttpRequest, bucket: str, key: str) -> str:
    method, query = request.method, request.query
    if not bucket:
        return "ListBuckets" if method == "GET" else "Unknown"
    if not key:
        if method == "PUT" and not query:
            return "PutBucket"
        if method == "DELETE" and not query:
            return "DeleteBucket"
        if method == "GET" and not (query.keys() & {"acl", "uploads", "bucketInfo", "location"}):
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        return "Unknown"
    actions = {
        "PUT": "UploadPart"
        if "partNumber" in query and "uploadId" in query
        else ("CopyObject" if request.header("x-oss-copy-source") else "PutObject"),
        "GET": "ListParts" if "uploadId" in query else "GetObject",
        "HEAD": "GetObjectMeta" if "objectMeta" in query else "HeadObject",
        "DELETE": "AbortMultipartUpload" if "uploadId" in query else "DeleteObject",
        "POST": "InitiateMultipartUpload"
        if "uploads" in query
        else ("CompleteMultipartUpload" if "uploadId" in query else "Unknown"),
    }
    return actions.get(method, "Unknown")
