"""Compatibility package for ``aliyun_sdk_secretsmanager_common_plugin.utils``."""
