"""``common_plugin.adapters.pinned``: one operation pinned to one snapshot, and its one retry.

Log Service and MaxCompute reach this code through their SDKs (``test_log_plugin.py``,
``test_maxcompute_plugin.py``), but their bodies are always bytes built in memory. Here an operation
is a small function standing in for an SDK call: it signs with what :class:`PinnedCredentials`
hands out, reads its body, and is refused when the emulated cloud no longer knows the key. Secrets
come from the emulator over the real wire, and the emulator decides which keys are valid.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from common_plugin.adapters.pinned import PinnedCredentials, call_with_one_retry, rewinder_for
from common_plugin.ak_expire_handler import ErrorCodeExpireHandler
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun

SECRET = "app-key"
HANDLER = ErrorCodeExpireHandler(("InvalidAccessKeyId.NotFound",))


class Rejected(Exception):
    code = "InvalidAccessKeyId.NotFound"


class Operation:
    """Stands in for one SDK operation: signs with ``credentials.current()`` at each attempt, reads
    the whole ``body`` and is rejected if the emulator no longer knows the key it signed with."""

    def __init__(self, cloud: LocalAliyun, credentials: PinnedCredentials, body: object = None) -> None:
        self.cloud = cloud
        self.credentials = credentials
        self.body = body
        self.sent: list[tuple[str, bytes | None]] = []

    def __call__(self) -> str:
        key = self.credentials.current()
        read = getattr(self.body, "read", None)
        data = read() if callable(read) else None
        self.sent.append((key.access_key_id, data))
        if self.cloud.state.lookup_key(key.access_key_id) is None:
            raise Rejected()
        return "ok"

    def run(self) -> str:
        return call_with_one_retry(
            self.credentials, self, errors=Rejected, handler=HANDLER, what="a test operation",
            rewind=rewinder_for(self.body),
        )


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


@pytest.fixture
def provider(cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]) -> CredentialsProvider:
    return make_provider(cloud)


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def test_the_retry_signs_with_the_replacement_and_re_sends_a_seekable_body_from_its_start(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    credentials = PinnedCredentials(provider, SECRET)
    old = credentials.current().access_key_id
    cloud.rotate(SECRET)  # the old key is deleted at once
    new = cloud.current_key(SECRET).access_key_id
    body = io.BytesIO(b"--payload")
    body.seek(2)  # the operation's body starts here, not at 0
    operation = Operation(cloud, credentials, body)
    assert operation.run() == "ok"
    assert operation.sent == [(old, b"payload"), (new, b"payload")]
    assert provider.status().counters["retries"] == 1


def test_a_body_that_cannot_be_re_sent_keeps_the_original_error(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    credentials = PinnedCredentials(provider, SECRET)
    credentials.current()
    cloud.rotate(SECRET)
    operation = Operation(cloud, credentials, Pipe(b"payload"))
    with pytest.raises(Rejected):
        operation.run()
    assert len(operation.sent) == 1
    assert credentials.current().access_key_id == cloud.current_key(SECRET).access_key_id  # for next time
    assert provider.status().counters["retries"] == 0


def test_a_retry_rejected_in_turn_is_not_retried_again(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    credentials = PinnedCredentials(provider, SECRET)
    credentials.current()
    rotations: list[object] = []

    def rotate_again(name: str, old: object, new: object) -> None:
        if not rotations:
            rotations.append(cloud.rotate(SECRET))  # revokes the replacement just installed

    provider.add_listener(rotate_again, secret_name=SECRET)
    cloud.rotate(SECRET)
    operation = Operation(cloud, credentials)
    with pytest.raises(Rejected):
        operation.run()
    assert len(operation.sent) == 2 and len(rotations) == 1
    assert fetches(cloud) == 2  # the first load and one replacement, no more
    assert provider.status().counters["retries"] == 1


def test_the_pin_ends_with_the_operation(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    credentials = PinnedCredentials(provider, SECRET)
    credentials.current()
    cloud.rotate(SECRET)
    assert Operation(cloud, credentials).run() == "ok"  # retried: pinned to the replacement meanwhile
    cloud.rotate(SECRET, grace_seconds=3600)
    newest = provider.refresh(SECRET)
    assert credentials.current() is newest  # outside an operation: the newest key, no leftover pin


def test_every_attempt_inside_an_operation_signs_with_its_snapshot(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    """An SDK's own attempts (after a 5xx, say) belong to the operation: a refresh in between must
    not change the key they sign with, or a rejection would be reported for the wrong snapshot."""
    credentials = PinnedCredentials(provider, SECRET)
    signed: list[str] = []

    def two_attempts() -> str:
        signed.append(credentials.current().access_key_id)
        cloud.rotate(SECRET, grace_seconds=3600)
        provider.refresh(SECRET)  # as a background refresh between the SDK's attempts
        signed.append(credentials.current().access_key_id)
        return "ok"

    assert call_with_one_retry(
        credentials, two_attempts, errors=Rejected, handler=HANDLER, what="a test operation"
    ) == "ok"
    assert signed[0] == signed[1] != provider.get(SECRET).access_key_id
