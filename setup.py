"""Packaging for the managed-credentials provider suite for Alibaba Cloud SDKs."""

from setuptools import find_packages, setup

PACKAGES = find_packages(
    include=[
        "common_plugin",
        "common_plugin.*",
        "sdk_core_plugin",
        "sdk_core_plugin.*",
        "oss_plugin",
        "oss_plugin.*",
        "log_plugin",
        "log_plugin.*",
        "maxcompute_plugin",
        "maxcompute_plugin.*",
        "aliyun_sdk_secretsmanager_common_plugin",
        "aliyun_sdk_secretsmanager_common_plugin.*",
        "aliyun_sdk_secretsmanager_sdk_core_plugin",
        "aliyun_sdk_secretsmanager_sdk_core_plugin.*",
        "aliyun_sdk_secretsmanager_oss_plugin",
        "aliyun_sdk_secretsmanager_oss_plugin.*",
    ]
)

INSTALL_REQUIRES = [
    "aliyun-python-sdk-core>=2.13.30",
    "aliyun-python-sdk-kms>=2.14.0",
    "oss2>=2.16.0",
    # The DKMS client is our own (common_plugin.sources.dkms_*): cryptography opens the client key's
    # PKCS#12 and signs; 42.0.4 carries the PKCS#12 fixes (OpenSSL's CVE-2024-0727, its own
    # CVE-2024-26130).
    "cryptography>=42.0.4",
    "apscheduler>=3.10,<4",
]

# Tea / OpenAPI V2 SDKs (common_plugin.adapters) and alibabacloud-oss-v2 (oss_plugin.v2).
# Extra names are never version-like ("v2"): pip 24.1-25.3 then fails `pip install .` with
# "InvalidVersion: 'test'" when it evaluates the `extra == ...` markers.
TEA = [
    "alibabacloud-credentials>=1.0.12",
    "alibabacloud-credentials-api>=1.0.1",
    "alibabacloud-tea-openapi>=0.4.6",
    "alibabacloud-oss-v2>=1.4.1",
]
LOG = ["aliyun-log-python-sdk>=0.9.52"]
MAXCOMPUTE = ["pyodps>=0.13.2"]
# Everything a file in samples/ imports beyond install_requires: the Tea adapters, the STS V2 product
# client that tea_v2_client.py and asyncio_provider.py call, and the Log Service and MaxCompute SDKs
# (tests/test_packaging.py checks).
SAMPLES = [*TEA, "alibabacloud-sts20150401>=1.2.0", *LOG, *MAXCOMPUTE]

EXTRAS = {
    "test": [
        "pytest>=8",
        "responses>=0.25",
        "hypothesis>=6.100",
        "ruff>=0.6",
        "import-linter>=2.1",
        "mypy>=1.10",
        "prometheus_client>=0.17",
        *SAMPLES,
    ],
    "prometheus": ["prometheus_client>=0.17"],
    "tea": TEA,
    "samples": SAMPLES,
    # Log Service (log_plugin): LogClient and its logging handlers.
    "log": LOG,
    # MaxCompute (maxcompute_plugin): PyODPS's ODPS entry object (a binary wheel; brings pyarrow).
    "maxcompute": MAXCOMPUTE,
    # Peers measured by benchmarks/bench_read.py (offline: stubbed refreshes and clients).
    "bench": [
        "botocore>=1.34",
        "aws-secretsmanager-caching>=1.1",
        "alibabacloud-credentials>=1.0.12,<2",
    ],
}

setup(
    name="alibabacloud-managed-credentials-providers",
    version="0.1.0",
    description="Managed RAM credentials from Secrets Manager for Alibaba Cloud Python SDKs",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # SPDX form (setuptools>=77, pyproject.toml); a "License ::" classifier beside it is an error there.
    license_expression="Apache-2.0",
    python_requires=">=3.10",
    packages=PACKAGES,
    package_data={
        "common_plugin": ["py.typed"],
        "sdk_core_plugin": ["py.typed"],
        "oss_plugin": ["py.typed"],
        "log_plugin": ["py.typed"],
        "maxcompute_plugin": ["py.typed"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["managed-credentials = common_plugin.cli:main"],
        "pytest11": ["managed_credentials = common_plugin.testing.pytest_plugin"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    ],
)
