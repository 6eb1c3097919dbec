"""asyncio access to a :class:`~common_plugin.provider.CredentialsProvider` that never blocks the loop.

    from common_plugin.adapters.aio import decide_retry_async, get_async, refresh_rejected_async

    cred = await get_async(provider, "app-ak")                 # a dict hit: returns without a thread hop
    fresh = await refresh_rejected_async(provider, "app-ak", cred)   # after a rejected key
    fresh = await decide_retry_async(provider, "app-ak", cred, error, handler)  # an adapter's retry

The fast path is the provider's own lock-free cache lookup (:meth:`CredentialsProvider.peek`), done
on the loop thread. A miss, and a reactive refresh after a rejected key, run the provider's blocking
call in a worker thread (the loop's default executor unless one is given), so the event loop keeps
running during network I/O. Single-flight happens at two levels:

* **tasks**: in one event loop, every task that wants the same secret (or wants the same rejected key
  replaced) awaits one shared future, so 200 tasks use one worker thread, not 200;
* **threads**: that worker thread enters the provider's thread-level single-flight, so tasks in any
  loop and plain threads that want the same fetch still share one ``GetSecretValue``.

A task that is cancelled while waiting stops waiting; the shared fetch goes on for the others (it is
shielded) and its result is installed in the cache as usual.

Thread- and task-safety: :class:`AsyncCredentialsProvider` may be used from any number of tasks and
from several event loops in different threads at once; the in-flight table is per loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from .. import retry
from ..ak_expire_handler import AKExpireHandler
from ..credentials import ManagedCredential
from ..credentials import same_key as _same_key
from ..exceptions import ProviderClosedError
from ..provider import CredentialsProvider

__all__ = [
    "AsyncCredentialsProvider",
    "async_provider",
    "decide_retry_async",
    "get_async",
    "refresh_rejected_async",
]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
# ("get", name) or ("rejected", name, id, secret, token): never logged or shown.
_FlightKey = tuple[str, ...]


class AsyncCredentialsProvider:
    """The awaitable face of a :class:`CredentialsProvider`.

    Args:
        provider: the (thread-safe) provider to read from; not owned: :meth:`close` does not close it.
        executor: where blocking fetches run; ``None`` uses the running loop's default executor.

    Safe to share between tasks and between event loops in different threads.
    """

    def __init__(self, provider: CredentialsProvider, *, executor: Executor | None = None) -> None:
        self._provider = provider
        self._executor = executor
        self._lock = threading.Lock()  # guards _flights' per-loop tables; held for dict operations only
        self._flights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[_FlightKey, asyncio.Future[object]]
        ] = weakref.WeakKeyDictionary()

    @property
    def provider(self) -> CredentialsProvider:
        """The wrapped thread-level provider."""
        return self._provider

    async def get(self, secret_name: str) -> ManagedCredential:
        """The current credential of ``secret_name``, fetching it in a worker thread on a miss.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get`.
        """
        cached = self._provider.get_cached(secret_name)  # None in an STS token's mandatory window
        if cached is not None:
            return cached
        return await self._shared(("get", secret_name), functools.partial(self._provider.get, secret_name))

    async def refresh_rejected(
        self, secret_name: str, rejected: ManagedCredential
    ) -> ManagedCredential | None:
        """Replace a key a cloud API has just rejected; the async twin of
        :meth:`CredentialsProvider.refresh_rejected`, with the same result and at most one fetch per
        rejected key across every task and thread.
        """
        current = self._provider.peek(secret_name)
        if current is not None and not _same_key(current, rejected):
            return current  # someone already replaced it: no thread hop, no fetch
        key = (
            "rejected",
            secret_name,
            rejected.access_key_id,
            rejected.access_key_secret,
            rejected.security_token or "",
        )
        call = functools.partial(self._provider.refresh_rejected, secret_name, rejected)
        return await self._shared(key, call)

    async def _shared(self, key: _FlightKey, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            table = self._flights.get(loop)
            if table is None:
                table = self._flights[loop] = {}
            future = table.get(key)
            if future is None:
                future = loop.run_in_executor(self._executor, call)
                table[key] = future
                future.add_done_callback(functools.partial(self._forget, table, key))
        # shield: a cancelled waiter must not cancel the fetch the other tasks are waiting for
        result: T = await asyncio.shield(future)  # type: ignore[arg-type]
        return result

    def _forget(self, table: dict[_FlightKey, asyncio.Future[object]], key: _FlightKey, done: object) -> None:
        with self._lock:
            if table.get(key) is done:
                del table[key]
        if isinstance(done, asyncio.Future) and not done.cancelled():
            done.exception()  # retrieved here, so a fetch nobody awaits any more is not reported as lost

    def __repr__(self) -> str:
        return f"AsyncCredentialsProvider({self._provider!r})"


_DEFAULT_WRAPPERS: weakref.WeakKeyDictionary[CredentialsProvider, AsyncCredentialsProvider] = (
    weakref.WeakKeyDictionary()
)
_DEFAULT_WRAPPERS_LOCK = threading.Lock()


def async_provider(provider: CredentialsProvider) -> AsyncCredentialsProvider:
    """The shared :class:`AsyncCredentialsProvider` of ``provider`` (one per provider, so every
    caller of :func:`get_async` joins the same in-flight table). Thread-safe."""
    wrapper = _DEFAULT_WRAPPERS.get(provider)
    if wrapper is not None:
        return wrapper
    with _DEFAULT_WRAPPERS_LOCK:
        wrapper = _DEFAULT_WRAPPERS.get(provider)
        if wrapper is None:
            wrapper = _DEFAULT_WRAPPERS[provider] = AsyncCredentialsProvider(provider)
        return wrapper


async def get_async(provider: CredentialsProvider, secret_name: str) -> ManagedCredential:
    """``await get_async(provider, name)``: :meth:`AsyncCredentialsProvider.get` on the shared wrapper."""
    cached = provider.get_cached(secret_name)
    if cached is not None:
        return cached
    return await async_provider(provider).get(secret_name)


async def refresh_rejected_async(
    provider: CredentialsProvider, secret_name: str, rejected: ManagedCredential
) -> ManagedCredential | None:
    """:meth:`AsyncCredentialsProvider.refresh_rejected` on the shared wrapper of ``provider``."""
    return await async_provider(provider).refresh_rejected(secret_name, rejected)


async def decide_retry_async(
    provider: CredentialsProvider,
    secret_name: str,
    used: ManagedCredential,
    error: BaseException,
    handler: AKExpireHandler,
    *,
    what: str = "a call",
    rewind: retry.Rewind | None = None,
) -> ManagedCredential | None:
    """The asyncio twin of :func:`common_plugin.retry.decide_retry`: the same judgement and the same
    rule (:func:`~common_plugin.retry.is_rejection`, :func:`~common_plugin.retry.accept_replacement`);
    only the one replacement is awaited, in a worker thread shared by every task and thread that saw
    the same key rejected, so the event loop is never blocked.
    """
    if not retry.is_rejection(handler, error):
        return None
    try:
        fresh = await async_provider(provider).refresh_rejected(secret_name, used)
    except ProviderClosedError:
        fresh = None  # closed meanwhile: the caller's original error stands
    return retry.accept_replacement(provider, secret_name, used, fresh, what=what, rewind=rewind)
