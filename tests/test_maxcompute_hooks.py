"""Pins the PyODPS internals listed in docs/sdk_hooks.md.

If a newer PyODPS drops or renames one, these tests fail with a message that says what to re-check,
instead of ProxyOdps or ManagedOdpsAccount silently breaking.
"""

from __future__ import annotations

import inspect

import odps
from odps import ODPS
from odps.accounts import BaseAccount, CloudAccount
from odps.rest import RestClient

CHECKED = "0.13.2"


def test_rest_client_request_is_the_one_request_path() -> None:
    params = list(inspect.signature(RestClient.request).parameters)
    assert params == ["self", "url", "method", "stream", "kwargs"], (
        f"pyodps {odps.__version__}: RestClient.request{inspect.signature(RestClient.request)} changed shape "
        f"since {CHECKED}; re-check maxcompute_plugin/client.py"
    )
    for verb in ("get", "post", "put", "head", "delete"):
        assert "self.request(" in inspect.getsource(getattr(RestClient, verb)), (
            f"RestClient.{verb} bypasses request"
        )
    # Each attempt inside request() signs through the account.
    assert "self._account.sign_request(" in inspect.getsource(RestClient._request)


def test_odps_takes_a_rest_client_class() -> None:
    source = inspect.getsource(ODPS._init)
    assert 'kw.pop("rest_client_cls", None)' in source and "self.rest = self._rest_client_cls(" in source, (
        f"pyodps {odps.__version__}: ODPS(rest_client_cls=...) is gone (checked {CHECKED}); "
        "re-check maxcompute_plugin/client.py"
    )


def test_account_signing_seam() -> None:
    """ManagedOdpsAccount subclasses BaseAccount and delegates to CloudAccount.sign_request."""
    for cls in (BaseAccount, CloudAccount):
        params = list(inspect.signature(cls.sign_request).parameters)
        assert params == ["self", "req", "endpoint", "region_name"], (
            f"pyodps {odps.__version__}: {cls.__name__}"
        )
    assert inspect.signature(CloudAccount).parameters.keys() == {"access_id", "secret_access_key"}
