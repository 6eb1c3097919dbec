"""Compatibility package: the import paths of aliyun-sdk-common-managed-credentials-provider."""
