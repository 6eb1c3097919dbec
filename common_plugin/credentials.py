"""The managed RAM credential model and the parser from a GetSecretValue result.

Everything that needs JSON or date parsing happens once, when a secret is fetched; the snapshot a
signer reads is a frozen object whose secret fields stay out of ``repr``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .exceptions import MalformedSecretError
from .masking import mask_access_key_id

_LOGGER = logging.getLogger(__name__)

__all__ = ["ManagedCredential", "SecretValue", "parse_duration_seconds", "parse_timestamp", "same_key"]

RAM_CREDENTIALS_TYPE = "RAMCredentials"


@dataclass(frozen=True)
class SecretValue:
    """The fields of one GetSecretValue answer, whichever service gave it.

    ``secret_data`` is the plaintext and never appears in ``repr``.
    """

    secret_name: str
    secret_data: str = field(repr=False)
    secret_type: str = ""
    secret_data_type: str = "text"  # noqa: S105 - a data type name, not a password
    version_id: str = ""
    version_stages: tuple[str, ...] = ()
    create_time: str = ""
    last_rotation_date: str = ""
    next_rotation_date: str = ""
    extended_config: str = ""
    automatic_rotation: str = ""
    rotation_interval: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class ManagedCredential:
    """One version of a managed RAM credential: an AccessKey pair (and STS token) that belong together.

    Immutable, so a reader never sees an id from one version with the secret of another.
    Times are epoch seconds; durations are seconds.

    ``mandatory_refresh_at`` is stamped by the provider when it caches the credential
    (:meth:`~common_plugin.refresh_policy.RefreshPolicy.mandatory_refresh_at`): from then on
    ``CredentialsProvider.get`` refreshes before handing it out. Precomputed so that the read path
    is one comparison; ``math.inf`` (never) for a key that does not expire. Not part of equality.
    """

    secret_name: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    version_id: str = ""
    fetched_at: float = 0.0
    generated_at: float | None = None
    expires_at: float | None = None
    next_rotation_at: float | None = None
    rotation_interval_seconds: float | None = None
    refresh_interval_seconds: float | None = None
    schedule_rotate_at: float | None = None
    mandatory_refresh_at: float = field(default=math.inf, compare=False)

    @property
    def masked_access_key_id(self) -> str:
        """The AccessKeyId as it may appear in logs: ``LTAI****abcd``."""
        return mask_access_key_id(self.access_key_id)

    def __repr__(self) -> str:
        return (
            f"ManagedCredential(secret_name={self.secret_name!r}, "
            f"access_key_id={self.masked_access_key_id!r}, version_id={self.version_id!r}, "
            f"has_security_token={self.security_token is not None})"
        )

    @classmethod
    def from_secret_value(cls, value: SecretValue, fetched_at: float) -> ManagedCredential:
        """Parse a GetSecretValue result into a credential.

        Raises:
            MalformedSecretError: the secret is not a RAM credential or its SecretData lacks
                ``AccessKeyId``/``AccessKeySecret``. The message names the secret, never its value.
        """
        name = value.secret_name
        if value.secret_type and value.secret_type.lower() not in ("ramcredentials", "ram_credentials"):
            raise MalformedSecretError(
                f"secret {name!r} has SecretType {value.secret_type!r}, not {RAM_CREDENTIALS_TYPE!r}: "
                "name a managed RAM credential secret (Secrets Manager > RAM secrets)",
                secret_name=name,
            )
        try:
            data = json.loads(value.secret_data)
        except ValueError:
            raise MalformedSecretError(
                f"secret {name!r}: SecretData is not JSON; a managed RAM credential holds "
                '{"AccessKeyId": ..., "AccessKeySecret": ...}',
                secret_name=name,
            ) from None
        except RecursionError:  # the parser recurses once per nesting level
            raise MalformedSecretError(
                f"secret {name!r}: SecretData is JSON nested too deeply; a managed RAM credential "
                'holds a flat {"AccessKeyId": ..., "AccessKeySecret": ...}',
                secret_name=name,
            ) from None
        if not isinstance(data, dict):
            raise MalformedSecretError(
                f"secret {name!r}: SecretData is JSON but not an object; expected "
                '{"AccessKeyId": ..., "AccessKeySecret": ...}',
                secret_name=name,
            )
        key_id = data.get("AccessKeyId")
        key_secret = data.get("AccessKeySecret")
        if not isinstance(key_id, str) or not key_id or not isinstance(key_secret, str) or not key_secret:
            raise MalformedSecretError(
                f"secret {name!r}: SecretData lacks a non-empty AccessKeyId or AccessKeySecret; "
                "it is not a managed RAM credential",
                secret_name=name,
            )
        token = data.get("SecurityToken")
        unusable: list[str] = []

        def optional(parse: Any, raw: Any, field_name: str) -> Any:
            # Timing metadata only tunes refresh: a value we cannot read is skipped (and logged by
            # field name), never a reason to refuse a key that works.
            try:
                return parse(raw)
            except ValueError:
                unusable.append(field_name)
                return None

        cred = cls(
            secret_name=name,
            access_key_id=key_id,
            access_key_secret=key_secret,
            security_token=token if isinstance(token, str) and token else None,
            version_id=value.version_id,
            fetched_at=fetched_at,
            generated_at=optional(parse_timestamp, data.get("GenerateTimestamp"), "GenerateTimestamp"),
            expires_at=optional(
                parse_timestamp, data.get("ExpireTimestamp") or data.get("Expiration"), "ExpireTimestamp"
            ),
            next_rotation_at=optional(parse_timestamp, value.next_rotation_date, "NextRotationDate"),
            rotation_interval_seconds=optional(
                parse_duration_seconds, value.rotation_interval, "RotationInterval"
            ),
            refresh_interval_seconds=optional(
                parse_duration_seconds, _first(data, "RefreshInterval", "refreshInterval"), "RefreshInterval"
            ),
            schedule_rotate_at=optional(
                parse_timestamp,
                _first(data, "ScheduleRotateTimestamp", "scheduleRotateTimestamp"),
                "ScheduleRotateTimestamp",
            ),
        )
        if unusable:
            _LOGGER.warning(
                "secret %s: ignoring unreadable %s (refresh timing falls back to the defaults)",
                name,
                ", ".join(unusable),
            )
        return cred


def same_key(a: ManagedCredential, b: ManagedCredential) -> bool:
    """Whether two snapshots carry the same key: AccessKeyId, AccessKeySecret and SecurityToken.

    The one definition of "the key changed" (a renewed token or a re-issued secret under the same
    AccessKeyId is a change), used by the retry decision, the rejection gate and telemetry.
    """
    return (
        a.access_key_id == b.access_key_id
        and a.access_key_secret == b.access_key_secret
        and a.security_token == b.security_token
    )


def _first(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
)


def parse_timestamp(raw: Any) -> float | None:
    """Parse an ISO-8601 UTC time or an epoch number (seconds, or milliseconds when > 1e11).

    Returns epoch seconds, or ``None`` for an empty value.

    Raises:
        ValueError: the value is present but not a time. The message does not echo the value.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError("a timestamp field holds a boolean")
    if isinstance(raw, (int, float)):
        number = _finite(raw, "a timestamp field")
    else:
        text = str(raw).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            number = _finite(text, "a timestamp field")
        else:
            for fmt in _ISO_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                except ValueError:
                    continue
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=timezone.utc)
                return parsed.timestamp()
            raise ValueError("a timestamp field is neither ISO-8601 (2026-01-31T08:00:00Z) nor epoch seconds")
    return number / 1000.0 if number > 1e11 else number


def _finite(raw: float | str, what: str) -> float:
    """``float(raw)``, or ValueError for NaN, infinity and integers too large for a float."""
    try:
        number = float(raw)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{what} is not a finite number")
    return number


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_seconds(raw: Any) -> float | None:
    """Parse ``"604800s"``, ``"6h"``, ``3600`` or ``"3600"`` into seconds; ``None`` when empty.

    Raises:
        ValueError: the value is present but not a duration.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError("a duration field holds a boolean")
    if isinstance(raw, (int, float)):
        seconds = _finite(raw, "a duration field")
    else:
        match = _DURATION.fullmatch(str(raw).strip())
        if not match:
            raise ValueError("a duration field is not like '604800s', '6h' or a number of seconds")
        amount = _finite(match.group(1), "a duration field")
        seconds = _finite(amount * _UNITS[match.group(2)], "a duration field")  # '9'*308 + 'd' overflows
    if seconds < 0:
        raise ValueError("a duration field is negative")
    return seconds
