"""The emulated cloud's state: access keys, secrets and their versions, counters and faults.

Shared by every emulated service (DKMS, KMS gateway, generic RPC, STS, OSS). All methods are
thread-safe; times come from an injectable clock, so tests rotate and expire keys without sleeping.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock

__all__ = [
    "AccessKey",
    "CloudState",
    "Fault",
    "FaultPlan",
    "Secret",
    "SecretVersion",
    "iso_utc",
]


def iso_utc(epoch: float) -> str:
    """``2026-11-23T12:00:00Z`` for an epoch time."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AccessKey:
    """An AccessKey known to the emulated RAM. ``status`` is ``Active`` or ``Inactive``."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    status: str = "Active"
    created_at: float = 0.0
    revoke_at: float | None = None  # after this time the key no longer exists (rotation grace)
    security_token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None
    assumed_role_arn: str | None = None  # set for STS keys issued by AssumeRole
    role_session_name: str | None = None


@dataclass
class SecretVersion:
    version_id: str
    secret_data: str = field(repr=False)
    stages: set[str] = field(default_factory=set)
    created_at: float = 0.0
    access_key_id: str | None = None  # for RAM credential secrets


@dataclass
class Secret:
    name: str
    secret_type: str  # "RAMCredentials" or "Generic"
    extended_config: str = ""
    versions: list[SecretVersion] = field(default_factory=list)
    rotation_interval_seconds: float | None = None
    next_rotation_at: float | None = None
    last_rotation_at: float | None = None
    created_at: float = 0.0
    with_sts_token: bool = False
    token_ttl_seconds: float = 3600.0

    @property
    def current(self) -> SecretVersion:
        for version in reversed(self.versions):
            if "ACSCurrent" in version.stages:
                return version
        raise LookupError(f"secret {self.name!r} has no ACSCurrent version")


@dataclass
class Fault:
    """One injected failure.

    kind:
        ``status``   answer ``status`` with ``code`` in the service's own error format;
        ``latency``  wait ``seconds`` (real time; cut short when the emulator stops) then serve;
        ``reset``    close the connection without answering;
        ``truncate`` send headers and half the body, then close;
        ``garbage``  answer 200 with a body that is not the service's format;
        ``trickle``  serve normally, but send the whole reply (status line, headers, body)
                     ``chunk_bytes`` at a time, ``seconds`` apart (real time), then close: a
                     server slow enough to defeat per-read timeouts. It stops early when the
                     client hangs up or the emulator stops.
    """

    kind: str
    status: int = 500
    code: str = "InternalFailure"
    seconds: float = 0.0
    chunk_bytes: int = 1


@dataclass
class _PlannedFault:
    fault: Fault
    remaining: int | None  # None: until cleared
    probability: float
    action: str | None


class FaultPlan:
    """Faults queued for one service: for the next N requests, or with a probability."""

    def __init__(self, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._planned: list[_PlannedFault] = []
        self._rng = rng

    def add(
        self,
        fault: Fault,
        *,
        count: int | None = 1,
        probability: float = 1.0,
        action: str | None = None,
    ) -> None:
        """Queue ``fault`` for the next ``count`` matching requests (``None``: until ``clear``)."""
        with self._lock:
            self._planned.append(_PlannedFault(fault, count, probability, action))

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()

    def take(self, action: str | None = None) -> Fault | None:
        """The fault to apply to a request for ``action``, consuming one use of it, or ``None``."""
        with self._lock:
            for planned in self._planned:
                if planned.action is not None and planned.action != action:
                    continue
                if planned.probability < 1.0 and self._rng.random() >= planned.probability:
                    continue
                if planned.remaining is not None:
                    planned.remaining -= 1
                    if planned.remaining <= 0:
                        self._planned.remove(planned)
                return planned.fault
            return None


def _new_security_token() -> str:
    """A token shaped like STS's: ``CAIS`` and standard base64 (``+``, ``/``, ``=`` padding), so that
    it changes when URL-encoded, as real tokens do in query strings and strings to sign."""
    return "CAIS" + base64.b64encode(secrets.token_bytes(128)).decode("ascii")


class CloudState:
    """Keys, secrets, counters and faults of one emulated cloud account.

    Args:
        clock: the time source for rotation, grace periods and token expiry.
        seed: seeds the fault-probability generator, for repeatable runs.
    """

    SERVICES = ("dkms", "kms", "kms_instance", "rpc", "sts", "oss", "admin", "log", "maxcompute")

    def __init__(self, clock: Clock = SYSTEM_CLOCK, seed: int | None = None) -> None:
        self.clock = clock
        self.account_id = "1234567890123456"
        self._lock = threading.RLock()
        self._keys: dict[str, AccessKey] = {}
        self._secrets: dict[str, Secret] = {}
        self._counters: Counter[tuple[str, str, str]] = Counter()
        self._error_codes: Counter[tuple[str, str]] = Counter()
        self._trickled: Counter[str] = Counter()
        self._client_keys: dict[str, Any] = {}  # KeyId -> RSA public key of an issued client key
        rng = random.Random(seed)  # noqa: S311 - fault timing, not security
        self.faults: dict[str, FaultPlan] = {name: FaultPlan(rng) for name in self.SERVICES}

    # ---- access keys -------------------------------------------------------------------------
    def create_access_key(
        self, *, with_sts_token: bool = False, token_ttl_seconds: float = 3600.0
    ) -> AccessKey:
        """Issue a new Active key (an STS-style ``STS.`` id with a token when ``with_sts_token``)."""
        now = self.clock.time()
        prefix = "STS." if with_sts_token else "LTAI"
        key = AccessKey(
            access_key_id=prefix + secrets.token_hex(10).upper(),
            access_key_secret=secrets.token_urlsafe(22),
            created_at=now,
            security_token=_new_security_token() if with_sts_token else None,
            token_expires_at=(now + token_ttl_seconds) if with_sts_token else None,
        )
        with self._lock:
            self._keys[key.access_key_id] = key
        return key

    def lookup_key(self, access_key_id: str) -> AccessKey | None:
        """The key if it still exists (its rotation grace not yet over), else ``None``."""
        with self._lock:
            key = self._keys.get(access_key_id)
            if key is None:
                return None
            if key.revoke_at is not None and self.clock.time() >= key.revoke_at:
                del self._keys[access_key_id]
                return None
            return key

    def revoke_key(self, access_key_id: str, *, after_seconds: float = 0.0) -> None:
        """Delete a key now, or after a grace period."""
        with self._lock:
            key = self._keys.get(access_key_id)
            if key is None:
                return
            if after_seconds <= 0:
                del self._keys[access_key_id]
            else:
                key.revoke_at = self.clock.time() + after_seconds

    def set_key_status(self, access_key_id: str, status: str) -> None:
        """Set ``Active`` or ``Inactive`` (disabled keys get ``InvalidAccessKeyId.Inactive``)."""
        if status not in ("Active", "Inactive"):
            raise ValueError("status must be 'Active' or 'Inactive'")
        with self._lock:
            self._keys[access_key_id].status = status

    def valid_key_ids(self) -> list[str]:
        with self._lock:
            return [k for k in list(self._keys) if self.lookup_key(k) is not None]

    # ---- secrets -----------------------------------------------------------------------------
    def create_ram_secret(
        self,
        name: str,
        *,
        rotation_interval_seconds: float | None = None,
        next_rotation_at: float | None = None,
        with_sts_token: bool = False,
        token_ttl_seconds: float = 3600.0,
        extra_data: dict[str, object] | None = None,
    ) -> Secret:
        """Create a managed RAM credential secret with a fresh key as version 1 (ACSCurrent)."""
        now = self.clock.time()
        secret = Secret(
            name=name,
            secret_type="RAMCredentials",
            extended_config=json.dumps({"SecretSubType": "RamUserAccessKey", "UserName": "app-user"}),
            rotation_interval_seconds=rotation_interval_seconds,
            next_rotation_at=next_rotation_at
            if next_rotation_at is not None
            else (now + rotation_interval_seconds if rotation_interval_seconds else None),
            created_at=now,
            with_sts_token=with_sts_token,
            token_ttl_seconds=token_ttl_seconds,
        )
        with self._lock:
            if name in self._secrets:
                raise ValueError(f"secret {name!r} already exists")
            self._secrets[name] = secret
            self._add_ram_version(secret, extra_data)
        return secret

    def create_generic_secret(self, name: str, data: str) -> Secret:
        """Create a Generic (non-RAM) secret holding ``data``."""
        now = self.clock.time()
        secret = Secret(name=name, secret_type="Generic", created_at=now)
        secret.versions.append(SecretVersion("v1", data, {"ACSCurrent"}, now))
        with self._lock:
            if name in self._secrets:
                raise ValueError(f"secret {name!r} already exists")
            self._secrets[name] = secret
        return secret

    def _add_ram_version(self, secret: Secret, extra_data: dict[str, object] | None = None) -> SecretVersion:
        key = self.create_access_key(
            with_sts_token=secret.with_sts_token, token_ttl_seconds=secret.token_ttl_seconds
        )
        return self._add_version_for_key(secret, key, extra_data)

    def _add_version_for_key(
        self, secret: Secret, key: AccessKey, extra_data: dict[str, object] | None = None
    ) -> SecretVersion:
        now = self.clock.time()
        data: dict[str, object] = {
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": key.access_key_secret,
            "GenerateTimestamp": iso_utc(now),
        }
        if key.security_token:
            data["SecurityToken"] = key.security_token
            data["ExpireTimestamp"] = iso_utc(key.token_expires_at or now)
        if extra_data:
            data.update(extra_data)
        for old in secret.versions:
            old.stages.discard("ACSCurrent")
            if "ACSPrevious" in old.stages:
                old.stages.discard("ACSPrevious")
        if secret.versions:
            secret.versions[-1].stages.add("ACSPrevious")
        version = SecretVersion(
            version_id=f"v{len(secret.versions) + 1}-{uuid.uuid4().hex[:8]}",
            secret_data=json.dumps(data),
            stages={"ACSCurrent"},
            created_at=now,
            access_key_id=key.access_key_id,
        )
        secret.versions.append(version)
        return version

    def get_secret(self, name: str) -> Secret | None:
        with self._lock:
            return self._secrets.get(name)

    def rotate(self, name: str, *, grace_seconds: float = 0.0) -> SecretVersion:
        """Rotate a RAM secret: a new key becomes ACSCurrent; the old key is revoked now or after
        ``grace_seconds``. The next rotation date moves one interval ahead."""
        with self._lock:
            secret = self._secrets[name]
            if secret.secret_type != "RAMCredentials":
                raise ValueError(f"secret {name!r} is not a RAM credential")
            old = secret.current
            version = self._add_ram_version(secret)
            now = self.clock.time()
            secret.last_rotation_at = now
            if secret.rotation_interval_seconds:
                secret.next_rotation_at = now + secret.rotation_interval_seconds
            if old.access_key_id:
                self.revoke_key(old.access_key_id, after_seconds=grace_seconds)
            return version

    def reissue(self, name: str, *, new_secret: bool = True, new_token: bool = True) -> SecretVersion:
        """A new version of a RAM secret that keeps its AccessKeyId: the key gets a new AccessKeySecret
        (``new_secret``) and, if it has one, a new SecurityToken (``new_token``). The old secret and
        token stop working at once (requests signed with them get ``SignatureDoesNotMatch`` or an
        ``InvalidSecurityToken`` code)."""
        with self._lock:
            secret = self._secrets[name]
            key = self._keys[secret.current.access_key_id or ""]
            if new_secret:
                key.access_key_secret = secrets.token_urlsafe(22)
            if new_token and key.security_token is not None:
                key.security_token = "CAIS" + secrets.token_urlsafe(48)
                key.token_expires_at = self.clock.time() + secret.token_ttl_seconds
            return self._add_version_for_key(secret, key)

    def set_rotation(
        self, name: str, *, interval_seconds: float | None = None, next_rotation_at: float | None = None
    ) -> None:
        with self._lock:
            secret = self._secrets[name]
            if interval_seconds is not None:
                secret.rotation_interval_seconds = interval_seconds
            if next_rotation_at is not None:
                secret.next_rotation_at = next_rotation_at

    def rotate_due(self) -> list[str]:
        """Rotate (with no grace) every secret whose next rotation date has passed; return their names."""
        now = self.clock.time()
        with self._lock:
            due = [
                s.name
                for s in self._secrets.values()
                if s.secret_type == "RAMCredentials"
                and s.next_rotation_at is not None
                and s.next_rotation_at <= now
            ]
        for name in due:
            self.rotate(name)
        return due

    def current_key(self, name: str) -> AccessKey:
        """The AccessKey of a RAM secret's ACSCurrent version."""
        with self._lock:
            key_id = self._secrets[name].current.access_key_id
            key = self._keys.get(key_id or "")
            if key is None:
                raise LookupError(f"the current key of secret {name!r} was revoked")
            return key

    def get_secret_value_fields(
        self,
        name: str,
        *,
        fetch_extended_config: bool = True,
        version_id: str | None = None,
        version_stage: str | None = None,
    ) -> dict[str, object]:
        """The GetSecretValue fields for one version of ``name``, as the KMS gateway names them.

        The version is ``version_id`` if given, else the newest one holding ``version_stage``
        (default ``ACSCurrent``).

        Raises:
            KeyError: no such secret or version (services answer ``Forbidden.ResourceNotFound``).
        """
        with self._lock:
            secret = self._secrets[name]
            version = self._find_version(secret, version_id, version_stage)
            return {
                "SecretName": secret.name,
                "SecretType": secret.secret_type,
                "SecretData": version.secret_data,
                "SecretDataType": "text",
                "VersionId": version.version_id,
                "VersionStages": sorted(version.stages),
                "CreateTime": iso_utc(version.created_at),
                "LastRotationDate": iso_utc(secret.last_rotation_at) if secret.last_rotation_at else "",
                "NextRotationDate": iso_utc(secret.next_rotation_at) if secret.next_rotation_at else "",
                "ExtendedConfig": secret.extended_config if fetch_extended_config else "",
                "AutomaticRotation": "Enabled" if secret.rotation_interval_seconds else "Disabled",
                "RotationInterval": f"{int(secret.rotation_interval_seconds)}s"
                if secret.rotation_interval_seconds
                else "",
            }

    def _find_version(
        self, secret: Secret, version_id: str | None, version_stage: str | None
    ) -> SecretVersion:
        if not version_id and not version_stage:
            return secret.current
        for version in reversed(secret.versions):
            if version_id and version.version_id != version_id:
                continue
            if version_stage and version_stage not in version.stages:
                continue
            return version
        raise KeyError(secret.name)

    def secret_names(self) -> list[str]:
        """The names of all secrets, sorted."""
        with self._lock:
            return sorted(self._secrets)

    # ---- client keys (issued by the DKMS service, also accepted by the KMS gateway) ----------
    def register_client_key(self, key_id: str, public_key: Any) -> None:
        with self._lock:
            self._client_keys[key_id] = public_key

    def forget_client_key(self, key_id: str) -> None:
        with self._lock:
            self._client_keys.pop(key_id, None)

    def client_public_key(self, key_id: str) -> Any:
        """The RSA public key of client key ``key_id``, or ``None`` when unknown or revoked."""
        with self._lock:
            return self._client_keys.get(key_id)

    # ---- counters ----------------------------------------------------------------------------
    def record(self, service: str, action: str, access_key_id: str = "") -> None:
        with self._lock:
            self._counters[(service, action, access_key_id)] += 1

    def count(self, service: str, action: str | None = None, access_key_id: str | None = None) -> int:
        """How many requests ``service`` received (for ``action`` / signed by ``access_key_id``)."""
        with self._lock:
            return sum(
                n
                for (svc, act, key), n in self._counters.items()
                if svc == service
                and (action is None or act == action)
                and (access_key_id is None or key == access_key_id)
            )

    def record_error(self, service: str, code: str) -> None:
        with self._lock:
            self._error_codes[(service, code)] += 1

    def error_count(self, service: str, code: str | None = None) -> int:
        """How many error replies ``service`` sent (with ``code``, e.g. ``SignatureDoesNotMatch``)."""
        with self._lock:
            return sum(n for (svc, c), n in self._error_codes.items() if svc == service and code in (None, c))

    def record_trickled(self, service: str, count: int = 1) -> None:
        with self._lock:
            self._trickled[service] += count

    def trickled_bytes(self, service: str) -> int:
        """How many bytes ``trickle`` faults on ``service`` have sent so far."""
        with self._lock:
            return self._trickled[service]

    def counts(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters.clear()
            self._error_codes.clear()
            self._trickled.clear()
