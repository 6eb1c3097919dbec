"""asyncio access: one fetch for many tasks (and threads), and an event loop that never stalls."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Coroutine
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
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun
from common_plugin.testing.state import Fault

SECRET = "app-key"
TASKS = 200
FETCH_LATENCY_SECONDS = 0.25  # a fetch that blocked the loop would show up as a gap this long
MAX_LOOP_GAP_SECONDS = 0.05
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

T = TypeVar("T")


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


async def with_heartbeat(work: Coroutine[Any, Any, T], period: float = 0.002) -> tuple[T, float]:
    """Run ``work`` while a heartbeat task ticks; return its result and the longest gap between ticks."""
    stop = asyncio.Event()
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last - period)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)  # let the heartbeat take its first timestamp
    try:
        result = await work
    finally:
        stop.set()
        await beat
    return result, max(gaps, default=0.0)


def _revoke_with_200_tasks_and_8_threads(cloud: LocalAliyun, provider: CredentialsProvider) -> float:
    """One revoke met by 200 tasks and 8 threads; asserts one fetch, returns the longest loop gap."""
    old = provider.get(SECRET)
    before = fetches(cloud)
    cloud.rotate(SECRET)  # immediate revoke
    new_id = cloud.current_key(SECRET).access_key_id
    cloud.inject_fault("dkms", Fault("latency", seconds=FETCH_LATENCY_SECONDS), action="GetSecretValue")
    thread_results: list[str | None] = []
    threads_go = threading.Event()

    def thread_worker() -> None:  # plain threads join the same single flight
        threads_go.wait()
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

    fetched_on: list[int] = []
    unsubscribe = provider.add_listener(lambda name, old, new: fetched_on.append(threading.get_ident()))
    began = time.perf_counter()
    results, max_gap = asyncio.run(with_heartbeat(scenario()))
    elapsed = time.perf_counter() - began
    unsubscribe()
    for t in threads:
        t.join()
    assert len(fetched_on) == 1 and fetched_on[0] != threading.get_ident()  # not on the loop's thread
    assert results == [new_id] * TASKS
    assert thread_results == [new_id] * 8
    assert fetches(cloud) - before == 1  # exactly one fetch for the revoke
    assert elapsed >= FETCH_LATENCY_SECONDS  # the fetch really was slow
    return max_gap


def test_200_tasks_across_a_revoke_fetch_once_without_blocking_the_loop(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    gaps: list[float] = []
    # Best of three: a loop blocked by the 250 ms fetch would stall in every run, while a busy
    # machine (other processes on 2 cores) can delay a tick now and then.
    for _ in range(3):
        gaps.append(_revoke_with_200_tasks_and_8_threads(cloud, provider))
        if gaps[-1] < MAX_LOOP_GAP_SECONDS:
            break
    assert min(gaps) < MAX_LOOP_GAP_SECONDS, f"event loop stalled: {[round(g * 1000, 1) for g in gaps]} ms"


def test_200_tasks_on_a_cold_cache_fetch_once(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    cloud.inject_fault("dkms", Fault("latency", seconds=0.1), action="GetSecretValue")

    async def scenario() -> set[str]:
        creds = await asyncio.gather(*(get_async(provider, SECRET) for _ in range(TASKS)))
        return {c.access_key_id for c in creds}

    ids, max_gap = asyncio.run(with_heartbeat(scenario()))
    assert ids == {cloud.current_key(SECRET).access_key_id}
    assert fetches(cloud) == 1
    assert max_gap < 0.1  # the 100 ms fetch did not run on the loop


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
    submitted: list[object] = []

    class CountingExecutor(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

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
    assert len(submitted) == 1
    assert fetches(cloud) == 1


def _different(cred: Any) -> Any:
    import dataclasses

    return dataclasses.replace(cred, access_key_id=cred.access_key_id + "-old")


def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    cloud.inject_fault("dkms", Fault("latency", seconds=0.1), action="GetSecretValue")

    async def scenario() -> str:
        first = asyncio.create_task(get_async(provider, SECRET))
        second = asyncio.create_task(get_async(provider, SECRET))
        await asyncio.sleep(0.01)
        first.cancel()
        cred = await second
        with pytest.raises(asyncio.CancelledError):
            await first
        return cred.access_key_id

    assert asyncio.run(scenario()) == cloud.current_key(SECRET).access_key_id
    assert fetches(cloud) == 1
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
    """End to end with the real async Tea client: every call succeeds, one fetch, and the slow fetch
    never runs on the loop. (The Tea client's own per-request work on the loop - a new aiohttp
    session and connection each - makes ticks uneven, so the strict 50 ms bound is measured above,
    at the provider level, where nothing else competes for the loop.)"""
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
    responses, _ = asyncio.run(with_heartbeat(scenario()))
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
