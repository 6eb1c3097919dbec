"""``allow_insecure_http``: a plain ``http://`` endpoint is refused unless the configuration opts in.

Over ``http://`` a GetSecretValue request and the secret it returns (a DKMS instance, the KMS
gateway), or the STS key an AssumeRole returns (``sts_endpoint``), cross the network readable by
anyone on the path, and a ``kms_ca_file_path`` or ``caFilePath`` does not change that. A local
emulator or test may opt in with ``allow_insecure_http=true``; the sources then warn with
:class:`~common_plugin.exceptions.InsecureTransportWarning`. An endpoint without a scheme
(``host[:port]``) means HTTPS.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import validation as v
from .endpoints import DkmsInstanceConfig, KmsRegionConfig
from .validation import Entry, error

__all__ = ["ALLOW_INSECURE_HTTP_KEY", "allow_insecure_http", "is_plain_http"]

ALLOW_INSECURE_HTTP_KEY = "allow_insecure_http"


def is_plain_http(endpoint: str | None) -> bool:
    """Whether ``endpoint`` names the ``http://`` scheme (any case)."""
    return endpoint is not None and endpoint.strip().lower().startswith("http://")


def allow_insecure_http(
    present: Mapping[str, Entry],
    dkms: tuple[DkmsInstanceConfig, ...],
    regions: tuple[KmsRegionConfig, ...],
    dkms_key: str,
    regions_key: str,
) -> bool:
    """The value of ``allow_insecure_http``, after refusing any ``http://`` endpoint it does not allow.

    Raises:
        ConfigError: the opt-in is not a boolean, or an endpoint is ``http://`` without it. The
            message names the key (and array index) and both fixes, never the endpoint.
    """
    entry = present.get(ALLOW_INSECURE_HTTP_KEY)
    if entry is not None and v.parse_bool(entry.value, entry.label, entry.key):
        return True
    found = [
        (f"{present[dkms_key].label}[{i}].endpoint", dkms_key)
        for i, instance in enumerate(dkms)
        if is_plain_http(instance.endpoint)
    ]
    found += [
        (f"{present[regions_key].label}[{i}].endpoint", regions_key)
        for i, region in enumerate(regions)
        if is_plain_http(region.endpoint)
    ]
    sts = present.get("sts_endpoint")
    if sts is not None and is_plain_http(sts.value):
        found.append((sts.label, sts.key))
    if found:
        label, key = found[0]
        raise error(
            f"{label}: a plain http:// endpoint would send secrets unencrypted; use https:// (or "
            f"host[:port], which means https), or, for a local emulator or test only, set "
            f"{ALLOW_INSECURE_HTTP_KEY}=true",
            key,
        )
    return False
