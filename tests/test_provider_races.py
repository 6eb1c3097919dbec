"""Interleavings the provider must get right, each forced deterministically: one thread is paused at a
named point (an event it waits for) while the test makes the other thing happen, then released.

No sleeps and no timing: every wait is on an event, with ``WAIT`` only as a safety net against a hang.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common_plugin._secret_state import SecretState
from common_plugin.clock import ManualClock
from common_plugin.credentials import SecretValue
from common_plugin.exceptions import SecretFetchError
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource

WAIT = 30.0  # seconds; a safety net against a hang, never reached when the code works
START = 1_800_000_000.0
NAME = "app-sts"
TTL = 3600.0


class ScriptedSource(SecretSource):
    """Answers each fetch from a script: a value, an error, or a value held until released.

    ``answer(key_id)`` queues a version; ``fail()`` queues a failure; ``hold()`` makes the *next*
    queued answer wait until :meth:`release`. Without a queued answer it repeats the last version.
    ``fetches`` counts every call; ``entered`` is set when a held fetch starts waiting;
    ``answered`` (if set) runs in the fetching thread just before a value is returned.
    """

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._script: list[tuple[str | None, threading.Event | None]] = []
        self._last = "LTAIracefirst0001"
        self.fetches = 0
        self.entered = threading.Event()
        self.answered: Callable[[], None] | None = None  # runs in the fetching thread, once per answer
        self._gate: threading.Event | None = None
        self._gates: list[threading.Event] = []

    def answer(self, key_id: str) -> None:
        with self._lock:
            self._script.append((key_id, self._take_gate()))

    def fail(self) -> None:
        with self._lock:
            self._script.append((None, self._take_gate()))

    def hold(self) -> None:
        self._gate = threading.Event()
        self._gates.append(self._gate)

    def release(self) -> None:
        for gate in self._gates:
            gate.set()

    def _take_gate(self) -> threading.Event | None:
        gate, self._gate = self._gate, None
        return gate

    def get_secret_value(self, secret_name: str) -> SecretValue:
        with self._lock:
            self.fetches += 1
            key_id, gate = self._script.pop(0) if self._script else (self._last, None)
        if gate is not None:
            self.entered.set()
            assert gate.wait(WAIT)
        if key_id is None:
            raise SecretFetchError("KMS is down", secret_name=secret_name, retryable=True)
        self._last = key_id
        now = self._clock.time()
        data = {
            "AccessKeyId": key_id,
            "AccessKeySecret": f"secret-of-{key_id}",
            "SecurityToken": f"token-of-{key_id}",
            "GenerateTimestamp": _iso(now),
            "ExpireTimestamp": _iso(now + TTL),
        }
        if self.answered is not None:
            self.answered()
        return SecretValue(
            secret_name=secret_name, secret_data=json.dumps(data), secret_type="RAMCredentials"
        )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def source(clock: ManualClock) -> ScriptedSource:
    return ScriptedSource(clock)


@pytest.fixture
def provider(source: ScriptedSource, clock: ManualClock) -> Iterator[CredentialsProvider]:
    with CredentialsProvider(source, clock=clock, scheduler=ManualScheduler()) as built:
        yield built


def in_thread(name: str, target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start ``target`` in a thread called ``name``; its result (or exception) lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, outcome


def finish(thread: threading.Thread) -> None:
    thread.join(WAIT)
    assert not thread.is_alive()


class Pause:
    """Pauses the thread named ``who`` on entry to ``owner.method`` until :meth:`resume`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, method: str, who: str) -> None:
        self.reached = threading.Event()
        self._resume = threading.Event()
        original = getattr(owner, method)

        def paused(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name == who:
                self.reached.set()
                assert self._resume.wait(WAIT)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, method, paused)

    def resume(self) -> None:
        self._resume.set()


# -- the mandatory window: a failed synchronous refresh meets a change made meanwhile --------------


def test_a_failed_mandatory_refresh_does_not_undo_a_key_installed_meanwhile(
    provider: CredentialsProvider, source: ScriptedSource, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader's refresh in the mandatory window fails; before it falls back to the cached token,
    another thread installs a new one. The reader must hand out (and leave cached) the new token,
    not put the old one back with a deferred retry."""
    old = provider.get(NAME)
    clock.set(old.mandatory_refresh_at)
    source.fail()
    pause = Pause(monkeypatch, CredentialsProvider, "_serve_until_expiry", who="reader")
    reader, served = in_thread("reader", lambda: provider.get(NAME))
    assert pause.reached.wait(WAIT)  # its refresh failed; it is about to fall back
    source.answer("LTAIracesecond002")
    new = provider.refresh(NAME)
    pause.resume()
    finish(reader)
    assert served == [new]
    assert provider.peek(NAME) is new


def test_a_failed_mandatory_refresh_after_the_key_was_dropped_raises_the_fetch_error(
    provider: CredentialsProvider, source: ScriptedSource, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meanwhile a cloud API rejected the token and its replacement failed too, so it was dropped:
    there is nothing left to serve, and the reader gets the fetch error (not an AttributeError)."""
    old = provider.get(NAME)
    clock.set(old.mandatory_refresh_at)
    source.fail()
    pause = Pause(monkeypatch, CredentialsProvider, "_serve_until_expiry", who="reader")
    reader, served = in_thread("reader", lambda: provider.get(NAME))
    assert pause.reached.wait(WAIT)
    source.fail()
    assert provider.refresh_rejected(NAME, old) is None
    assert provider.peek(NAME) is None  # dropped
    pause.resume()
    finish(reader)
    assert len(served) == 1 and isinstance(served[0], SecretFetchError)
    assert source.fetches == 3


# -- single flight: the flight ends where its result becomes visible -------------------------------


class HookOnRelease:
    """A stand-in for a secret's lock that, once armed, runs ``hook`` in the thread named ``who``
    right after that thread's next release (with nothing held)."""

    def __init__(self, who: str) -> None:
        self._lock = threading.Lock()
        self._who = who
        self.hook: Callable[[], None] | None = None

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        hook = self.hook
        if hook is not None and threading.current_thread().name == self._who:
            self.hook = None
            hook()


def test_a_reader_right_after_the_flight_ended_finds_the_key_installed(
    provider: CredentialsProvider, source: ScriptedSource
) -> None:
    """The leader ends the flight and installs its result in one critical section: a reader that
    takes the lock the moment the leader lets go finds the key, and starts no second fetch."""
    state: SecretState = provider._cache.state(NAME)
    lock = HookOnRelease(who="leader")
    state.lock = lock  # type: ignore[assignment]
    late: list[object] = []

    def read_late() -> None:
        reader, outcome = in_thread("late", lambda: provider.get(NAME))
        finish(reader)
        late.extend(outcome)

    def arm() -> None:
        if threading.current_thread().name == "leader":
            lock.hook = read_late  # the leader's next release is the one that ends its flight

    source.answered = arm
    leader, first = in_thread("leader", lambda: provider.get(NAME))
    finish(leader)
    assert late == first
    assert source.fetches == 1


# -- the rejection gate: a failed replacement drops only the rejected key ---------------------------


def test_a_failed_replacement_leaves_a_key_loaded_since_forget_alone(
    provider: CredentialsProvider, source: ScriptedSource
) -> None:
    """A reactive refresh is in flight when the secret is forgotten and loaded again; when that
    refresh then fails, the rejected key is gone already, and the key loaded since must stay."""
    old = provider.get(NAME)
    source.hold()
    source.fail()
    rejecting, outcome = in_thread("rejecting", lambda: provider.refresh_rejected(NAME, old))
    assert source.entered.wait(WAIT)  # the reactive fetch is held in the source
    provider.forget(NAME)
    source.answer("LTAIracesecond002")
    new = provider.get(NAME)
    source.release()
    finish(rejecting)
    assert outcome == [None]
    assert provider.peek(NAME) is new
