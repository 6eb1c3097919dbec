"""Adapters that hand managed credentials to SDKs shared by every Alibaba Cloud product.

Where an adapter lives: one for a single product's SDK family lives in that product's plugin
(``sdk_core_plugin`` for aliyunsdkcore, ``oss_plugin`` for oss2 and alibabacloud-oss-v2,
``log_plugin`` for aliyun-log-python-sdk, ``maxcompute_plugin`` for PyODPS); one that serves every
product lives here: :mod:`.tea` (Tea / OpenAPI V2 clients and ``alibabacloud_credentials``),
:mod:`.aio` (asyncio), and :mod:`.pinned` (the per-operation key pin and one-retry loop that
request-signing SDK plugins share). Nothing is imported eagerly, so importing
this package costs nothing until an adapter is used.
"""

from __future__ import annotations

__all__: list[str] = []
