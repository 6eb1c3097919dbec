"""``LocalAliyun``: the whole emulated cloud on loopback ports, as a context manager.

    with LocalAliyun() as cloud:
        cloud.create_ram_secret("app-ak")
        client = AcsClient(ak, secret, cloud.region_id, verify=str(cloud.ca_file))
        cloud.configure_acs_client(client)          # Kms -> HTTPS gateway, Sts/Ecs -> HTTP endpoints
        properties = cloud.write_properties(secret_names=["app-ak"])   # DKMS mode

Listeners (all on 127.0.0.1, ephemeral ports):

============  =========================  ===================================================
service       attribute                  notes
============  =========================  ===================================================
kms           ``kms_endpoint``           HTTPS (trust ``ca_file``); ``kms_http_endpoint``:
                                         plain HTTP
kms_instance  ``kms_instance_endpoint``  HTTPS (trust ``instance_ca_file``, a CA of its own):
                                         a KMS instance's OpenAPI for RAM callers
rpc           ``rpc_endpoint``           HTTP; Sts GetCallerIdentity, Ecs DescribeRegions
sts           ``sts_endpoint``           HTTP; AssumeRole, GetCallerIdentity
admin         ``admin_url``              HTTP JSON admin API; bearer ``admin_token``
dkms          ``dkms_endpoint``          HTTPS, when ``common_plugin.testing.dkms`` is
                                         importable
oss           ``oss_endpoint``           HTTP (``http://127.0.0.1:PORT``), when
                                         ``...testing.oss`` is
log           ``log_endpoint``           HTTP (``127.0.0.1:PORT``, what ``LogClient``
                                         takes); Log Service
maxcompute    ``maxcompute_url``         HTTP (``http://127.0.0.1:PORT/api``, what ``ODPS``
                                         takes); MaxCompute
============  =========================  ===================================================

``*_endpoint`` values are ``127.0.0.1:PORT`` (what ``add_endpoint`` and a DKMS endpoint take);
``*_url`` properties add the scheme, which ``aliyunsdkcore`` honours over a request's own protocol.

Pluggable services: ``DkmsService(state)`` must offer ``issue_client_key(password) -> ClientKey``
(``key_id``, ``private_key_data``, ``to_json()``) and ``OssService(state, region=...)``
``create_bucket(name)`` (v4 signatures must be scoped to :attr:`LocalAliyun.region_id`);
both implement :class:`~.server.Service`. A missing module is skipped (the attribute stays ``None``).
The default DKMS client key is issued on first use (RSA key generation would otherwise dominate
start-up); see :attr:`LocalAliyun.client_key_file`.

Thread-safety: the convenience methods delegate to :class:`CloudState` and are thread-safe; ``start``
and ``stop`` are meant for one owning thread (``stop`` is idempotent).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, overload

from ..clock import SYSTEM_CLOCK, Clock
from ..masking import mask_access_key_id
from . import certs
from .admin import AdminService
from .kms_gateway import KmsGatewayService
from .kms_instance import KmsInstanceService
from .rpc import RpcService, StsService
from .server import Service, ServiceServer
from .state import AccessKey, CloudState, Fault, Secret, SecretVersion

__all__ = ["PROPERTIES_FILE_NAME", "LocalAliyun"]

_LOGGER = logging.getLogger(__name__)

PROPERTIES_FILE_NAME = "managed_credentials_providers.properties"
DEFAULT_ROLE_NAME = "managed-credentials-reader"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing any old file."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


# Modules whose core class keeps one requests.Session per endpoint for the whole process:
# Tea.core.TeaCore (the dkms-gcs client of the reference tests; key "https://127.0.0.1:PORT:80") and
# darabonba.core.DaraCore (Tea V2 / alibabacloud_tea_openapi; key "http://127.0.0.1:PORT:80:pool=N").
_SDK_SESSION_CACHES = (("Tea.core", "TeaCore"), ("darabonba.core", "DaraCore"))


def _forget_sdk_sessions(endpoints: Iterable[str]) -> int:
    """Remove and close the SDKs' cached sessions for ``endpoints`` (``127.0.0.1:PORT``); return how many.

    The Tea core builds a session (and its TLS adapter) on the first call to an endpoint and keeps it
    for good: a CA passed once stays trusted, and a later ``ignore_ssl`` call to the same endpoint
    fails (docs/protocols.md, "DKMS"). Once a listener is gone its sessions are useless,
    and a new emulator that reuses the port must not inherit them. Only modules already imported are
    looked at (if an SDK was never loaded it has no sessions); a missing one is ignored.
    """
    needles = tuple(f"//{endpoint}:" for endpoint in endpoints)
    if not needles:
        return 0
    removed = 0
    for module_name, class_name in _SDK_SESSION_CACHES:
        module = sys.modules.get(module_name)
        sessions = getattr(getattr(module, class_name, None), "_sessions", None)
        if not isinstance(sessions, dict):
            continue
        for key in [k for k in list(sessions) if isinstance(k, str) and any(n in k for n in needles)]:
            session = sessions.pop(key, None)
            if session is None:
                continue
            removed += 1
            try:
                session.close()
            except Exception:  # noqa: BLE001 - closing a dead pool must not break stop()
                _LOGGER.debug("closing a cached %s session failed", class_name, exc_info=True)
    return removed


class _Address:
    """A read-only attribute: the address of the first running listener among ``keys``.

    ``127.0.0.1:PORT``, or ``http(s)://127.0.0.1:PORT`` with ``url=True``; ``RuntimeError`` when stopped.
    """

    def __init__(self, *keys: str, url: bool = False) -> None:
        self._keys = keys
        self._url = url

    @overload
    def __get__(self, cloud: None, owner: type[Any]) -> _Address: ...

    @overload
    def __get__(self, cloud: LocalAliyun, owner: type[Any]) -> str: ...

    def __get__(self, cloud: LocalAliyun | None, owner: type[Any]) -> _Address | str:
        if cloud is None:
            return self
        for key in self._keys:
            server = cloud._servers.get(key)
            if server is not None:
                return server.url if self._url else server.endpoint
        raise RuntimeError(f"the {self._keys[0]} listener is not running")


class LocalAliyun:
    """The emulated Alibaba Cloud account and its service endpoints.

    Args:
        workdir: where ``ca.pem``, the DKMS client key files and properties files go. ``None``
            creates a private (0700) temporary directory that :meth:`stop` removes.
        clock: the cloud's time source for rotation grace periods and STS expiry (default: system).
        seed: seeds fault probabilities, for repeatable runs.
        tls: serve KMS and DKMS over HTTPS (default). With ``False`` every listener is plain HTTP.
        region_id: the region named in properties files, and the one OSS v4 signatures must be
            scoped to.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        tls: bool = True,
        *,
        region_id: str = "cn-hangzhou",
    ) -> None:
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.state = CloudState(self.clock, seed)
        self.tls = tls
        self.region_id = region_id
        self._own_workdir = workdir is None
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.workdir: Path = self._workdir_arg or Path()
        self.ca_file: Path = Path()
        self.instance_ca_file: Path = Path()
        self.admin = AdminService(self.state)
        self.kms = KmsGatewayService(self.state)
        self.kms_instance = KmsInstanceService(self.state)
        self.rpc = RpcService(self.state)
        self.sts = StsService(self.state)
        self.dkms: Any = None
        self.oss: Any = None
        self.log_service: Any = None
        self.maxcompute: Any = None
        self.gateway_access_key: AccessKey | None = None
        self._client_key: Any = None
        self._client_key_file: Path | None = None
        self._client_key_password_file: Path | None = None
        self._client_key_lock = threading.Lock()
        self.start_seconds = 0.0
        self._servers: dict[str, ServiceServer] = {}
        self._running = False

    def __repr__(self) -> str:
        if not self._running:
            return "LocalAliyun(stopped)"
        listeners = ", ".join(f"{name}={server.url}" for name, server in self._servers.items())
        return f"LocalAliyun({listeners})"

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LocalAliyun:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalAliyun:
        """Start every listener, issue the bootstrap credentials; returns ``self``."""
        if self._running:
            return self
        began = time.perf_counter()
        if self._own_workdir:
            self.workdir = Path(tempfile.mkdtemp(prefix="local-aliyun-"))  # mkdtemp makes it 0700
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._running = True
        try:
            context = certs.server_context() if self.tls else None
            self.ca_file = certs.write_ca_file(self.workdir)
            self.instance_ca_file = certs.write_ca_file(
                self.workdir, certs.instance_bundle(), name="instance-ca.pem"
            )
            self._serve(self.kms, "kms", context)
            if context is not None:
                self._serve(self.kms, "kms_http", None)
            instance_context = certs.instance_server_context() if self.tls else None
            self._serve(self.kms_instance, "kms_instance", instance_context)
            self._serve(self.rpc, "rpc", None)
            self._serve(self.sts, "sts", None)
            self._serve(self.admin, "admin", None)
            self._start_plugins(context)
            self.gateway_access_key = self.state.create_access_key()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - began
        _LOGGER.debug("local Aliyun emulator started in %.3f s", self.start_seconds)
        return self

    def _serve(self, service: Service, key: str, context: Any) -> None:
        self._servers[key] = ServiceServer(service, self.state, ssl_context=context).start()

    def _start_plugins(self, context: Any) -> None:
        try:
            from .dkms import DkmsService
        except ImportError:
            _LOGGER.debug("DKMS service not available; skipped")
        else:
            self.dkms = DkmsService(self.state)
            self._serve(self.dkms, "dkms", context)
        try:
            from .oss import OssService
        except ImportError:
            _LOGGER.debug("OSS service not available; skipped")
        else:
            self.oss = OssService(self.state, region=self.region_id)
            self._serve(self.oss, "oss", None)
        from .log_service import LogService

        self.log_service = LogService(self.state, region=self.region_id)
        self._serve(self.log_service, "log", None)
        from .maxcompute import MaxComputeService

        self.maxcompute = MaxComputeService(self.state, region=self.region_id)
        self._serve(self.maxcompute, "maxcompute", None)

    def stop(self) -> None:
        """Stop every listener (joining its threads) and remove an owned workdir. Idempotent.

        Also drops the Tea / darabonba SDKs' cached HTTP sessions for this emulator's endpoints (see
        :func:`_forget_sdk_sessions`), so a later emulator on a reused port starts from a clean slate.
        """
        servers, self._servers = list(self._servers.values()), {}
        endpoints = [server.endpoint for server in servers]
        for server in servers:
            server.request_stop()
        for server in servers:
            server.stop()
        _forget_sdk_sessions(endpoints)
        if self._running and self._own_workdir and self.workdir != Path():
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._client_key = self._client_key_file = self._client_key_password_file = None
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    # ---- endpoints (see the module docstring) -------------------------------------------------
    kms_endpoint = _Address("kms")
    kms_http_endpoint = _Address("kms_http", "kms")
    kms_url = _Address("kms", url=True)
    kms_instance_endpoint = _Address("kms_instance")
    """``127.0.0.1:PORT`` of the KMS instance's OpenAPI endpoint (HTTPS with ``instance_ca_file``)."""
    kms_instance_url = _Address("kms_instance", url=True)
    kms_http_url = _Address("kms_http", "kms", url=True)
    rpc_endpoint = _Address("rpc")
    rpc_url = _Address("rpc", url=True)
    sts_endpoint = _Address("sts")
    sts_url = _Address("sts", url=True)
    admin_url = _Address("admin", url=True)
    log_endpoint = _Address("log")  # plain HTTP; the project travels in the Host header

    @property
    def maxcompute_url(self) -> str:
        """``http://127.0.0.1:PORT/api``: the MaxCompute REST endpoint ``odps.ODPS(endpoint=...)`` takes."""
        server = self._servers.get("maxcompute")
        if server is None:
            raise RuntimeError("the maxcompute listener is not running")
        return server.url + "/api"

    @property
    def dkms_endpoint(self) -> str | None:
        """``127.0.0.1:PORT`` of the DKMS instance (HTTPS unless ``tls=False``), or ``None``."""
        server = self._servers.get("dkms")
        return server.endpoint if server is not None else None

    @property
    def oss_endpoint(self) -> str | None:
        """``http://127.0.0.1:PORT`` of OSS (path-style buckets), or ``None``."""
        server = self._servers.get("oss")
        return server.url if server is not None else None

    @property
    def admin_token(self) -> str:
        return self.admin.token

    @property
    def role_arn(self) -> str:
        """A role ``AssumeRole`` accepts."""
        return f"acs:ram::{self.state.account_id}:role/{DEFAULT_ROLE_NAME}"

    def configure_acs_client(self, client: Any) -> Any:
        """Point an ``AcsClient`` at the emulator (Kms over HTTPS, Sts and Ecs over HTTP); returns it.

        The client still needs ``verify=str(cloud.ca_file)`` for the HTTPS KMS gateway.
        """
        region = client.get_region_id()
        client.add_endpoint(region, "Kms", self.kms_endpoint if self.tls else self.kms_url)
        client.add_endpoint(region, "Sts", self.sts_url)
        client.add_endpoint(region, "Ecs", self.rpc_url)
        return client

    def configure_log_client(self, client: Any) -> Any:
        """Point an ``aliyun.log.LogClient`` built with :attr:`log_endpoint` at the emulator; returns it.

        The client addresses ``<project>.<endpoint host>``, and ``<project>.127.0.0.1`` resolves nowhere;
        an IP endpoint *without a port* is sent to directly instead, with the project kept in the
        ``Host`` header. This sets the client's flag for that (``LogClient._isRowIp``, checked against
        aliyun-log-python-sdk 0.9.52; see docs/sdk_hooks.md), which the port hides from it.
        """
        if not hasattr(client, "_isRowIp"):
            raise RuntimeError("this LogClient has no _isRowIp flag: re-check docs/sdk_hooks.md")
        client._isRowIp = True
        return client

    # ---- DKMS / OSS --------------------------------------------------------------------------
    def _default_client_key(self) -> None:
        # Issued on first use: RSA key generation is most of an emulator's start-up time.
        with self._client_key_lock:
            if self._client_key is None:
                self.issue_client_key()

    @property
    def client_key(self) -> Any:
        """The DKMS ``ClientKey`` used by DKMS-mode properties (issued on first access), or ``None``."""
        if self.dkms is None:
            return None
        self._default_client_key()
        return self._client_key

    @property
    def client_key_file(self) -> Path | None:
        """``workdir/clientKey_<KeyId>.json`` (0600), written on first access; ``None`` without DKMS."""
        if self.dkms is None:
            return None
        self._default_client_key()
        return self._client_key_file

    @property
    def client_key_password_file(self) -> Path | None:
        """``workdir/clientKey_<KeyId>_Password.txt`` (0600), written with :attr:`client_key_file`."""
        if self.dkms is None:
            return None
        self._default_client_key()
        return self._client_key_password_file

    def issue_client_key(self, password: str | None = None) -> Any:
        """Issue a DKMS client key and write ``clientKey_<KeyId>.json`` and its password file (0600).

        The newest key becomes :attr:`client_key` (what :meth:`write_properties` uses). The
        emulator issues its default key lazily, on first access of :attr:`client_key`,
        :attr:`client_key_file` or :attr:`client_key_password_file` (or DKMS-mode properties).
        """
        if self.dkms is None:
            raise RuntimeError("the DKMS service is not available")
        password = password or secrets.token_urlsafe(18)
        key = self.dkms.issue_client_key(password)
        key_file = self.workdir / f"clientKey_{key.key_id}.json"
        password_file = self.workdir / f"clientKey_{key.key_id}_Password.txt"
        _write_private(key_file, key.to_json())
        _write_private(password_file, password)
        self._client_key, self._client_key_file = key, key_file
        self._client_key_password_file = password_file
        return key

    def create_logstore(self, project: str, logstore: str) -> None:
        """Create a Log Service project (if new) and a logstore in it."""
        if self.log_service is None:
            raise RuntimeError("the Log Service emulator is not running")
        self.log_service.create_logstore(project, logstore)

    def create_maxcompute_table(
        self, project: str, table: str, columns: list[tuple[str, str]] | None = None
    ) -> None:
        """Create a MaxCompute project (if new) and a table in it (``(name, type)`` columns)."""
        if self.maxcompute is None:
            raise RuntimeError("the MaxCompute emulator is not running")
        self.maxcompute.create_table(project, table, columns)

    def create_bucket(self, name: str) -> None:
        if self.oss is None:
            raise RuntimeError("the OSS service is not available")
        self.oss.create_bucket(name)

    # ---- state shortcuts ---------------------------------------------------------------------
    def create_ram_secret(self, name: str, **kwargs: Any) -> Secret:
        """See :meth:`CloudState.create_ram_secret`."""
        return self.state.create_ram_secret(name, **kwargs)

    def create_generic_secret(self, name: str, data: str) -> Secret:
        return self.state.create_generic_secret(name, data)

    def rotate(self, name: str, *, grace_seconds: float = 0.0) -> SecretVersion:
        return self.state.rotate(name, grace_seconds=grace_seconds)

    def reissue(self, name: str, *, new_secret: bool = True, new_token: bool = True) -> SecretVersion:
        """See :meth:`CloudState.reissue`: same AccessKeyId, new secret and/or token."""
        return self.state.reissue(name, new_secret=new_secret, new_token=new_token)

    def revoke_key(self, access_key_id: str, *, after_seconds: float = 0.0) -> None:
        self.state.revoke_key(access_key_id, after_seconds=after_seconds)

    def disable_key(self, access_key_id: str) -> None:
        self.state.set_key_status(access_key_id, "Inactive")

    def enable_key(self, access_key_id: str) -> None:
        self.state.set_key_status(access_key_id, "Active")

    def current_key(self, name: str) -> AccessKey:
        return self.state.current_key(name)

    def count(self, service: str, action: str | None = None, access_key_id: str | None = None) -> int:
        return self.state.count(service, action, access_key_id)

    def reset_counters(self) -> None:
        self.state.reset_counters()

    def inject_fault(
        self,
        service: str,
        fault: Fault,
        *,
        count: int | None = 1,
        probability: float = 1.0,
        action: str | None = None,
    ) -> None:
        """Queue ``fault`` on ``service`` for the next ``count`` matching requests (``None``: until
        cleared), each with ``probability``, only for ``action`` when given."""
        self.state.faults[service].add(fault, count=count, probability=probability, action=action)

    def clear_faults(self, service: str | None = None) -> None:
        for name, plan in self.state.faults.items():
            if service is None or name == service:
                plan.clear()

    # ---- properties --------------------------------------------------------------------------
    def properties_text(
        self,
        *,
        mode: str = "dkms",
        secret_names: Iterable[str] = (),
        credentials_type: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """A ``managed_credentials_providers.properties`` text for this emulator.

        ``mode="dkms"`` writes ``cache_client_dkms_config_info``; ``mode="gateway"`` writes
        ``cache_client_region_id`` pointing at the HTTPS KMS gateway plus ``kms_ca_file_path`` (the CA
        to trust; not a key of the original suite); ``mode="instance"`` writes a
        ``cache_client_dkms_config_info`` entry without ``clientKeyFile`` for the KMS instance reached
        with RAM credentials (:attr:`kms_instance_endpoint`, ``caFilePath`` :attr:`instance_ca_file`).
        Credentials (``credentials_type``, default ``ak`` in gateway and instance modes, none in DKMS
        mode) use :attr:`gateway_access_key`; ``ram_role`` adds
        ``credentials_role_arn`` and ``credentials_role_session_name`` (AssumeRole must then be routed
        to :attr:`sts_url`, e.g. with :meth:`configure_acs_client`). With ``tls=False`` the
        endpoints are ``http://`` and ``allow_insecure_http=true`` is written too (the loader refuses
        plain HTTP without it). Every key is one the project's config loader knows, plus whatever
        ``extra`` adds (a later line wins, so ``extra`` may override a key written here).
        """
        lines = [f"# written by LocalAliyun for region {self.region_id}"]
        if mode == "dkms":
            if self.client_key_file is None or self.dkms_endpoint is None:
                raise RuntimeError("the DKMS service is not available")
            entry: dict[str, object] = {
                "regionId": self.region_id,
                # a plain-HTTP emulator is named with its scheme; real instances are HTTPS only
                "endpoint": self.dkms_endpoint if self.tls else f"http://{self.dkms_endpoint}",
                "clientKeyFile": str(self.client_key_file),
                "passwordFromFilePath": str(self.client_key_password_file),
                "ignoreSslCerts": False,
                "caFilePath": str(self.ca_file),
            }
            lines.append("cache_client_dkms_config_info=" + json.dumps([entry], separators=(",", ":")))
        elif mode == "gateway":
            credentials_type = credentials_type or "ak"
            region = {"regionId": self.region_id, "endpoint": self.kms_endpoint if self.tls else self.kms_url}
            lines.append("cache_client_region_id=" + json.dumps([region], separators=(",", ":")))
            lines.append(f"kms_ca_file_path={self.ca_file}")
        elif mode == "instance":
            credentials_type = credentials_type or "ak"
            endpoint = self.kms_instance_endpoint
            instance = {
                "regionId": self.region_id,
                "endpoint": endpoint if self.tls else f"http://{endpoint}",
                "caFilePath": str(self.instance_ca_file),
            }
            lines.append("cache_client_dkms_config_info=" + json.dumps([instance], separators=(",", ":")))
        else:
            raise ValueError("mode must be 'dkms', 'gateway' or 'instance'")
        if not self.tls:
            lines.append("allow_insecure_http=true")
        if credentials_type is not None:
            lines.extend(self._credential_lines(credentials_type))
        names = list(secret_names)
        if names:
            lines.append("secret_names=" + ",".join(names))
        for key, value in (extra or {}).items():
            lines.append(f"{key}={value}")
        return "\n".join(lines) + "\n"

    def _credential_lines(self, credentials_type: str) -> list[str]:
        key = self.gateway_access_key
        if key is None:
            raise RuntimeError("the emulator is not running")
        if credentials_type not in ("ak", "ram_role", "sts", "client_key"):
            raise ValueError(
                "credentials_type must be 'ak', 'ram_role', 'sts' or 'client_key' for the emulator"
            )
        if credentials_type == "client_key":  # the DKMS client key also signs gateway requests
            return [
                "credentials_type=client_key",
                f"client_key_private_key_path={self.client_key_file}",
                f"client_key_password_from_file_path={self.client_key_password_file}",
            ]
        lines = [
            f"credentials_type={credentials_type}",
            f"credentials_access_key_id={key.access_key_id}",
            f"credentials_access_secret={key.access_key_secret}",
        ]
        if credentials_type != "ak":
            lines += [
                f"credentials_role_arn={self.role_arn}",
                "credentials_role_session_name=local-aliyun",
            ]
        return lines

    def write_properties(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: str = "dkms",
        secret_names: Iterable[str] = (),
        credentials_type: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Path:
        """Write :meth:`properties_text` (0600) to ``path`` (default: ``workdir/`` + the standard name)."""
        target = Path(path) if path is not None else self.workdir / PROPERTIES_FILE_NAME
        text = self.properties_text(
            mode=mode, secret_names=secret_names, credentials_type=credentials_type, extra=extra
        )
        _write_private(target, text)
        key = self.gateway_access_key
        _LOGGER.debug(
            "wrote %s properties (gateway key %s)", mode, mask_access_key_id(key.access_key_id if key else "")
        )
        return target
