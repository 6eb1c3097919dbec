"""Checks and converters used by :mod:`common_plugin.config` while it loads the configuration.

Every function raises :class:`~common_plugin.exceptions.ConfigError` whose message names the key
(``label``), a file path and line, an environment variable name or a JSON position, and the fix;
never a value that may be secret, password, key material or JSON text. Nothing here is public API.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import pkcs12

from ..credentials import parse_duration_seconds
from ..exceptions import ConfigError

__all__: list[str] = []


@dataclass(frozen=True)
class Entry:
    """One configured value and where it came from.

    Attributes:
        key: the property key.
        value: the value, stripped of surrounding whitespace.
        label: how messages refer to it: the key, plus the environment variable when from there.
        base_dir: the folder relative paths in this value resolve against.
        location: where the value was written, when a file: ``/etc/app/x.properties, line 7``.
    """

    key: str
    value: str
    label: str
    base_dir: Path
    location: str | None = None

    @property
    def where(self) -> str:
        """The label, with the file and line when known: ``key (/x.properties, line 7)``."""
        return f"{self.label} ({self.location})" if self.location else self.label

    def __repr__(self) -> str:  # the value may be a secret
        return f"Entry(key={self.key!r}, label={self.label!r})"


@dataclass(frozen=True)
class ClientKey:
    """A client key file, read and proven to open with its password."""

    path: Path
    key_id: str
    content: str
    password: str
    password_source: str

    def __repr__(self) -> str:
        return f"ClientKey(path={self.path!r}, key_id={self.key_id!r})"


def error(message: str, key: str, path: Path | str | None = None) -> ConfigError:
    """Build a ConfigError for ``key`` (and ``path``)."""
    return ConfigError(message, key=key, path=None if path is None else str(path))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate (case-insensitive), or ``""``."""
    options = {candidate.lower(): candidate for candidate in candidates}
    match = difflib.get_close_matches(name.lower(), list(options), n=1, cutoff=0.6)
    return f"; did you mean {options[match[0]]!r}?" if match else ""


def resolve_path(raw: str, base_dir: Path) -> Path:
    """Expand ``~``, make ``raw`` absolute against ``base_dir`` and normalize ``..`` (symlinks kept)."""
    path = Path(raw).expanduser()
    return Path(os.path.abspath(path if path.is_absolute() else base_dir / path))


def existing_file(raw: str, label: str, key: str, base_dir: Path, what: str) -> Path:
    """Resolve ``raw`` and require a readable regular file there."""
    path = resolve_path(raw, base_dir)
    try:
        present = path.is_file()
    except (OSError, ValueError):
        present = False
    if not present:
        raise error(
            f"{label}: {what} {path} does not exist or is not a file; fix the path "
            f"(a relative path resolves against {base_dir})",
            key,
            path,
        )
    return path


def read_text(path: Path, label: str, key: str, what: str) -> str:
    """Read a UTF-8 file (BOM tolerated)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise error(
            f"{label}: cannot read {what} {path}: {exc.strerror or type(exc).__name__}; "
            "check its permissions",
            key,
            path,
        ) from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{label}: {what} {path} is not valid UTF-8 (byte offset {exc.start})", key, path
        ) from None


def parse_json(text: str, label: str, key: str, path: Path | None = None) -> Any:
    """Parse the JSON of a file (``path``), reporting only the position of an error."""
    where = f" in {path}" if path is not None else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{label}: not valid JSON{where} ({exc.msg} at line {exc.lineno} column {exc.colno})",
            key,
            path,
        ) from None
    except RecursionError:  # the parser recurses once per nesting level
        raise error(
            f"{label}: the JSON{where} is nested too deeply to be a configuration; check what wrote it",
            key,
            path,
        ) from None


def parse_json_value(entry: Entry) -> Any:
    """Parse the JSON of a property value, reporting the file, its line and the error's position.

    A value is one logical line of the properties file, so the position is a character of the value
    (the JSON decoder's "line 1 column 320" would read like a place in the file). The text is never
    quoted: a value may hold something secret.
    """
    path = entry.location.rsplit(", line ", 1)[0] if entry.location else None
    try:
        return json.loads(entry.value)
    except json.JSONDecodeError as exc:
        raise error(
            f"{entry.where}: not valid JSON: {exc.msg} at character {exc.pos + 1} of the value",
            entry.key,
            path,
        ) from None
    except RecursionError:  # the parser recurses once per nesting level
        raise error(
            f"{entry.where}: the JSON is nested too deeply to be a configuration; check what wrote it",
            entry.key,
            path,
        ) from None


def parse_bool(raw: Any, label: str, key: str) -> bool:
    """Accept a JSON boolean or the text ``true``/``false`` in any case."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise error(f"{label}: must be true or false", key)


def parse_seconds(entry: Entry | None, default: float, maximum: float) -> float:
    """Parse a positive duration (``6h``, ``90m``, ``3600s``, ``3600``) of at most ``maximum`` seconds."""
    if entry is None:
        return default
    try:
        seconds = parse_duration_seconds(entry.value)
    except ValueError:
        seconds = None
    if seconds is None or not 0 < seconds <= maximum:
        raise error(
            f"{entry.label}: must be a positive duration of at most {describe_seconds(maximum)}, such as "
            "'6h', '90m', '3600s' or '3600' (seconds)",
            entry.key,
        )
    return seconds


def parse_int(entry: Entry | None, default: int, minimum: int, maximum: int) -> int:
    """Parse a whole number from ``minimum`` to ``maximum``."""
    if entry is None:
        return default
    digits = entry.value.lstrip("0") or "0"
    # isascii: str.isdigit() also accepts '²' and '①', which int() rejects; the length check comes
    # before int(), which refuses more than 4,300 digits with a bare ValueError
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) > len(str(maximum))
        or not minimum <= int(digits) <= maximum
    ):
        raise error(f"{entry.label}: must be a whole number from {minimum} to {maximum}", entry.key)
    return int(digits)


def describe_seconds(seconds: float) -> str:
    """``86400`` -> ``'1d'``, ``3600`` -> ``'1h'``, ``90`` -> ``'90s'``: a bound as users write it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def check_fields(obj: Mapping[str, Any], allowed: Iterable[str], label: str, key: str) -> None:
    """Reject unknown fields of a JSON object, with a did-you-mean hint."""
    allowed = tuple(allowed)
    for name in obj:
        if name not in allowed:
            raise error(
                f"{label}: unknown field {name!r}{did_you_mean(name, allowed)} "
                f"(allowed: {', '.join(allowed)})",
                key,
            )


def required_string(obj: Mapping[str, Any], name: str, label: str, key: str) -> str:
    """Return a non-empty string field, or fail naming it."""
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise error(f"{label}: field {name!r} is required and must be a non-empty string", key)
    return value.strip()


def optional_string(obj: Mapping[str, Any], name: str, label: str, key: str) -> str | None:
    """Return a string field, ``None`` when absent or empty."""
    value = obj.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise error(f"{label}: field {name!r} must be a string", key)
    return value.strip()


def password_from_file(raw: str, label: str, key: str, base_dir: Path) -> tuple[str, str]:
    """Read a password file; trailing CR/LF are dropped. Returns ``(password, source)``."""
    path = existing_file(raw, label, key, base_dir, "password file")
    return read_text(path, label, key, "password file").rstrip("\r\n"), f"file {path}"


def password_from_env(variable: str, label: str, key: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """Read a password from the environment variable named ``variable``."""
    if variable not in environ:
        raise error(
            f"{label}: environment variable {variable} (which should hold the client key password) "
            "is not set; set it or name another variable",
            key,
        )
    return environ[variable], f"env {variable}"


def load_client_key(
    raw_path: str, password: tuple[str, str], label: str, key: str, base_dir: Path
) -> ClientKey:
    """Read a ClientKey JSON file and prove that its PKCS#12 opens with the password.

    Args:
        raw_path: the configured path of ``{"KeyId": ..., "PrivateKeyData": <base64 PKCS#12>}``.
        password: ``(password, source)`` where source reads like ``file /x`` or ``env VAR``.
        label: the key (and field) for messages.
        key: the property key.
        base_dir: folder for a relative path.
    """
    path = existing_file(raw_path, label, key, base_dir, "client key file")
    content = read_text(path, label, key, "client key file")
    document = parse_json(content, label, key, path)
    if not isinstance(document, dict):
        raise error(f"{label}: client key file {path} must hold a JSON object", key, path)
    key_id = document.get("KeyId")
    data = document.get("PrivateKeyData")
    if not isinstance(key_id, str) or not key_id or not isinstance(data, str) or not data:
        raise error(
            f"{label}: client key file {path} lacks KeyId or PrivateKeyData; download the "
            "ClientKey file again from the KMS console",
            key,
            path,
        )
    secret, source = password
    try:
        blob = base64.b64decode(data, validate=True)
        private_key, _certificate, _extra = pkcs12.load_key_and_certificates(blob, secret.encode())
    except (ValueError, TypeError, binascii.Error):
        private_key = None
    if private_key is None:
        raise error(
            f"{label}: cannot open client key file {path} with the password from {source}: "
            "wrong password or corrupt key file",
            key,
            path,
        )
    return ClientKey(path, key_id, content, secret, source)


def env_lookup(key: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Find ``key`` in the environment by its exact name, then UPPER_CASE. Returns (name, value)."""
    for name in (key, key.upper()):
        value = environ.get(name)
        if value is not None and value.strip():
            return name, value
    return None


def cwd() -> Path:
    """The current working directory (a function so tests may chdir)."""
    return Path(os.getcwd())
