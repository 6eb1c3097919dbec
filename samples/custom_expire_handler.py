"""Sample: decide yourself which errors mean "the managed key was rotated": a handler class or a function.

When a call fails, the client asks its ``ak_expire_handler`` whether the error means the key was
rejected; on True it refreshes the secret once and, if the key changed, retries the call once.
A handler replaces the default (``SdkCoreAKExpireHandler``), so keep its codes: here we add a
disabled key (``InvalidAccessKeyId.Inactive``). Handlers are called from many threads at once:
keep them fast and thread-safe, and don't raise (an exception counts as False).

Run against the local emulator: ``.venv/bin/python samples/custom_expire_handler.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from aliyunsdkcore.request import CommonRequest

from common_plugin import AKExpireHandler, ConfigLoader
from common_plugin.ak_expire_handler import error_code_of
from sdk_core_plugin import ProxyAcsClient, SdkCoreAKExpireHandler

SECRET_NAME = "demo-app-key"
# the default codes (InvalidAccessKeyId.NotFound, ...) plus a disabled key
REJECTED_CODES = SdkCoreAKExpireHandler().codes | {"InvalidAccessKeyId.Inactive"}


class RejectedKeyHandler(AKExpireHandler):
    """A handler class: judges by the SDK's error code, and remembers the codes it was asked about."""

    def __init__(self) -> None:
        self.judged: list[str] = []  # list.append is atomic: safe from many threads

    def judge_ak_expire(self, exception: BaseException) -> bool:
        code = error_code_of(exception)  # the code of an aliyunsdkcore, oss2 or Tea error, or None
        self.judged.append(str(code))
        return code in REJECTED_CODES


def is_key_rejected(exception: BaseException) -> bool:
    """A plain function works too: anything taking the exception and returning bool."""
    return error_code_of(exception) in REJECTED_CODES


def main(
    properties: str | os.PathLike[str] | None = None,
    secret_name: str = SECRET_NAME,
    domain: str = "sts.cn-hangzhou.aliyuncs.com",
    protocol: str = "https",
    rotate: Callable[[], object] | None = None,
) -> RejectedKeyHandler:
    """Two calls through each of two clients; ``rotate`` (for the demo) revokes the key after each call."""
    if properties is not None:
        ConfigLoader.set_config_name(properties)
    handler = RejectedKeyHandler()
    by_class = ProxyAcsClient(secret_name, ak_expire_handler=handler)
    by_function = ProxyAcsClient(secret_name, ak_expire_handler=is_key_rejected)
    with by_class, by_function:
        for label, client in (("handler class", by_class), ("plain function", by_function)):
            for _ in range(2):
                request = CommonRequest(domain=domain, version="2015-04-01", action_name="GetCallerIdentity")
                request.set_protocol_type(protocol)
                arn = json.loads(client.do_action_with_exception(request))["Arn"]
                print(f"{label}: {arn} with {client.provider.get(secret_name).masked_access_key_id}")
                if rotate is not None:
                    rotate()  # revokes the old key: the next call is rejected, refreshed and retried
    print(f"the handler class was asked about: {handler.judged}")
    return handler


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        path = cloud.write_properties(secret_names=[SECRET_NAME])
        main(path, domain=cloud.rpc_endpoint, protocol="http", rotate=lambda: cloud.rotate(SECRET_NAME))
