"""Driving the real alibabacloud-dkms-gcs 1.0.2 client (reference environment only).

``transport_request`` takes a request as the client hands it to its transport (``TeaCore.do_action``:
the ordered header dict and the body) without any network; ``wire_request`` sends it to a loopback
:class:`wire_capture.CaptureServer` and returns the exact bytes. Both pin the ``date`` header.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from alibabacloud_tea_util.client import Client as UtilClient
from openapi import client as openapi_client
from openapi.models import Config
from openapi_util.client import Client as OpenapiUtil
from openapi_util.models import RuntimeOptions
from sdk.client import Client
from sdk.models import GetSecretValueRequest
from Tea.response import TeaResponse
from wire_capture import CaptureServer, http_response

__all__ = ["make_client", "patched", "transport_request", "wire_request"]


@contextlib.contextmanager
def patched(owner: type, name: str, function: Callable[..., Any]) -> Iterator[None]:
    """Replace the static method ``owner.name`` by ``function`` for the ``with`` block."""
    saved = owner.__dict__[name]
    setattr(owner, name, staticmethod(function))
    try:
        yield
    finally:
        setattr(owner, name, saved)


@contextlib.contextmanager
def frozen_time(epoch: float) -> Iterator[None]:
    """The client's ``date`` header comes from ``email.utils.formatdate()``, i.e. ``time.time()``."""
    with mock.patch.object(time, "time", return_value=epoch):
        yield


def make_client(
    endpoint: str,
    key_content: str,
    password: str,
    *,
    protocol: str = "https",
    user_agent: str | None = None,
    product: str | None = None,
    ca_file_path: str | None = None,
) -> Any:
    """A dkms-gcs ``Client``. ``user_agent`` replaces its whole User-Agent; ``product`` is its
    ``Config.user_agent``, which it places inside its own."""
    client = Client(
        Config(
            protocol=protocol,
            endpoint=endpoint,
            client_key_content=key_content,
            password=password,
            ca_file_path=ca_file_path,
            user_agent=product,
        )
    )
    if user_agent is not None:
        client._user_agent = user_agent
    return client


def _request(fields: dict[str, Any]) -> Any:
    return GetSecretValueRequest(**fields)


def transport_request(
    client: Any, fields: dict[str, Any], epoch: float
) -> tuple[list[list[str]], bytes, str]:
    """``(ordered headers, body, string to sign)`` the client produces for ``fields`` at ``epoch``."""
    seen: dict[str, Any] = {}
    sign = OpenapiUtil.get_string_to_sign

    def do_action(request: Any, runtime: Any = None) -> Any:
        seen["headers"] = [[name, value] for name, value in request.headers.items()]
        seen["body"] = request.body
        response = TeaResponse()
        response.status_code, response.headers, response.body = 200, {}, b""
        return response

    def string_to_sign(*args: Any) -> Any:
        seen["string_to_sign"] = sign(*args)
        return seen["string_to_sign"]

    with (
        patched(openapi_client.TeaCore, "do_action", do_action),
        patched(OpenapiUtil, "get_string_to_sign", string_to_sign),
        frozen_time(epoch),
    ):
        client.get_secret_value_with_options(_request(fields), RuntimeOptions(autoretry=False))
    return seen["headers"], seen["body"], seen["string_to_sign"]


def wire_request(
    fields: dict[str, Any],
    epoch: float,
    key_content: str,
    password: str,
    *,
    user_agent: str,
    reply: bytes = b"",
) -> tuple[str, bytes]:
    """``(host, raw request)``: the bytes the client writes for ``fields`` over plain HTTP."""
    with CaptureServer(lambda raw: http_response(200, reply)) as server:
        client = make_client(server.endpoint, key_content, password, protocol="http", user_agent=user_agent)
        with frozen_time(epoch):
            client.get_secret_value_with_options(_request(fields), RuntimeOptions(autoretry=False))
    (raw,) = server.requests
    return server.endpoint, raw


def date_of(epoch: float) -> str:
    """The ``date`` header the client sends at ``epoch`` (its own code path)."""
    with frozen_time(epoch):
        return str(UtilClient.get_date_utcstring())
