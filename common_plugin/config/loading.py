"""The provider configuration: frozen dataclasses, loaded and validated once by :func:`load_config`.

Sources and precedence (highest first):

1. **The properties file** (or the ``Mapping`` passed in code, which counts as the file). With no
   ``source`` argument the file is the one named by :class:`~common_plugin.config.config_loader.ConfigLoader`
   (default ``managed_credentials_providers.properties`` in the current working directory).
2. **The environment**, for each key the file does not set: by its exact name
   (``cache_client_dkms_config_info``), then its UPPER_CASE form
   (``CACHE_CLIENT_DKMS_CONFIG_INFO``). Empty variables count as unset.

A key present in the file hides the environment even when its value is empty. Unknown keys in the
file are errors (with a "did you mean" hint); the environment is not checked for unknown names.
When the default file is missing the environment alone may configure the provider; a file named
explicitly (``load_config("x.properties")``) must exist.

Values are stripped of surrounding whitespace (Java keeps trailing blanks; a trailing space after a
path is a classic mistake). Relative paths (``clientKeyFile``, ``passwordFromFilePath``,
``caFilePath``, ``client_key_private_key_path``, ``client_key_password_from_file_path``,
``kms_ca_file_path``) resolve against the properties file's folder; for a ``Mapping`` and for
environment values they resolve against ``base_dir`` (default: the current working directory).
``~`` is expanded.

Everything that can be checked is checked here, once: files exist, JSON parses, client keys open
with their passwords. Errors are :class:`~common_plugin.exceptions.ConfigError` naming the key, file
(and line, where it helps find a value: bad JSON, an unknown ``credentials_type``) or variable, and
never a value that may be secret. Secrets are kept out of every ``repr``.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from . import validation as v
from .cache_folder import folder_problem
from .endpoints import DkmsInstanceConfig, KmsRegionConfig, parse_dkms_instances, parse_kms_regions
from .file_name import DEFAULT_CONFIG_NAME, get_config_name
from .gateway_credentials import GatewayCredentialsConfig, parse_credentials
from .kms_instances import RamInstanceConfig, check_ram_credentials, parse_ram_instances
from .plain_http import allow_insecure_http
from .properties import read_properties_lines
from .validation import Entry, error

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "KNOWN_KEYS",
    "DkmsInstanceConfig",
    "GatewayCredentialsConfig",
    "KmsRegionConfig",
    "ProviderConfig",
    "RamInstanceConfig",
    "load_config",
]

DEFAULT_REFRESH_INTERVAL_SECONDS = 6 * 3600.0
DEFAULT_MIN_REFRESH_INTERVAL_SECONDS = 60.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_FETCH_ATTEMPTS = 4
# Upper bounds: far above any sensible setting, low enough that no timer or float overflows.
MAX_DURATION_SECONDS = 365 * 86400.0
MAX_REQUEST_TIMEOUT_SECONDS = 3600.0
MAX_FETCH_ATTEMPTS = 100

DEFAULT_CACHE_KEY_VARIABLE = "MANAGED_CREDENTIALS_CACHE_KEY"
BUILTIN_DECRYPTOR_NAMES = frozenset({"client_key", "env", "file"})
_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*\Z")

DKMS_KEY = "cache_client_dkms_config_info"
REGIONS_KEY = "cache_client_region_id"

KNOWN_KEYS: frozenset[str] = frozenset(
    {
        DKMS_KEY,
        REGIONS_KEY,
        "credentials_type",
        "credentials_access_key_id",
        "credentials_access_secret",
        "credentials_access_token_id",
        "credentials_access_token",
        "credentials_role_arn",
        "credentials_role_session_name",
        "credentials_role_name",
        "client_key_private_key_path",
        "client_key_password_from_file_path",
        "client_key_password_from_env_variable",
        "secret_names",
        "kms_ca_file_path",
        "sts_endpoint",
        "allow_insecure_http",
        "cache_dir",
        "cache_key_decryptor",
        "cache_key_file",
        "cache_key_env_variable",
        "refresh_interval",
        "min_refresh_interval",
        "rotation_refresh_spread",
        "request_timeout",
        "fetch_timeout",
        "max_fetch_attempts",
    }
)

# Keys of the system we replace that we reject with a pointer to what to use instead.
_RETIRED_KEYS = {
    "monitor_period_milliseconds": "use refresh_interval (e.g. '6h') instead",
    "monitor_customer_milliseconds": "use refresh_interval (e.g. '6h') instead",
    "client_key_password": "never put the password in the configuration; use "
    "client_key_password_from_file_path or client_key_password_from_env_variable",
}


@dataclass(frozen=True)
class ProviderConfig:
    """The whole validated configuration. Immutable and safe to share between threads.

    Attributes:
        dkms_instances: DKMS instances reached with a client key, tried in order.
        ram_instances: KMS instances reached with the RAM credentials of ``credentials`` (entries of
            ``cache_client_dkms_config_info`` without ``clientKeyFile``), tried in order after
            ``dkms_instances``.
        kms_regions: shared-gateway regions, tried in order after the DKMS instances.
        credentials: how to authenticate to the shared gateway and to ``ram_instances``; ``None``
            when only client keys are used.
        secret_names: secrets to fetch at start-up (order kept, duplicates removed).
        kms_ca_file_path: CA bundle for the shared gateway, ``None`` for the system default.
        sts_endpoint: where ``ram_role``/``sts`` credentials send AssumeRole (``host[:port]`` or
            ``http://host:port``); ``None`` uses the SDK's ``sts.aliyuncs.com``.
        allow_insecure_http: whether ``http://`` endpoints (DKMS, gateway, ``sts_endpoint``) are
            allowed; without it they are refused (see :mod:`~common_plugin.config.plain_http`).
        cache_dir: the encrypted on-disk cache folder shared by this host's processes; ``None``
            (the default) keeps secrets in memory only.
        cache_key_decryptor: which key protects that cache: ``client_key`` (default with DKMS),
            ``env`` (default otherwise), ``file``, or a ``package.module.Class`` of your own.
        cache_key_file / cache_key_env_variable: the key material for ``file`` / ``env``.
        rotation_spread_seconds / rotation_spread_fraction: after a secret's rotation, processes
            pick the new key up at a random time within max(seconds, fraction x RotationInterval)
            (``rotation_refresh_spread``: a duration like ``5m`` or a percentage like ``90%``).
        refresh_interval_seconds: proactive refresh period when a secret has no rotation schedule.
        min_refresh_interval_seconds: floor under any computed refresh period.
        request_timeout_seconds: the deadline of one GetSecretValue request, in total (connect, TLS
            handshake, sending and receiving; not per socket read); at most one hour.
        max_fetch_attempts: attempts of one fetch, in total across instances and regions (1 to 100).
        fetch_timeout_seconds: the deadline of one whole fetch (every attempt and the backoff
            between them); ``None`` means ``request_timeout_seconds * max_fetch_attempts``.
            Durations other than the timeouts are at most 365 days.
        source_path: the properties file read, ``None`` when none was.
    """

    dkms_instances: tuple[DkmsInstanceConfig, ...] = ()
    kms_regions: tuple[KmsRegionConfig, ...] = ()
    credentials: GatewayCredentialsConfig | None = None
    secret_names: tuple[str, ...] = ()
    kms_ca_file_path: Path | None = None
    sts_endpoint: str | None = None
    allow_insecure_http: bool = False
    cache_dir: Path | None = None
    cache_key_decryptor: str | None = None
    cache_key_file: Path | None = None
    cache_key_env_variable: str | None = None
    refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS
    rotation_spread_seconds: float = 300.0
    rotation_spread_fraction: float = 0.0
    min_refresh_interval_seconds: float = DEFAULT_MIN_REFRESH_INTERVAL_SECONDS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    max_fetch_attempts: int = DEFAULT_MAX_FETCH_ATTEMPTS
    fetch_timeout_seconds: float | None = None
    source_path: Path | None = None
    # Last, so that positional construction written before it existed keeps its meaning.
    ram_instances: tuple[RamInstanceConfig, ...] = ()

    @property
    def fetch_deadline_seconds(self) -> float:
        """``fetch_timeout_seconds``, or its default ``request_timeout_seconds * max_fetch_attempts``."""
        if self.fetch_timeout_seconds is not None:
            return self.fetch_timeout_seconds
        return default_fetch_timeout(self.request_timeout_seconds, self.max_fetch_attempts)


def default_fetch_timeout(request_timeout_seconds: float, max_fetch_attempts: int) -> float:
    """``request_timeout * max_fetch_attempts`` (infinite rather than an overflow for absurd counts)."""
    try:
        return request_timeout_seconds * max_fetch_attempts
    except OverflowError:
        return math.inf


def load_config(
    source: str | os.PathLike[str] | Mapping[str, str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> ProviderConfig:
    """Load and validate the configuration (see the module docstring for sources and precedence).

    Args:
        source: ``None`` for the file named by ``ConfigLoader`` (may be missing when the environment
            configures everything); a path to a properties file that must exist; or a mapping of
            properties given in code.
        environ: the environment to read (default ``os.environ``); also where
            ``passwordFromEnvVariable`` and ``client_key_password_from_env_variable`` are looked up.
        base_dir: folder for relative paths of a mapping and of environment values (default: the
            current working directory). Paths in a file resolve against the file's folder.

    Raises:
        ConfigError: anything wrong; the message names the key, file or variable and the fix.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    loose_base = v.cwd() if base_dir is None else v.resolve_path(os.fspath(base_dir), v.cwd())
    properties: Mapping[str, str] | None
    lines: Mapping[str, int] = {}
    source_path: Path | None = None
    missing_default: Path | None = None
    if isinstance(source, Mapping):
        properties, file_base = source, loose_base
        origin = "the configuration mapping"
    else:
        if source is None:
            path = v.resolve_path(get_config_name(), v.cwd())
        else:
            path = v.resolve_path(os.fspath(source), v.cwd())
        if _is_file(path):
            (properties, lines), source_path, file_base = read_properties_lines(path), path, path.parent
        elif source is None:
            properties, missing_default, file_base = None, path, loose_base
        else:
            raise ConfigError(
                f"properties file {path} does not exist; fix the path or create the file",
                path=str(path),
            )
        origin = str(path)
    entries = _gather(properties, origin, file_base, env, loose_base, lines)
    if properties is None and not entries:
        raise ConfigError(
            f"no configuration: properties file {missing_default} does not exist and no "
            f"configuration environment variable (such as {DKMS_KEY.upper()}) is set; create the "
            'file, or call ConfigLoader.set_config_name("path/to/file.properties") before creating '
            "a client, or set the environment variables",
            path=str(missing_default),
        )
    try:
        return _build(entries, env, source_path)
    except ConfigError as exc:
        if missing_default is not None:
            raise ConfigError(
                f"{exc} (note: properties file {missing_default} does not exist; only environment "
                "variables were read)",
                key=exc.key,
                path=exc.path,
            ) from None
        raise


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _gather(
    properties: Mapping[str, str] | None,
    origin: str,
    file_base: Path,
    environ: Mapping[str, str],
    env_base: Path,
    lines: Mapping[str, int],
) -> dict[str, Entry]:
    """Check the file's keys and merge file and environment into one entry per set key.

    ``lines`` holds the line each key of a file starts on (empty for a mapping).
    """
    entries: dict[str, Entry] = {}
    for key, value in (properties or {}).items():
        if not isinstance(key, str) or key not in KNOWN_KEYS:
            name = str(key)
            hint = _RETIRED_KEYS.get(name.lower())
            hint = f"; {hint}" if hint else did_you_mean_key(name)
            raise ConfigError(f"unknown key {name!r} in {origin}{hint}", key=name)
        if not isinstance(value, str):
            raise error(f"{key} in {origin}: must be a string, not {type(value).__name__}", key)
        location = f"{origin}, line {lines[key]}" if key in lines else None
        entries[key] = Entry(key, value.strip(), key, file_base, location)
    for key in sorted(KNOWN_KEYS - entries.keys()):
        found = v.env_lookup(key, environ)
        if found is not None:
            name, value = found
            entries[key] = Entry(key, value.strip(), f"{key} (environment variable {name})", env_base)
    return entries


def did_you_mean_key(name: str) -> str:
    """The did-you-mean hint for an unknown property key."""
    return v.did_you_mean(name, sorted(KNOWN_KEYS))


def _build(entries: dict[str, Entry], environ: Mapping[str, str], source_path: Path | None) -> ProviderConfig:
    """Validate the merged entries into a ProviderConfig."""
    present = {key: entry for key, entry in entries.items() if entry.value}
    dkms = parse_dkms_instances(present[DKMS_KEY], environ) if DKMS_KEY in present else ()
    ram_instances = parse_ram_instances(present[DKMS_KEY]) if DKMS_KEY in present else ()
    regions = parse_kms_regions(present[REGIONS_KEY]) if REGIONS_KEY in present else ()
    credentials = parse_credentials(present, environ)
    check_ram_credentials(ram_instances, credentials)
    if regions and credentials is None:
        raise error(
            f"{present[REGIONS_KEY].label} is set but credentials_type is not; the KMS shared gateway "
            "needs credentials: set credentials_type (ak, sts, ram_role, ecs_ram_role or client_key) "
            "and its keys",
            REGIONS_KEY,
        )
    if not dkms and not ram_instances and not regions:
        raise ConfigError(
            f"no KMS endpoint configured: set {DKMS_KEY} (a JSON array of KMS instances with "
            "regionId, endpoint and either clientKeyFile with a password source, or no client key "
            f"and credentials_type), or set {REGIONS_KEY} (a JSON array like "
            '[{"regionId": "cn-hangzhou"}]) together with credentials_type',
            key=DKMS_KEY,
        )
    ca_path = None
    if "kms_ca_file_path" in present:
        entry = present["kms_ca_file_path"]
        ca_path = v.existing_file(entry.value, entry.label, entry.key, entry.base_dir, "CA file")
    refresh = v.parse_seconds(
        present.get("refresh_interval"), DEFAULT_REFRESH_INTERVAL_SECONDS, MAX_DURATION_SECONDS
    )
    minimum = v.parse_seconds(
        present.get("min_refresh_interval"), DEFAULT_MIN_REFRESH_INTERVAL_SECONDS, MAX_DURATION_SECONDS
    )
    if refresh < minimum:
        raise error("refresh_interval must not be shorter than min_refresh_interval", "refresh_interval")
    return ProviderConfig(
        dkms_instances=dkms,
        ram_instances=ram_instances,
        kms_regions=regions,
        credentials=credentials,
        secret_names=_parse_secret_names(present.get("secret_names")),
        kms_ca_file_path=ca_path,
        sts_endpoint=present["sts_endpoint"].value if "sts_endpoint" in present else None,
        allow_insecure_http=allow_insecure_http(present, dkms, regions, DKMS_KEY, REGIONS_KEY),
        **_rotation_spread(present.get("rotation_refresh_spread")),
        **_cache_settings(present, bool(dkms), environ),
        refresh_interval_seconds=refresh,
        min_refresh_interval_seconds=minimum,
        **_timeouts(present),
        source_path=source_path,
    )


def _timeouts(present: dict[str, Entry]) -> dict[str, Any]:
    """``request_timeout`` (one request), ``max_fetch_attempts`` and ``fetch_timeout`` (the whole fetch)."""
    request = v.parse_seconds(
        present.get("request_timeout"), DEFAULT_REQUEST_TIMEOUT_SECONDS, MAX_REQUEST_TIMEOUT_SECONDS
    )
    attempts = v.parse_int(
        present.get("max_fetch_attempts"), DEFAULT_MAX_FETCH_ATTEMPTS, 1, MAX_FETCH_ATTEMPTS
    )
    fetch = v.parse_seconds(
        present.get("fetch_timeout"),
        default_fetch_timeout(request, attempts),
        MAX_REQUEST_TIMEOUT_SECONDS * MAX_FETCH_ATTEMPTS,
    )
    if fetch < request:
        raise error(
            f"{present['fetch_timeout'].label}: must not be shorter than request_timeout ({request:g}s), "
            "or not even one request could finish; raise fetch_timeout or lower request_timeout",
            "fetch_timeout",
        )
    return {
        "request_timeout_seconds": request,
        "max_fetch_attempts": attempts,
        "fetch_timeout_seconds": fetch,
    }


def _rotation_spread(entry: Entry | None) -> dict[str, Any]:
    """``rotation_refresh_spread``: ``90%`` of the RotationInterval, or a duration like ``30m``."""
    if entry is None:
        return {}
    if entry.value.endswith("%"):
        try:
            percent = float(entry.value[:-1])
        except ValueError:
            percent = -1.0
        if not 0 <= percent < 100:
            raise error(f"{entry.label}: a percentage must be from 0% to 99%, e.g. 90%", entry.key)
        return {"rotation_spread_fraction": percent / 100}
    return {"rotation_spread_seconds": v.parse_seconds(entry, 300.0, MAX_DURATION_SECONDS)}


def _cache_settings(present: dict[str, Entry], has_dkms: bool, environ: Mapping[str, str]) -> dict[str, Any]:
    """Validate the on-disk cache keys (only meaningful with ``cache_dir``)."""
    cache_keys = ("cache_key_decryptor", "cache_key_file", "cache_key_env_variable")
    if "cache_dir" not in present:
        for key in cache_keys:
            if key in present:
                raise error(f"{key} is set but cache_dir is not; set cache_dir to enable the cache", key)
        return {}
    entry = present["cache_dir"]
    decryptor = present["cache_key_decryptor"].value if "cache_key_decryptor" in present else None
    name = decryptor or ("client_key" if has_dkms else "env")
    if "cache_key_decryptor" in present:
        _check_decryptor(present["cache_key_decryptor"])
    if name == "client_key" and not has_dkms:
        raise error(
            "cache_key_decryptor=client_key needs cache_client_dkms_config_info; use env or file",
            "cache_key_decryptor",
        )
    key_file = None
    if "cache_key_file" in present:
        item = present["cache_key_file"]
        key_file = v.existing_file(item.value, item.label, item.key, item.base_dir, "cache key file")
    elif name == "file":
        raise error("cache_key_decryptor=file needs cache_key_file", "cache_key_file")
    variable = present["cache_key_env_variable"].value if "cache_key_env_variable" in present else None
    if name == "env":
        variable_name = variable or DEFAULT_CACHE_KEY_VARIABLE
        if len(environ.get(variable_name, "")) < 16:
            raise error(
                f"the on-disk cache key comes from environment variable {variable_name}, which is unset "
                "or shorter than 16 characters; set it (e.g. `openssl rand -base64 32`) or use "
                "cache_key_decryptor=file with cache_key_file",
                "cache_key_env_variable",
            )
    folder = v.resolve_path(entry.value, entry.base_dir)
    _check_cache_folder(folder, entry)
    return {
        "cache_dir": folder,
        "cache_key_decryptor": name,
        "cache_key_file": key_file,
        "cache_key_env_variable": variable,
    }


def _check_decryptor(entry: Entry) -> None:
    """``cache_key_decryptor``: a built-in name, or a class path written in the properties file.

    The form is checked before anything is imported, and a class path is imported only when it comes
    from the properties file (or the mapping given in code), never from the environment. The class
    must look like a ``CacheKeyDecryptor``; the storage layer checks the exact base class when it
    builds the cache.
    """
    name = entry.value
    if name in BUILTIN_DECRYPTOR_NAMES:
        return
    if not _CLASS_PATH.match(name):
        raise error(
            f"{entry.label}: {name!r} is not one of {sorted(BUILTIN_DECRYPTOR_NAMES)} nor a class path "
            "like package.module.ClassName or package.module:ClassName",
            entry.key,
        )
    if entry.label != entry.key:
        raise error(
            f"{entry.label}: a custom decryptor class is imported only when named in the properties "
            "file; move the setting there",
            entry.key,
        )
    module_name, _, class_name = name.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        cls = None
    methods = ("encrypt_data_key", "decrypt_data_key", "from_config")
    if not isinstance(cls, type) or not all(callable(getattr(cls, method, None)) for method in methods):
        raise error(
            f"{entry.label}: {name!r} is not an importable CacheKeyDecryptor subclass; check the class "
            "path and that its package is installed",
            entry.key,
        )


def _check_cache_folder(folder: Path, entry: Entry) -> None:
    """``cache_dir`` must be a private folder of this user (see :mod:`.cache_folder`), or creatable:
    its nearest existing parent a writable folder. The store checks the folder again when it opens it."""
    if "\0" in str(folder):
        raise error(f"{entry.label}: the path contains a NUL character; name a folder", entry.key)
    try:
        status: os.stat_result | None = os.lstat(folder)
    except OSError:
        status = None
    if status is not None and (stat.S_ISDIR(status.st_mode) or stat.S_ISLNK(status.st_mode)):
        problem = folder_problem(status, folder)
        if problem is not None:
            raise error(f"{entry.label}: {problem}", entry.key, folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise error(
            f"{entry.label}: {existing} is not a folder; name a folder for the cache", entry.key, existing
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(
            f"{entry.label}: {existing} is not writable by this process; fix its permissions or choose "
            "another cache_dir",
            entry.key,
            existing,
        )


def _parse_secret_names(entry: Entry | None) -> tuple[str, ...]:
    if entry is None:
        return ()
    names = (name.strip() for name in entry.value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))
