"""The ``managed-credentials`` command line: check, get, emulator, demo.

Secrets go only to standard output of ``get``; every other command prints masked AccessKeyIds only.
Exit codes: 0 success, 1 a secret could not be fetched, 2 a configuration or usage problem.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..exceptions import ConfigError, ManagedCredentialsError

if TYPE_CHECKING:
    from ..config.loading import ProviderConfig
    from ..credentials import ManagedCredential

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ManagedCredentialsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="managed-credentials",
        description="Managed RAM credentials from Alibaba Cloud Secrets Manager for SDK clients.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="validate the configuration and fetch each named secret",
        description="Validate the configuration, fetch every secret in secret_names (and --secret), "
        "and print the masked AccessKeyId, version and next refresh time of each.",
    )
    check.add_argument(
        "--config", metavar="FILE", help="the properties file (default: the ConfigLoader name)"
    )
    check.add_argument("--secret", action="append", default=[], metavar="NAME", help="also fetch this secret")
    check.set_defaults(run=_run_check)

    get = commands.add_parser(
        "get",
        help="print one secret's credential for shells and credential_process-style tools",
        description="Fetch SECRET and print its AccessKey to standard output (and nowhere else).",
    )
    get.add_argument("secret", metavar="SECRET")
    get.add_argument("--config", metavar="FILE", help="the properties file (default: the ConfigLoader name)")
    get.add_argument("--format", choices=("env", "json"), default="env", help="env (export lines) or json")
    get.set_defaults(run=_run_get)

    emulator = commands.add_parser(
        "emulator",
        help="run the local Alibaba Cloud emulator until Ctrl-C",
        description="Start the local emulator (DKMS, KMS gateway and instance, RPC, STS, OSS) on "
        "127.0.0.1, create managed RAM credential secrets, write a ready properties file, print how "
        "another process calls it, and wait for Ctrl-C.",
    )
    emulator.add_argument(
        "--workdir", metavar="DIR", help="where to write keys and properties (default: a temp dir)"
    )
    emulator.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="create this RAM credential secret (default: demo-app-key)",
    )
    emulator.add_argument(
        "--mode",
        choices=("dkms", "gateway", "instance"),
        default="dkms",
        help="which KMS path the properties use: a client key (dkms), the shared gateway, or a KMS "
        "instance with RAM credentials (instance)",
    )
    emulator.add_argument("--no-tls", action="store_true", help="serve DKMS and KMS over plain HTTP")
    emulator.set_defaults(run=_run_emulator)

    demo = commands.add_parser(
        "demo",
        help="the end-to-end demo on the local emulator (what `make demo` runs)",
        description="Start the emulator, call through ProxyAcsClient and ProxyBucket from several "
        "threads, rotate and revoke the key mid-run, and print a summary.",
    )
    demo.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    demo.add_argument("--seconds", type=float, default=6.0, help="run time in seconds (default 6)")
    demo.set_defaults(run=_run_demo)

    from .serve import add_serve_command

    add_serve_command(commands)
    return parser


def _load(config: str | None) -> ProviderConfig:
    from ..config.config_loader import ConfigLoader
    from ..config.loading import load_config

    return load_config(config) if config else ConfigLoader.load()


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from ..bootstrap import provider_from_config
    from ..scheduler import ManualScheduler

    config = _load(args.config)
    names = list(dict.fromkeys([*config.secret_names, *args.secret]))
    where = config.source_path or "the environment"
    print(f"configuration OK: {where}", file=out)
    print(
        f"  sources: {len(config.dkms_instances)} DKMS instance(s) with a client key, "
        f"{len(config.ram_instances)} with RAM credentials, {len(config.kms_regions)} KMS region(s)",
        file=out,
    )
    if not names:
        print("  no secret to fetch: set secret_names or pass --secret NAME", file=out)
        return 0
    failed = 0
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        for name in names:
            try:
                cred = provider.get(name)
            except ManagedCredentialsError as exc:
                failed += 1
                print(f"FAIL {name}: {exc}", file=out)
                continue
            status = provider.status().secrets.get(name)
            next_at = status.next_refresh_at if status else None
            print(
                f"OK   {name}: AccessKeyId {cred.masked_access_key_id}, version {cred.version_id or '-'}, "
                f"next refresh {_when(next_at)}",
                file=out,
            )
        status_now = provider.status()
    counters = status_now.counters
    by_code = ", ".join(f"{code} x{n}" for code, n in sorted(status_now.failures_by_code.items()))
    print(
        f"  fetches {counters['fetches']}, failures {counters['fetch_failures']}"
        + (f" ({by_code})" if by_code else "")
        + f", throttled {counters['throttled']}; requests sent {status_now.source.get('requests', 0)}",
        file=out,
    )
    return 1 if failed else 0


def _run_get(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from ..bootstrap import provider_from_config
    from ..scheduler import ManualScheduler

    config = _load(args.config)
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        cred = provider.get(args.secret)
    if args.format == "json":
        print(json.dumps(credential_document(cred)), file=out)
    else:
        print(f"export ALIBABA_CLOUD_ACCESS_KEY_ID={shlex.quote(cred.access_key_id)}", file=out)
        print(f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={shlex.quote(cred.access_key_secret)}", file=out)
        if cred.security_token:
            print(f"export ALIBABA_CLOUD_SECURITY_TOKEN={shlex.quote(cred.security_token)}", file=out)
    return 0


def credential_document(cred: ManagedCredential) -> dict[str, str | None]:
    """What ``get --format json`` prints: always these four fields, in this order.

    ``SecurityToken`` and ``Expiration`` (UTC, ``2026-01-31T08:00:00Z``) are ``null`` for a RAM
    user's AccessKey, which has no token and no fixed expiry.
    """
    return {
        "AccessKeyId": cred.access_key_id,
        "AccessKeySecret": cred.access_key_secret,
        "SecurityToken": cred.security_token or None,
        "Expiration": _when(cred.expires_at).replace(" ", "T") if cred.expires_at else None,
    }


def _run_emulator(
    args: argparse.Namespace,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> int:
    out = out or sys.stdout
    from ..testing import LocalAliyun

    names = args.secret or ["demo-app-key"]
    workdir = Path(args.workdir) if args.workdir else None
    with LocalAliyun(workdir=workdir, tls=not args.no_tls) as cloud:
        for name in names:
            cloud.create_ram_secret(name, rotation_interval_seconds=6 * 3600)
        cloud.create_bucket("demo-bucket")
        properties = cloud.write_properties(mode=args.mode, secret_names=names)
        print("local Alibaba Cloud emulator running on 127.0.0.1", file=out)
        print(f"  properties: {properties}", file=out)
        print(
            f"  DKMS:  {cloud.dkms_endpoint}   KMS: {cloud.kms_endpoint}   OSS: {cloud.oss_endpoint}",
            file=out,
        )
        print(
            f"  KMS instance (RAM credentials): {cloud.kms_instance_endpoint} (CA {cloud.instance_ca_file})",
            file=out,
        )
        print(f"  RPC:   {cloud.rpc_url}   STS: {cloud.sts_url}", file=out)
        print(
            f"  admin: {cloud.admin_url} (send 'Authorization: Bearer <{cloud.workdir}/admin-token>')",
            file=out,
        )
        (Path(cloud.workdir) / "admin-token").write_text(cloud.admin_token)
        (Path(cloud.workdir) / "admin-token").chmod(0o600)
        print(f"  secrets: {', '.join(names)}  (bucket demo-bucket)", file=out)
        print("point your app at it:", file=out)
        print(
            f"  cp {properties} ./managed_credentials_providers.properties  # or set_config_name",
            file=out,
        )
        print("  managed-credentials check --config " + str(properties), file=out)
        print(
            "from another process (Python; unset HTTP_PROXY/HTTPS_PROXY first: the SDKs send "
            "127.0.0.1 traffic through them):",
            file=out,
        )
        print(client_snippet(properties, names[0], cloud.rpc_endpoint, str(cloud.oss_endpoint)), file=out)
        print("Ctrl-C stops it.", file=out, flush=True)
        if ready is not None:
            ready.set()
        (stop or threading.Event()).wait()
    return 0


SNIPPET_MARK = "# ---8<--- managed-credentials emulator snippet"


def client_snippet(properties: Path, secret_name: str, rpc_endpoint: str, oss_endpoint: str) -> str:
    """Python that calls the emulator from another process: an OpenAPI call and an OSS round trip.

    Between two :data:`SNIPPET_MARK` lines, unindented, so it can be pasted into a file as it is.
    """
    return "\n".join(
        [
            SNIPPET_MARK,
            "from aliyunsdkcore.request import CommonRequest",
            "from common_plugin import ConfigLoader",
            "from oss_plugin import ProxyBucket",
            "from sdk_core_plugin import ProxyAcsClient",
            "",
            f"ConfigLoader.set_config_name({str(properties)!r})  # before the first client",
            f"with ProxyAcsClient({secret_name!r}, region_id='cn-hangzhou') as client:",
            f"    request = CommonRequest(domain={rpc_endpoint!r}, version='2015-04-01',",
            "                            action_name='GetCallerIdentity')",
            "    request.set_protocol_type('http')  # the emulator's OpenAPI endpoint is plain HTTP",
            "    print(client.do_action_with_exception(request).decode())",
            f"bucket = ProxyBucket({secret_name!r}, {oss_endpoint!r}, 'demo-bucket')",
            "bucket.put_object('hello.txt', b'hello from a managed key')",
            "print(bucket.get_object('hello.txt').read().decode())",
            "bucket.shutdown()",
            SNIPPET_MARK,
        ]
    )


def _run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from .demo import run_demo

    return run_demo(threads=args.threads, seconds=args.seconds, out=out)
