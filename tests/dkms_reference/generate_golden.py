"""Write ``tests/fixtures/dkms_golden.json``: what alibabacloud-dkms-gcs 1.0.2 sends for fixed inputs.

Run it in the reference environment (``make test-dkms-reference`` creates it)::

    PYTHONPATH=. .venv-dkms-reference/bin/python tests/dkms_reference/generate_golden.py

The client key fixtures are made on the first run only (an RSA-2048 key in a PBES2/AES-256 PKCS#12,
and the same key in a legacy RC2/3DES PKCS#12 by ``openssl pkcs12 -export -legacy``), so re-running
the script reproduces the same golden file. For each case the real client's request is taken as
its transport receives it (the ordered header dict and the body), with the date and user agent
fixed (the real client's own date code runs under a frozen ``time.time``); one case is also sent
over a loopback socket to record the exact bytes on the wire (see ``dkms_gcs.py``).
``tests/test_dkms_golden.py`` checks the product's client against the result.
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures"
KEY_FILE = FIXTURES / "dkms_client_key.json"
LEGACY_KEY_FILE = FIXTURES / "dkms_client_key_legacy.json"
GOLDEN_FILE = FIXTURES / "dkms_golden.json"
KEY_ID = "KAAP.7e0c5c2a-3f6b-4c61-9a57-golden000001"
PASSWORD = "golden-fixture-password"  # noqa: S105 - a published test key, used nowhere else
EPOCH = 1_800_000_000  # Fri, 15 Jan 2027 08:00:00 GMT
DATE = "Fri, 15 Jan 2027 08:00:00 GMT"
USER_AGENT = (
    "AlibabaCloud (Linux; x86_64) Python/3.11.7 managed-credentials-providers "
    "kms-gcs-python-sdk-version/1.0.2"
)
ENDPOINT = "kst-hzz65f5e8b2n1y1mvn0xa.cryptoservice.kms.aliyuncs.com"
CASES: list[dict[str, Any]] = [
    # What DkmsSource asks for.
    {"secret_name": "db-pass", "version_stage": "ACSCurrent", "fetch_extended_config": True},
    {"secret_name": "app/ünïcødé 密钥 🔑", "version_stage": "ACSPrevious", "version_id": "v2-0a1b2c3d"},
    {"secret_name": "x"},
    {"secret_name": "s" * 300, "version_id": "v" * 130, "fetch_extended_config": True},  # 2-byte lengths
]

sys.path[:0] = [str(TESTS), str(Path(__file__).resolve().parent)]


def _make_key_fixtures() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KEY_ID)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key, hashes.SHA256())
    )
    p12 = pkcs12.serialize_key_and_certificates(
        KEY_ID.encode(),
        key,
        cert,
        None,
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD.encode()),
    )
    _write_key(KEY_FILE, p12)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("the legacy key fixture needs the openssl command")
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp, "key.pem")
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        out = Path(tmp, "legacy.p12")
        subprocess.run(  # noqa: S603 - fixed arguments
            [openssl, "pkcs12", "-export", "-legacy", "-in", str(pem), "-out", str(out)]
            + ["-passout", f"pass:{PASSWORD}"],
            check=True,
        )
        _write_key(LEGACY_KEY_FILE, out.read_bytes())


def _write_key(path: Path, p12: bytes) -> None:
    document = {"KeyId": KEY_ID, "PrivateKeyData": base64.b64encode(p12).decode()}
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    from dkms_gcs import date_of, make_client, transport_request, wire_request

    if not KEY_FILE.exists():
        _make_key_fixtures()
    if date_of(EPOCH) != DATE:
        raise SystemExit(f"the client formats {EPOCH} as {date_of(EPOCH)!r}")
    content, legacy = KEY_FILE.read_text(encoding="utf-8"), LEGACY_KEY_FILE.read_text(encoding="utf-8")
    client = make_client(ENDPOINT, content, PASSWORD, user_agent=USER_AGENT)
    legacy_client = make_client(ENDPOINT, legacy, PASSWORD, user_agent=USER_AGENT)
    cases = []
    for case in CASES:
        headers, body, to_sign = transport_request(client, case, EPOCH)
        if transport_request(legacy_client, case, EPOCH)[0] != headers:
            raise SystemExit("the legacy PKCS#12 of the same key signed differently")
        cases.append({"request": case, "body_hex": body.hex(), "headers": headers, "string_to_sign": to_sign})
    host, raw = wire_request(CASES[0], EPOCH, content, PASSWORD, user_agent=USER_AGENT)
    raw = raw.replace(host.encode(), b"{host}")  # the loopback port changes from run to run
    golden = {
        "generator": "tests/dkms_reference/generate_golden.py (alibabacloud-dkms-gcs 1.0.2)",
        "key_files": [KEY_FILE.name, LEGACY_KEY_FILE.name],
        "password": PASSWORD,
        "epoch": EPOCH,
        "date": DATE,
        "user_agent": USER_AGENT,
        "endpoint": ENDPOINT,
        "cases": cases,
        "wire": {"request": CASES[0], "raw_b64": base64.b64encode(raw).decode()},
    }
    GOLDEN_FILE.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN_FILE.relative_to(TESTS.parent)} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
