"""Pins the oss2 internals that oss_plugin relies on (checked against oss2 2.19.1).

If one of these fails after an oss2 upgrade, read the message: it names the installed version and
what moved. Fix oss_plugin/_retry.py or the ``_do`` overrides before relaxing the test.
"""

from __future__ import annotations

import inspect
import io

import oss2
import pytest

from oss_plugin import ManagedOssCredentialsProvider, ProxyBucket, ProxyService, _retry

VERSION = f"oss2 {oss2.__version__} (oss_plugin was checked against 2.19.1)"


def test_base_do_is_the_one_request_path() -> None:
    base = getattr(getattr(oss2, "api", None), "_Base", None)
    assert base is not None, f"{VERSION}: oss2.api._Base is gone; ProxyBucket/ProxyService hook its _do"
    do = getattr(base, "_do", None)
    assert callable(do), f"{VERSION}: oss2.api._Base._do is gone; the retry hook no longer runs"
    parameters = list(inspect.signature(do).parameters.values())
    shape = [(p.name, p.kind) for p in parameters]
    assert shape == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("method", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("bucket_name", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("key", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("kwargs", inspect.Parameter.VAR_KEYWORD),
    ], f"{VERSION}: oss2.api._Base._do changed its signature to {shape}"
    # Bucket and Service must not override it themselves, or our override would skip their logic.
    assert oss2.Bucket._do is base._do, f"{VERSION}: oss2.Bucket now overrides _do"
    assert oss2.Service._do is base._do, f"{VERSION}: oss2.Service now overrides _do"
    assert ProxyBucket._do is not base._do and ProxyService._do is not base._do


def test_provider_auth_pulls_credentials_once_per_request() -> None:
    calls: list[int] = []

    class Counting(oss2.credentials.CredentialsProvider):  # type: ignore[misc]
        def get_credentials(self) -> oss2.credentials.Credentials:
            calls.append(1)
            return oss2.credentials.Credentials("LTAIEXAMPLEKEYID", "example-secret", "")

    for auth in (oss2.ProviderAuth(Counting()), oss2.ProviderAuthV4(Counting())):
        request = oss2.http.Request("GET", "http://127.0.0.1/bkt/k", region="cn-hangzhou", product="oss")
        auth._sign_request(request, "bkt", "k")
        assert "LTAIEXAMPLEKEYID" in request.headers["authorization"], VERSION
    assert len(calls) == 2, f"{VERSION}: ProviderAuth no longer calls get_credentials once per request"
    assert issubclass(ManagedOssCredentialsProvider, oss2.credentials.CredentialsProvider)


def test_body_adapter_internals_used_for_rewinding() -> None:
    adapter = oss2.utils.make_crc_adapter(b"abc")
    assert type(adapter) is _retry._BYTES_AND_FILE_ADAPTER, (
        f"{VERSION}: make_crc_adapter(bytes) now returns {type(adapter).__name__}; "
        "retried uploads would no longer be replayable"
    )
    for name in ("offset", "data", "crc_callback", "cipher_callback"):
        assert hasattr(adapter, name), f"{VERSION}: the CRC adapter lost its {name!r} attribute"
    assert callable(adapter.crc_callback.crc64.copy), f"{VERSION}: Crc64.crc64 is no longer a crcmod Crc"
    sized = oss2.utils.SizedFileAdapter(io.BytesIO(b"abc"), 3)
    assert type(sized) is _retry._SIZED_FILE_ADAPTER and hasattr(sized, "offset"), VERSION
    assert hasattr(sized, "file_object"), VERSION
    # put_object and upload_part check the CRC of the very adapter they passed to _do.
    for method in (oss2.Bucket.put_object, oss2.Bucket.upload_part):
        source = inspect.getsource(method)
        assert "make_crc_adapter" in source and "check_crc" in source, (
            f"{VERSION}: {method.__name__} no longer wraps its body as expected"
        )


@pytest.mark.parametrize(
    ("proxy", "original", "own"),
    [
        (ProxyBucket, oss2.Bucket, {"secret_name", "ak_expire_handler", "auth_version", "provider"}),
        (ProxyService, oss2.Service, {"secret_name", "ak_expire_handler", "auth_version", "provider"}),
    ],
)
def test_proxies_accept_every_sdk_argument(proxy: type, original: type, own: set[str]) -> None:
    theirs = set(inspect.signature(original.__init__).parameters) - {"self", "auth"}
    ours = set(inspect.signature(proxy.__init__).parameters) - {"self"}
    assert theirs <= ours, f"{VERSION}: {original.__name__} gained arguments {sorted(theirs - ours)}"
    assert ours - theirs == own


def test_proxy_bucket_keeps_the_original_positional_order() -> None:
    names = list(inspect.signature(ProxyBucket.__init__).parameters)[1:13]
    assert names == [
        "secret_name",
        "endpoint",
        "bucket_name",
        "is_cname",
        "session",
        "connect_timeout",
        "app_name",
        "enable_crc",
        "proxies",
        "region",
        "cloudbox_id",
        "ak_expire_handler",
    ]
