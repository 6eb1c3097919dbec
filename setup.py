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
    # dkms-transfer pins alibabacloud-dkms-gcs==1.0.2, which pins pyopenssl<23.3 (so cryptography<42)
    # and protobuf<4; we state the same bounds so the resolver never has to guess.
    "alibabacloud-dkms-transfer-python>=0.1.3",
    "alibabacloud-dkms-gcs>=1.0.2",
    "cryptography>=41,<42",
    "protobuf>=3.20,<4",
    "apscheduler>=3.10,<4",
]

EXTRAS = {
    "test": [
        "pytest>=8",
        "responses>=0.25",
        "hypothesis>=6.100",
        "ruff>=0.6",
        "import-linter>=2.1",
        "mypy>=1.10",
        "prometheus_client>=0.17",
        # the "v2" extra, plus the small STS V2 client the Tea tests and samples call
        "alibabacloud-credentials>=1.0.12",
        "alibabacloud-credentials-api>=1.0.1",
        "alibabacloud-tea-openapi>=0.4.6",
        "alibabacloud-oss-v2>=1.4.1",
        "alibabacloud-sts20150401>=1.2.0",
        # the "log" and "maxcompute" extras
        "aliyun-log-python-sdk>=0.9.52",
        "pyodps>=0.13.2",
    ],
    "prometheus": ["prometheus_client>=0.17"],
    # Tea / OpenAPI V2 SDKs (common_plugin.adapters.tea, the serve tests) and alibabacloud-oss-v2
    # (oss_plugin.v2); checked to resolve with cryptography<42 and protobuf<4 above.
    "v2": [
        "alibabacloud-credentials>=1.0.12",
        "alibabacloud-credentials-api>=1.0.1",
        "alibabacloud-tea-openapi>=0.4.6",
        "alibabacloud-oss-v2>=1.4.1",
    ],
    # Log Service (log_plugin): LogClient and its logging handlers.
    "log": ["aliyun-log-python-sdk>=0.9.52"],
    # MaxCompute (maxcompute_plugin): PyODPS's ODPS entry object (a binary wheel; brings pyarrow).
    "maxcompute": ["pyodps>=0.13.2"],
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
    license="Apache-2.0",
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
        "License :: OSI Approved :: Apache Software License",
        "Typing :: Typed",
    ],
)
