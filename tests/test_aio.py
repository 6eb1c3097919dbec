"""asyncio access: one fetch for many tasks (and threads), and an event loop that never stalls.

"The fetch does not run on the loop" is proven by structure, never by timing: the fetch is held
open in :class:`HeldSource` (a gate around the real DKMS source) while a heartbeat task keeps
counting turns of the loop; only then is it released. A fetch on the loop's thread would stop the
heartbeat, fail the check that it is still held, and be recorded as run on the loop's thread.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

from common_plugin.adapters.aio import (
    AsyncCredentialsProvider,
    async_provider,
    get_async,
    refresh_rejected_async,
)
from common_plugin.adapters.tea import RefreshingTeaClient, TeaCredentialsProvider
from common_plugin.config import load_config
from common_plugin.credentials import SecretValue
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource
from common_plugin.sources.factory import build_source
from common_plugin.testing import LocalAliyun
from common_plugin.testing.state import Fault

SECRET = "app-key"
TASKS = 200
HEARTBEATS = 50  # turns of the loop counted while the fetch is held
SAFETY_NET = 30.0  # seconds; only ever reached when the code under test is broken
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

T = TypeVar("T")


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


class HeldSource(SecretSource):
    """The real DKMS source behind a gate: after :meth:`hold`, a fetch blocks in the thread that
    runs it until :meth:`release`. Records which threads fetched."""

    def __init__(self, inner: SecretSource) -> None:
        self._inner = inner
        self.fetch_threads: list[int] = []
        self.entered = threading.Event()
        self.timed_out = False
        self._gate: threading.Event | None = None

    def hold(self) -> None:
        self.entered.clear()
        self._gate = threading.Event()

    def release(self) -> None:
        gate, self._gate = self._gate, None
        assert gate is not None
        gate.set()

    @property
    def holding(self) -> bool:
        """A fetch has entered and is still blocked at the gate."""
        gate = self._gate
        return self.entered.is_set() and gate is not None and not gate.is_set() and not self.timed_out

    def get_secret_value(self, secret_name: str) -> SecretValue:
        self.fetch_threads.append(threading.get_ident())
        gate = self._gate
        self.entered.set()
        if gate is not None and not gate.wait(SAFETY_NET):
            self.timed_out = True  # nobody released it: the loop that should have was blocked
        return self._inner.get_secret_value(secret_name)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def held(cloud: LocalAliyun, tmp_path: Path) -> Iterator[tuple[CredentialsProvider, HeldSource]]:
    """A provider over the emulator's real DKMS source, behind a :class:`HeldSource` gate."""
    source = HeldSource(build_source(load_config(cloud.write_properties(tmp_path / "p.properties"))))
    provider = CredentialsProvider(source, scheduler=ManualScheduler(), clock=cloud.clock, owns_source=True)
    yield provider, source
    provider.close()


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that remembers every callable it was given."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers)
        self.submitted: list[Any] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.submitted.append(fn)
        return super().submit(fn, *args, **kwargs)

    def calls_of(self, method: Any) -> int:
        """How many submitted callables were ``method`` with arguments bound (``functools.partial``)."""
        return sum(1 for fn in self.submitted if getattr(fn, "func", None) == method)


class Heartbeat:
    """A task that counts turns of the event loop: while the loop is blocked, ``ticks`` stands still."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = False

    async def run(self) -> None:
        while not self._stop:
            await asyncio.sleep(0)  # returns after one turn of the loop
            self.ticks += 1

    def stop(self) -> None:
        self._stop = True


async def while_fetch_is_held(source: HeldSource, work: Awaitable[T]) -> T:
    """Run ``work`` with its fetch held at ``source``'s gate until a heartbeat task has ticked
    :data:`HEARTBEATS` times, checking all along that the fetch is still held and ``work`` pending."""
    source.hold()
    task = asyncio.ensure_future(work)
    heartbeat = Heartbeat()
    beat = asyncio.create_task(heartbeat.run())
    try:
        # Waited for in a thread, so the loop keeps running the tasks that start the fetch.
        assert await asyncio.to_thread(source.entered.wait, SAFETY_NET), "no fetch started"
        first = heartbeat.ticks
        while heartbeat.ticks < first + HEARTBEATS:
            assert source.holding and not task.done(), "the fetch ended before it was released"
            await asyncio.sleep(0)
        assert source.holding and not task.done()
    finally:
        heartbeat.stop()
        await beat
        if source.holding:
            source.release()
    return await task


def test_200_tasks_across_a_revoke_fetch_once_without_blocking_the_loop(
    cloud: LocalAliyun, held: tuple[CredentialsProvider, HeldSource]
) -> None:
    provider, source = held
    old = provider.get(SECRET)
    before = fetches(cloud)
    cloud.rotate(SECRET)  # immediate revoke
    new_id = cloud.current_key(SECRET).access_key_id
    thread_results: list[str | None] = []
    threads_go = threading.Event()

    def thread_worker() -> None:  # plain threads join the same single flight
        assert threads_go.wait(SAFETY_NET)
        fresh = provider.refresh_rejected(SECRET, old)
        thread_results.append(fresh.access_key_id if fresh else None)

    threads = [threading.Thread(target=thread_worker) for _ in range(8)]
    for t in threads:
        t.start()

    async def one_task(start: asyncio.Event) -> str:
        await start.wait()
        used = await get_async(provider, SECRET)  # the cached, revoked key
        assert used.access_key_id == old.access_key_id
        fresh = await refresh_rejected_async(provider, SECRET, used)  # as after a rejection
        assert fresh is not None
        return fresh.access_key_id

    async def scenario() -> list[str]:
        start = asyncio.Event()
        tasks = [asyncio.create_task(one_task(start)) for _ in range(TASKS)]
        await asyncio.sleep(0)
        start.set()
        threads_go.set()
        return await asyncio.gather(*tasks)

    results = asyncio.run(while_fetch_is_held(source, scenario()))
    for t in threads:
        t.join(SAFETY_NET)
    assert source.fetch_threads[1:] == [source.fetch_threads[1]]  # one fetch after the first get
    assert source.fetch_threads[1] != threading.get_ident()  # not on the loop's thread
    assert results == [new_id] * TASKS
    assert thread_results == [new_id] * 8
    assert fetches(cloud) - before == 1  # exactly one fetch for the revoke


def test_200_tasks_on_a_cold_cache_fetch_once(
    cloud: LocalAliyun, held: tuple[CredentialsProvider, HeldSource]
) -> None:
    provider, source = held

    executor = CountingExecutor(max_workers=4)

    async def scenario() -> set[str]:
        creds = await asyncio.gather(*(get_async(provider, SECRET) for _ in range(TASKS)))
        return {c.access_key_id for c in creds}

    async def main() -> set[str]:
        asyncio.get_running_loop().set_default_executor(executor)
        return await while_fetch_is_held(source, scenario())

    ids = asyncio.run(main())
    assert ids == {cloud.current_key(SECRET).access_key_id}
    assert fetches(cloud) == 1
    assert executor.calls_of(provider.get) == 1  # the 200 tasks shared one worker thread's call
    assert len(source.fetch_threads) == 1
    assert source.fetch_threads[0] != threading.get_ident()  # a worker thread, not the loop's


def test_provider_methods_delegate_to_the_async_helpers(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)

    async def scenario() -> tuple[str, str | None]:
        with pytest.warns(DeprecationWarning, match="adapters.aio.get_async"):
            first = await provider.get_async(SECRET)
        cloud.rotate(SECRET)
        with pytest.warns(DeprecationWarning, match="adapters.aio.refresh_rejected_async"):
            fresh = await provider.refresh_rejected_async(SECRET, first)
        return first.access_key_id, fresh.access_key_id if fresh else None

    old_id, new_id = asyncio.run(scenario())
    assert new_id == cloud.current_key(SECRET).access_key_id != old_id
    assert fetches(cloud) == 2


def test_a_cache_hit_never_leaves_the_loop(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    with CountingExecutor(max_workers=2) as executor:
        aio = AsyncCredentialsProvider(provider, executor=executor)

        async def scenario() -> None:
            await aio.get(SECRET)  # a miss: one hop
            for _ in range(50):
                await aio.get(SECRET)
            current = provider.get(SECRET)
            other = await aio.refresh_rejected(SECRET, _different(current))
            assert other is current  # already replaced: no hop, no fetch

        asyncio.run(scenario())
    assert len(executor.submitted) == 1
    assert fetches(cloud) == 1


def _different(cred: Any) -> Any:
    import dataclasses

    return dataclasses.replace(cred, access_key_id=cred.access_key_id + "-old")


def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    cloud: LocalAliyun, held: tuple[CredentialsProvider, HeldSource]
) -> None:
    provider, source = held
    source.hold()

    async def scenario() -> str:
        first = asyncio.create_task(get_async(provider, SECRET))
        second = asyncio.create_task(get_async(provider, SECRET))
        assert await asyncio.to_thread(source.entered.wait, SAFETY_NET)  # both wait on the held fetch
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert source.holding and not second.done()
        source.release()
        cred = await second
        return cred.access_key_id

    assert asyncio.run(scenario()) == cloud.current_key(SECRET).access_key_id
    assert fetches(cloud) == 1
    assert provider.peek(SECRET) is not None  # the shared fetch went on and installed its result
    assert async_provider(provider) is async_provider(provider)


def test_fetch_errors_reach_every_waiter(
    local_aliyun: LocalAliyun, make_provider: Callable[..., Any]
) -> None:
    provider = make_provider(local_aliyun)

    async def scenario() -> list[BaseException | Any]:
        return await asyncio.gather(
            *(get_async(provider, "missing") for _ in range(10)), return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert all(isinstance(r, Exception) for r in results)
    assert type(results[0]).__name__ == "SecretFetchError"


def test_tea_async_client_tasks_across_a_revoke(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """End to end with the real async Tea client: every call succeeds, one fetch after the revoke,
    and that fetch runs in a worker thread, never on the loop's thread (the latency only makes the
    tasks pile up on the one fetch; nothing here depends on how long anything takes)."""
    tasks, latency = 50, 0.25
    provider = make_provider(cloud)
    credentials = TeaCredentialsProvider(provider, SECRET)
    config = open_api_models.Config(
        credential=credentials.credential_client(), endpoint=cloud.sts_endpoint, protocol="http"
    )
    sts = RefreshingTeaClient(StsClient(config), credentials)
    provider.get(SECRET)
    cloud.rotate(SECRET)
    cloud.inject_fault("dkms", Fault("latency", seconds=latency), action="GetSecretValue")

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(sts.get_caller_identity_async() for _ in range(tasks)))

    fetched_on: list[int] = []
    provider.add_listener(lambda name, old, new: fetched_on.append(threading.get_ident()))
    responses = asyncio.run(scenario())
    assert len(responses) == tasks and all(r.body.user_id for r in responses)
    assert fetches(cloud) == 2
    new_id = cloud.current_key(SECRET).access_key_id
    assert cloud.count("sts", "GetCallerIdentity", new_id) == tasks  # one retry each
    # listeners run on the fetching thread: the fetch ran in a worker, never on the loop's thread
    assert len(fetched_on) == 1 and fetched_on[0] != threading.get_ident()


def test_sample(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SAMPLES))
    sys.modules.pop("asyncio_provider", None)
    import asyncio_provider

    provider = make_provider(cloud)
    arns = asyncio.run(asyncio_provider.main(provider, SECRET, cloud.sts_endpoint, "http", tasks=5))
    assert len(arns) == 5
    cloud.rotate(SECRET)
    assert len(asyncio.run(asyncio_provider.main(provider, SECRET, cloud.sts_endpoint, "http", tasks=5))) == 5
    assert fetches(cloud) == 2
