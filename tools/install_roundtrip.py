"""Run by ``check_install.py`` with a throw-away venv's interpreter, after a non-editable install.

1. ``--plain``: what a plain install brought. Once ``install_requires`` no longer names the legacy
   DKMS SDK (``alibabacloud-dkms-gcs``), it must hold no pyOpenSSL, no protobuf and cryptography >= 42.
2. ``--roundtrip``: every public package imports from the venv (not from the checkout), and one
   credential comes back through the emulator over HTTPS (its generated CA) from the DKMS source and
   from the KMS-gateway source (``load_config`` + ``provider_from_config``), and once more through
   the installed ``managed-credentials`` console script.

Prints masked AccessKeyIds only. Exit status 1 with the reason on any failure.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

DIST_NAME = "alibabacloud-managed-credentials-providers"
LEGACY_DKMS_SDK = "alibabacloud-dkms-gcs"
PUBLIC_PACKAGES = (
    "common_plugin",
    "sdk_core_plugin",
    "oss_plugin",
    "aliyun_sdk_secretsmanager_common_plugin",
    "aliyun_sdk_secretsmanager_sdk_core_plugin",
    "aliyun_sdk_secretsmanager_oss_plugin",
)
SECRET_NAME = "install-check-key"  # noqa: S105 - a secret's name, not its value


class Failed(Exception):
    pass


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _required_names() -> set[str]:
    """The distributions ``install_requires`` names (requirements behind an extra left out)."""
    names = set()
    for requirement in metadata.requires(DIST_NAME) or []:
        head, _, marker = requirement.partition(";")
        match = re.match(r"[A-Za-z0-9._-]+", head.strip())
        if match and "extra" not in marker:
            names.add(_canonical(match.group(0)))
    return names


def check_plain_install() -> None:
    installed = {
        _canonical(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if _canonical(d.metadata["Name"]) not in ("pip", "setuptools", "wheel")  # the venv's own
    }
    shown = ", ".join(f"{name} {installed[name]}" for name in ("cryptography", "protobuf", "pyopenssl")
                      if name in installed)
    print(f"plain install: {len(installed)} distributions besides pip/setuptools; {shown}")
    if LEGACY_DKMS_SDK in _required_names():
        print(
            f"SKIP the no-pyOpenSSL/no-protobuf/cryptography>=42 rule: install_requires still names "
            f"{LEGACY_DKMS_SDK}, which pins pyopenssl<23.3 and protobuf<4"
        )
        return
    problems = [
        f"{name} {installed[name]} is installed" for name in ("pyopenssl", "protobuf") if name in installed
    ]
    crypto = installed.get("cryptography")
    if crypto is None or int(crypto.split(".")[0]) < 42:
        problems.append(f"cryptography {crypto} (need >= 42)")
    if problems:
        raise Failed("a plain install must not pin the process to old crypto: " + "; ".join(problems))
    print("plain install: no pyOpenSSL, no protobuf, cryptography >= 42")


def check_imports() -> None:
    prefix = Path(sys.prefix).resolve()
    for name in PUBLIC_PACKAGES:
        module = importlib.import_module(name)
        where = Path(str(module.__file__)).resolve()
        if not where.is_relative_to(prefix):
            raise Failed(f"{name} imported from {where}, not from the venv {prefix}")
    print(f"imported {len(PUBLIC_PACKAGES)} packages from {prefix}")


def roundtrip() -> None:
    from common_plugin import load_config, provider_from_config
    from common_plugin.testing import LocalAliyun
    from common_plugin.testing.environment import clear_ambient_environment

    clear_ambient_environment()  # proxies and CA variables would redirect loopback traffic
    with tempfile.TemporaryDirectory(prefix="install-roundtrip-") as tmp:
        with LocalAliyun(workdir=Path(tmp) / "cloud") as cloud:
            cloud.create_ram_secret(SECRET_NAME)
            expected = cloud.current_key(SECRET_NAME).access_key_id
            for mode, service in (("dkms", "dkms"), ("gateway", "kms")):
                path = cloud.write_properties(Path(tmp) / f"{mode}.properties", mode=mode)
                with provider_from_config(load_config(path)) as provider:
                    credential = provider.get(SECRET_NAME)
                if credential.access_key_id != expected or cloud.count(service, "GetSecretValue") != 1:
                    raise Failed(f"{mode}: the emulator's key did not come back")
                print(f"{mode}: {SECRET_NAME} -> {credential.masked_access_key_id} over HTTPS (emulator CA)")
            cli = Path(sys.prefix) / "bin" / "managed-credentials"
            properties = str(Path(tmp) / "gateway.properties")
            done = subprocess.run(  # noqa: S603 - the venv's own console script
                [str(cli), "check", "--config", properties, "--secret", SECRET_NAME],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0 or cloud.count("kms", "GetSecretValue") != 2:
                tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
                raise Failed("managed-credentials check failed: " + " / ".join(tail))
            print(f"managed-credentials check --secret {SECRET_NAME}: exit 0 (console script)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="check what a plain install brought")
    parser.add_argument("--roundtrip", action="store_true", help="imports and the emulator round trip")
    args = parser.parse_args()
    try:
        if args.plain:
            check_plain_install()
        if args.roundtrip:
            check_imports()
            roundtrip()
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
