"""Opening DKMS client keys (every PKCS#12 encryption a real key may use) and the string to sign."""

from __future__ import annotations

import base64
import datetime
import json
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from common_plugin.exceptions import SecretFetchError
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_signing import (
    ClientKeyError,
    DkmsClientKey,
    string_to_sign,
    user_agent,
)

PASSWORD = "p12-pass"  # noqa: S105 - a throwaway test password
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KAAP.test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def _document(p12: bytes, key_id: str = "KAAP.test") -> str:
    return json.dumps({"KeyId": key_id, "PrivateKeyData": base64.b64encode(p12).decode()})


ENCRYPTIONS: dict[str, Callable[[], serialization.KeySerializationEncryption]] = {
    "best available (PBES2, AES-256)": lambda: serialization.BestAvailableEncryption(PASSWORD.encode()),
    "PBES2 SHA-256 AES-256, 2048 rounds": lambda: (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD.encode())
    ),
    "legacy 3DES, SHA-1 MAC": lambda: (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format under test
        .build(PASSWORD.encode())
    ),
}


@pytest.mark.parametrize("encryption", ENCRYPTIONS.values(), ids=ENCRYPTIONS.keys())
@pytest.mark.parametrize("with_certificate", [True, False], ids=["with-cert", "key-only"])
def test_pkcs12_encryptions_open_and_sign(
    rsa_key: rsa.RSAPrivateKey,
    encryption: Callable[[], serialization.KeySerializationEncryption],
    with_certificate: bool,
) -> None:
    cert = _certificate(rsa_key) if with_certificate else None
    p12 = pkcs12.serialize_key_and_certificates(b"k", rsa_key, cert, None, encryption())
    key = DkmsClientKey.from_json(_document(p12), PASSWORD)
    authorization = key.sign("text to sign")
    assert authorization.startswith("Bearer ")
    rsa_key.public_key().verify(
        base64.b64decode(authorization[7:]), b"text to sign", padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_pkcs12_made_by_openssl_legacy_opens(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """``openssl pkcs12 -export -legacy``: RC2-40 for the certificate, 3DES for the key."""
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + _certificate(rsa_key).public_bytes(serialization.Encoding.PEM)
    )
    out = tmp_path / "legacy.p12"
    subprocess.run(  # noqa: S603 - fixed arguments
        [str(shutil.which("openssl")), "pkcs12", "-export", "-legacy", "-in", str(pem), "-out", str(out)]
        + ["-passout", f"pass:{PASSWORD}"],
        check=True,
        capture_output=True,
    )
    key = DkmsClientKey.from_json(_document(out.read_bytes()), PASSWORD)
    signature = base64.b64decode(key.sign("x")[7:])
    rsa_key.public_key().verify(signature, b"x", padding.PKCS1v15(), hashes.SHA256())


def test_the_committed_legacy_fixture_opens() -> None:
    golden = json.loads((FIXTURES / "dkms_golden.json").read_text(encoding="utf-8"))
    modern = DkmsClientKey.from_json((FIXTURES / "dkms_client_key.json").read_text(), golden["password"])
    legacy = DkmsClientKey.from_json(
        (FIXTURES / "dkms_client_key_legacy.json").read_text(), golden["password"]
    )
    assert legacy.sign("same key") == modern.sign("same key")


def _p12(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"k", key, _certificate(key), None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )


@pytest.mark.parametrize(
    ("content", "password", "reason"),
    [
        ("not json", PASSWORD, "not JSON"),
        ('["KeyId"]', PASSWORD, "lacks KeyId or PrivateKeyData"),
        ('{"KeyId": "KAAP.x"}', PASSWORD, "lacks KeyId or PrivateKeyData"),
        ('{"KeyId": "KAAP.x", "PrivateKeyData": "%%%"}', PASSWORD, "damaged PKCS#12"),
        (None, "wrong password", "wrong password"),
        ("with-space", PASSWORD, "spaces or control characters"),
        ("ec", PASSWORD, "no RSA private key"),
    ],
)
def test_unusable_client_keys_are_named(
    rsa_key: rsa.RSAPrivateKey, content: str | None, password: str, reason: str
) -> None:
    if content is None:
        content = _document(_p12(rsa_key))
    elif content == "with-space":
        content = _document(_p12(rsa_key), key_id="KAAP.x ")
    elif content == "ec":
        content = _document(_p12(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ClientKeyError, match=reason) as info:
        DkmsClientKey.from_json(content, password)
    assert PASSWORD not in str(info.value)


def test_dkms_source_reports_an_unusable_key_as_before(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SecretFetchError) as info:
        DkmsSource(
            region_id="cn-hangzhou",
            endpoint="127.0.0.1:9",
            client_key_content=_document(_p12(rsa_key)),
            password="wrong",
        )
    assert info.value.code == "SDK.InvalidClientKey"
    assert "127.0.0.1:9" in str(info.value) and "check clientKeyFile and its password" in str(info.value)


def test_the_private_key_stays_out_of_repr(rsa_key: rsa.RSAPrivateKey) -> None:
    key = DkmsClientKey.from_json(_document(_p12(rsa_key)), PASSWORD)
    assert repr(key) == "DkmsClientKey(key_id='KAAP.test')"


def test_string_to_sign_sorts_and_trims_the_kms_headers() -> None:
    headers = [
        ("x-kms-b", "  two "),
        ("date", "D"),
        ("x-kms-a", "one"),
        ("content-type", "T"),
        ("content-sha256", "H"),
        ("user-agent", "ignored"),
        ("Content-Length", "3"),
    ]
    assert string_to_sign("POST", headers) == "POST\nH\nT\nD\nx-kms-a:one\nx-kms-b:two\n/"
    assert string_to_sign("POST", []) == "POST\n\n\n\n/"


def test_user_agent_has_the_dkms_gcs_form() -> None:
    assert user_agent("app/1") == (
        f"AlibabaCloud ({platform.system()}; {platform.machine()}) Python/{platform.python_version()} "
        "app/1 kms-gcs-python-sdk-version/1.0.2"
    )
