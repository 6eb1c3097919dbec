"""The credential used to reach the KMS shared gateway: ``credentials_type`` and its keys.

Types (``credentials_type``, case-insensitive):

* ``ak``: ``credentials_access_key_id`` + ``credentials_access_secret``;
* ``token`` (legacy): ``credentials_access_token_id`` + ``credentials_access_token``; the system we
  replace used them as a plain AccessKey, and so do we: the result has type ``ak``;
* ``sts`` and ``ram_role`` (identical, kept apart only by name): ``credentials_role_arn`` plus the
  AccessKey pair that assumes the role; ``credentials_role_session_name`` is optional;
* ``ecs_ram_role``: ``credentials_role_name`` (the instance RAM role, via instance metadata);
* ``client_key``: ``client_key_private_key_path`` plus exactly one of
  ``client_key_password_from_file_path`` / ``client_key_password_from_env_variable``; the key is
  opened at load time to prove the password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..masking import mask_access_key_id
from . import validation as v
from .validation import Entry, error

__all__ = ["CREDENTIALS_TYPES", "GatewayCredentialsConfig", "parse_credentials"]

CREDENTIALS_TYPES = ("ak", "sts", "ram_role", "ecs_ram_role", "client_key")
_TYPE_LIKE = re.compile(r"[A-Za-z][A-Za-z_-]{0,19}\Z")
_LEGACY_TYPES = ("token",)
_TYPE_KEY = "credentials_type"


@dataclass(frozen=True)
class GatewayCredentialsConfig:
    """How to authenticate to the KMS shared gateway. Only the fields of ``type`` are set.

    Attributes:
        type: one of :data:`CREDENTIALS_TYPES` (legacy ``token`` becomes ``ak``).
        access_key_id: for ``ak``, ``sts``, ``ram_role``.
        access_key_secret: its secret (never in ``repr``).
        role_arn: for ``sts``/``ram_role``.
        role_session_name: for ``sts``/``ram_role``; ``None`` lets the caller pick a default.
        role_name: for ``ecs_ram_role``.
        client_key_file: for ``client_key``: absolute path of the ClientKey JSON file.
        client_key_id: its ``KeyId``.
        client_key_content: the ClientKey JSON text (never in ``repr``).
        client_key_password: its password (never in ``repr``).
        client_key_password_source: ``"file /abs/path"`` or ``"env VAR"``, for messages.
    """

    type: str
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    role_session_name: str | None = None
    role_name: str | None = None
    client_key_file: Path | None = None
    client_key_id: str | None = None
    client_key_content: str | None = field(default=None, repr=False)
    client_key_password: str | None = field(default=None, repr=False)
    client_key_password_source: str | None = None

    def __repr__(self) -> str:
        parts = [f"type={self.type!r}"]
        if self.access_key_id is not None:
            parts.append(f"access_key_id={mask_access_key_id(self.access_key_id)!r}")
        for name in ("role_arn", "role_session_name", "role_name", "client_key_file", "client_key_id"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.client_key_password_source is not None:
            parts.append(f"client_key_password_source={self.client_key_password_source!r}")
        return f"GatewayCredentialsConfig({', '.join(parts)})"


def parse_credentials(
    present: Mapping[str, Entry], environ: Mapping[str, str]
) -> GatewayCredentialsConfig | None:
    """Build the gateway credential from the non-empty entries, or ``None`` without ``credentials_type``.

    Raises:
        ConfigError: unknown type, or a key the type needs is missing (the message names the key).
    """
    type_entry = present.get(_TYPE_KEY)
    if type_entry is None:
        return None
    kind = type_entry.value.lower()
    if kind not in CREDENTIALS_TYPES + _LEGACY_TYPES:
        # A type name is no secret, but a value pasted on the wrong line may be: echo only what
        # looks like a type name (an AccessKeyId is 24 characters, a secret 30).
        given = repr(type_entry.value) if _TYPE_LIKE.match(type_entry.value) else "(not shown)"
        raise error(
            f"{type_entry.where}: unknown credentials type {given}; use one of "
            f"{', '.join(CREDENTIALS_TYPES)}{v.did_you_mean(kind, CREDENTIALS_TYPES)}",
            _TYPE_KEY,
        )

    def need(key: str) -> str:
        entry = present.get(key)
        if entry is None:
            raise error(f"credentials_type {kind!r} needs {key}, which is missing or empty", key)
        return entry.value

    def optional(key: str) -> str | None:
        entry = present.get(key)
        return None if entry is None else entry.value

    if kind == "token":
        return GatewayCredentialsConfig(
            "ak", need("credentials_access_token_id"), need("credentials_access_token")
        )
    if kind == "ak":
        return GatewayCredentialsConfig(
            kind, need("credentials_access_key_id"), need("credentials_access_secret")
        )
    if kind in ("sts", "ram_role"):
        return GatewayCredentialsConfig(
            kind,
            access_key_id=need("credentials_access_key_id"),
            access_key_secret=need("credentials_access_secret"),
            role_arn=need("credentials_role_arn"),
            role_session_name=optional("credentials_role_session_name"),
        )
    if kind == "ecs_ram_role":
        return GatewayCredentialsConfig(kind, role_name=need("credentials_role_name"))
    return _client_key_credentials(present, environ, need("client_key_private_key_path"))


def _client_key_credentials(
    present: Mapping[str, Entry], environ: Mapping[str, str], _path: str
) -> GatewayCredentialsConfig:
    path_entry = present["client_key_private_key_path"]
    from_file = present.get("client_key_password_from_file_path")
    from_env = present.get("client_key_password_from_env_variable")
    if (from_file is None) == (from_env is None):
        raise error(
            "credentials_type 'client_key' needs exactly one of client_key_password_from_file_path "
            "(a file holding the password) or client_key_password_from_env_variable (the name of a "
            "variable holding it)",
            "client_key_password_from_file_path",
        )
    if from_file is not None:
        password = v.password_from_file(from_file.value, from_file.label, from_file.key, from_file.base_dir)
    else:
        env_entry = present["client_key_password_from_env_variable"]
        password = v.password_from_env(env_entry.value, env_entry.label, env_entry.key, environ)
    client_key = v.load_client_key(
        path_entry.value, password, path_entry.label, path_entry.key, path_entry.base_dir
    )
    return GatewayCredentialsConfig(
        "client_key",
        client_key_file=client_key.path,
        client_key_id=client_key.key_id,
        client_key_content=client_key.content,
        client_key_password=client_key.password,
        client_key_password_source=client_key.password_source,
    )
