"""maxcompute_plugin: PyODPS (MaxCompute) clients that sign with a managed RAM credential.

``ProxyOdps`` is a drop-in for ``odps.ODPS``; ``ManagedOdpsAccount`` is a PyODPS account over a
managed credential and ``ManagedRestClient`` the ``rest_client_cls`` that adds the one retry after a
rejected key; ``MaxComputeAKExpireHandler`` is the default judgement. Install with the
``maxcompute`` extra.
"""

from __future__ import annotations

import logging

from .account import ManagedOdpsAccount
from .client import ManagedRestClient, ProxyOdps
from .handler import MaxComputeAKExpireHandler

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ManagedOdpsAccount",
    "ManagedRestClient",
    "MaxComputeAKExpireHandler",
    "ProxyOdps",
]
