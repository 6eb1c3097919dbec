"""A throwaway certificate authority and a loopback server certificate for the emulator's TLS listeners.

Key generation is the slow part of starting an emulator, so :func:`default_bundle` and
:func:`server_context` build one CA and one server certificate per process and reuse them; each
emulator only writes its own copy of ``ca.pem``. The keys are EC P-256: fast to make, and accepted by
every client the emulator serves (requests/urllib3 through AcsClient, the DKMS Tea client, oss2).

Thread-safety: all functions are safe to call from any thread; the cached objects are immutable
(an ``ssl.SSLContext`` is safe to share once configured).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateBundle",
    "default_bundle",
    "generate_bundle",
    "instance_bundle",
    "instance_server_context",
    "server_context",
    "write_ca_file",
]

_VALIDITY = datetime.timedelta(days=7)
_lock = threading.Lock()
_bundle: CertificateBundle | None = None
_context: ssl.SSLContext | None = None
_instance_bundle: CertificateBundle | None = None
_instance_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class CertificateBundle:
    """PEM bytes of a CA certificate and of a server certificate (and key) it signed.

    The server certificate names ``IP:127.0.0.1`` and ``DNS:localhost``; the private key stays out of
    ``repr``.
    """

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Local Aliyun Emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_bundle(ca_common_name: str = "Local Aliyun Emulator CA") -> CertificateBundle:
    """Make a fresh CA and a server certificate for 127.0.0.1/localhost, valid for seven days."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(ca_common_name)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return CertificateBundle(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=server_cert.public_bytes(serialization.Encoding.PEM),
        key_pem=server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def default_bundle() -> CertificateBundle:
    """The process-wide bundle, generated on first use."""
    global _bundle
    with _lock:
        if _bundle is None:
            _bundle = generate_bundle()
        return _bundle


def _make_context(bundle: CertificateBundle) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain only reads files: write both PEMs to a private temporary directory, load, delete.
    with tempfile.TemporaryDirectory(prefix="local-aliyun-tls-") as tmp:
        chain = Path(tmp, "server.pem")
        key = Path(tmp, "server.key")
        chain.write_bytes(bundle.cert_pem + bundle.ca_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(bundle.key_pem)
        context.load_cert_chain(str(chain), str(key))
    return context


def instance_bundle() -> CertificateBundle:
    """The process-wide bundle of the emulated KMS instance, generated on first use.

    A CA of its own, as a real instance has (its ``PrivateKmsCA_<instance>.pem``): trusting the
    default bundle's CA (``ca.pem``) does not make the instance trusted.
    """
    global _instance_bundle
    with _lock:
        if _instance_bundle is None:
            _instance_bundle = generate_bundle("Local Aliyun Emulator KMS Instance CA")
        return _instance_bundle


def instance_server_context() -> ssl.SSLContext:
    """The shared server-side ``SSLContext`` presenting :func:`instance_bundle`'s certificate."""
    global _instance_context
    bundle = instance_bundle()
    with _lock:
        if _instance_context is None:
            _instance_context = _make_context(bundle)
        return _instance_context


def server_context(bundle: CertificateBundle | None = None) -> ssl.SSLContext:
    """A server-side ``SSLContext`` presenting ``bundle``'s certificate (default: the process bundle).

    The context for the default bundle is built once and shared.
    """
    global _context
    if bundle is not None:
        return _make_context(bundle)
    shared = default_bundle()
    with _lock:
        if _context is None:
            _context = _make_context(shared)
        return _context


def write_ca_file(
    directory: str | os.PathLike[str], bundle: CertificateBundle | None = None, name: str = "ca.pem"
) -> Path:
    """Write ``name`` (the CA certificate clients should trust) into ``directory``; return its path."""
    path = Path(directory, name)
    path.write_bytes((bundle or default_bundle()).ca_pem)
    return path
