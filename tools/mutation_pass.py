"""A scripted mutation pass over the provider, its parts, the refresh policy, the one retry decision and
every adapter's retry: do the tests notice when the code is wrong?

    .venv/bin/python tools/mutation_pass.py                  # every mutant (25-40 min on 2 busy cores)
    .venv/bin/python tools/mutation_pass.py RG3 SK           # some: by id, or by prefix (SK = sdk-core)
    .venv/bin/python tools/mutation_pass.py --list           # the ids, what each breaks, where
    .venv/bin/python tools/mutation_pass.py --check          # each applies exactly once and compiles
    .venv/bin/python tools/mutation_pass.py --json out.json  # the results as JSON too

Each mutant is one hand-written fault in the product code: an exact piece of text replaced by another
(a dropped check, a flipped comparison, a retry with the wrong key). The script applies it, runs the
test files that cover that module with ``pytest -x -q`` (the most specific file first), and puts the
file back byte for byte, mtime included. A mutant is *killed* when pytest fails (or times out) and
*survived* when the tests still pass. A few mutants are known to be equivalent to the original (no
test can tell them apart); each says why, and their survival is expected.

Safety: the original text is written to a journal (``.mutation_pass.journal`` in the repository
root) before a mutant is applied and restored in a ``finally``, on an exception, Ctrl-C and SIGTERM
alike; a run that was killed outright (SIGKILL) leaves the journal behind (``git status`` shows it),
and the next run, even ``--list``, restores from it before anything else. The script refuses to
start when a file it mutates differs from git's ``HEAD``, so a mutant can never be mistaken for the
original. Bytecode is not written (``PYTHONDONTWRITEBYTECODE``), so no compiled mutant outlives its
run.

Exit status: 0 when every mutant not marked equivalent was killed, 1 otherwise, 2 on a usage error
or a mutant that no longer applies (the code changed: update its text).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
JOURNAL = ROOT / ".mutation_pass.journal"
TIMEOUT_SECONDS = 900.0

# The test files that cover each module, most specific first (found with grep: who imports it,
# who drives it through the emulator).
PROVIDER = (
    "tests/test_provider.py",
    "tests/test_provider_races.py",
    "tests/test_expiry_windows.py",
    "tests/test_provider_parts.py",
    "tests/test_disk_cache.py",
    "tests/test_fault_injection.py",
    "tests/test_observability.py",
    "tests/test_aio.py",
    "tests/test_retry_decision.py",
    "tests/test_load_rotation.py",
)
POLICY = (
    "tests/test_refresh_policy.py",
    "tests/test_expiry_windows.py",
    "tests/test_provider.py",
    "tests/test_disk_cache.py",
    "tests/test_fault_injection.py",
)
RETRY = (
    "tests/test_retry_decision.py",
    "tests/test_sdk_core_plugin.py",
    "tests/test_oss_plugin.py",
    "tests/test_oss_v2.py",
    "tests/test_tea_v2.py",
    "tests/test_aio.py",
    "tests/test_log_plugin.py",
    "tests/test_maxcompute_plugin.py",
    "tests/test_observability.py",
)
AIO = (
    "tests/test_aio.py",
    "tests/test_expiry_windows.py",
    "tests/test_retry_decision.py",
    "tests/test_tea_v2.py",
)
SDK_CORE = (
    "tests/test_sdk_core_plugin.py",
    "tests/test_retry_decision.py",
    "tests/test_sdk_hooks.py",
    "tests/test_redaction.py",
    "tests/test_observability.py",
    "tests/test_load_rotation.py",
)
OSS2 = (
    "tests/test_oss_plugin.py",
    "tests/test_oss_hooks.py",
    "tests/test_retry_decision.py",
    "tests/test_redaction.py",
)
OSS_V2 = (
    "tests/test_oss_v2.py",
    "tests/test_retry_decision.py",
    "tests/test_sdk_hooks.py",
    "tests/test_redaction.py",
)
TEA = (
    "tests/test_tea_v2.py",
    "tests/test_retry_decision.py",
    "tests/test_aio.py",
    "tests/test_sdk_hooks.py",
    "tests/test_redaction.py",
)
PINNED = (
    "tests/test_pinned.py",
    "tests/test_log_plugin.py",
    "tests/test_maxcompute_plugin.py",
    "tests/test_log_hooks.py",
    "tests/test_maxcompute_hooks.py",
    "tests/test_sdk_hooks.py",
)
LOG = ("tests/test_log_plugin.py", "tests/test_log_hooks.py", "tests/test_sdk_hooks.py")
MAXCOMPUTE = ("tests/test_maxcompute_plugin.py", "tests/test_maxcompute_hooks.py", "tests/test_sdk_hooks.py")

PROVIDER_PY = "common_plugin/provider.py"
CACHE_PY = "common_plugin/_snapshot_cache.py"
GATE_PY = "common_plugin/_rejection_gate.py"
CHAIN_PY = "common_plugin/_refresh_chain.py"
POLICY_PY = "common_plugin/refresh_policy.py"
RETRY_PY = "common_plugin/retry.py"
AIO_PY = "common_plugin/adapters/aio.py"
ACS_PY = "sdk_core_plugin/proxy_acs_client.py"
OSS2_PY = "oss_plugin/_retry.py"
OSS_V2_PY = "oss_plugin/v2.py"
TEA_PY = "common_plugin/adapters/tea.py"
PINNED_PY = "common_plugin/adapters/pinned.py"
LOG_PY = "log_plugin/client.py"
LOG_CREDENTIALS_PY = "log_plugin/credentials_provider.py"
MAXCOMPUTE_PY = "maxcompute_plugin/client.py"
ACCOUNT_PY = "maxcompute_plugin/account.py"


@dataclass(frozen=True)
class Mutant:
    """One fault: ``old`` (which must occur exactly once in ``path``) replaced by ``new``."""

    ident: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why no test can tell it from the original, when that is so


MUTANTS: tuple[Mutant, ...] = (
    # -- provider.py: the read path, the mandatory window, serving until expiry ----------------------
    Mutant(
        "PV1", "get(): a key in its mandatory window is served without a refresh", PROVIDER_PY,
        "        if refresh_at == _NEVER or self._time() < refresh_at:",
        "        if True:",
        PROVIDER,
    ),
    Mutant(
        "PV2", "get(): the shortcut for a key that never expires is dropped", PROVIDER_PY,
        "        if refresh_at == _NEVER or self._time() < refresh_at:",
        "        if self._time() < refresh_at:",
        PROVIDER,
        equivalent="time() < inf is always true: the shortcut only saves the clock call (a speed-up "
        "that make bench measures, not a behaviour)",
    ),
    Mutant(
        "PV3", "get_cached(): a key in its mandatory window is returned", PROVIDER_PY,
        "        if cred is not None and self._time() < cred.mandatory_refresh_at:",
        "        if cred is not None:",
        AIO + PROVIDER,
    ),
    Mutant(
        "PV4", "_load(): no re-check under the lock (a late reader fetches again)", PROVIDER_PY,
        "            if cached is not None and self._clock.time() < cached.mandatory_refresh_at:\n"
        "                return cached",
        "            if False:\n                return cached",
        PROVIDER,
    ),
    Mutant(
        "PV5", "_load(): the re-check accepts a key at the start of its mandatory window", PROVIDER_PY,
        "            if cached is not None and self._clock.time() < cached.mandatory_refresh_at:",
        "            if cached is not None and self._clock.time() <= cached.mandatory_refresh_at:",
        PROVIDER,
    ),
    Mutant(
        "PV6", "_load(): a mandatory refresh is reported as an initial fetch", PROVIDER_PY,
        'reason="initial" if cached is None else "mandatory"',
        'reason="initial"',
        PROVIDER,
    ),
    Mutant(
        "PV7", "_load(): a failed cold fetch goes to the serve-until-expiry path", PROVIDER_PY,
        "            if cached is None:\n                raise\n            return self._serve_until_expiry",
        "            return self._serve_until_expiry",
        PROVIDER,
    ),
    Mutant(
        "PV8", "_load(): a token that arrives already expired is handed out", PROVIDER_PY,
        "        if cred.expires_at is not None and cred.expires_at <= self._clock.time():",
        "        if False:",
        PROVIDER,
    ),
    Mutant(
        "PV9", "_load(): a token arriving exactly at its expiry is handed out", PROVIDER_PY,
        "        if cred.expires_at is not None and cred.expires_at <= self._clock.time():",
        "        if cred.expires_at is not None and cred.expires_at < self._clock.time():",
        PROVIDER,
    ),
    Mutant(
        "PV10", "_load(): ProviderClosedError from the fetch is not re-raised as such", PROVIDER_PY,
        "        except ProviderClosedError:\n            raise\n        except Exception as exc:",
        "        except Exception as exc:",
        PROVIDER,
    ),
    Mutant(
        "PV11", "_serve_until_expiry(): the deferred retry is not stored (a fetch before every call)",
        PROVIDER_PY,
        "                self._snapshots[state.name] = current\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "PV12", "_serve_until_expiry(): overwrites a key installed meanwhile with the old one", PROVIDER_PY,
        "            if current is cached:",
        "            if current is not None:",
        PROVIDER,
    ),
    Mutant(
        "PV13", "_serve_until_expiry(): a key dropped meanwhile is not noticed", PROVIDER_PY,
        "        if current is None:  # dropped meanwhile",
        "        if False:  # dropped meanwhile",
        PROVIDER,
    ),
    Mutant(
        "PV14", "_serve_until_expiry(): an expired token is handed out", PROVIDER_PY,
        "        if current.expires_at is not None and current.expires_at <= now:",
        "        if False:",
        PROVIDER,
    ),
    Mutant(
        "PV15", "_serve_until_expiry(): a token exactly at its expiry is handed out", PROVIDER_PY,
        "        if current.expires_at is not None and current.expires_at <= now:",
        "        if current.expires_at is not None and current.expires_at < now:",
        PROVIDER,
    ),
    Mutant(
        "PV16", "refresh(): a forced refresh returns the cached key", PROVIDER_PY,
        'reuse_cached=False, reason="forced"',
        'reuse_cached=True, reason="forced"',
        PROVIDER,
    ),
    Mutant(
        "PV17", "mandatory_refresh_at is never stamped on a fetched token", PROVIDER_PY,
        "    if cred.expires_at is None:\n        return cred\n"
        "    return dataclasses.replace(cred, mandatory_refresh_at=policy.mandatory_refresh_at(cred))",
        "    return cred",
        PROVIDER,
    ),
    Mutant(
        "PV18", "key-change listeners are never called", PROVIDER_PY,
        "        listeners.installed(state.name, old, new)\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "PV19", "the background job fetches as a forced refresh (ignores the on-disk store)", PROVIDER_PY,
        'reuse_cached=False, reason="proactive"',
        'reuse_cached=False, reason="forced"',
        PROVIDER,
    ),
    Mutant(
        "PV20", "forget() does not mark the state forgotten (a fetch in flight installs)", PROVIDER_PY,
        "            state.forgotten = True\n",
        "",
        PROVIDER,
    ),
    # -- _snapshot_cache.py: single flight, installing atomically --------------------------------
    Mutant(
        "SC1", "a thread never joins the fetch in flight", CACHE_PY,
        "        if state.flight is not None:\n            return state.flight, False",
        "        if False:\n            return state.flight, False",
        PROVIDER,
    ),
    Mutant(
        "SC2", "fetch(reuse_cached=True) fetches anyway", CACHE_PY,
        "                if cred is not None:\n                    return cred\n",
        "                pass\n",
        PROVIDER,
        equivalent="dead code: no caller passes reuse_cached=True (get() goes through _load, "
        "refresh() and the background job pass False)",
    ),
    Mutant(
        "SC3", "a failed fetch does not end its flight", CACHE_PY,
        "            with state.lock:\n                state.flight = None\n"
        "                if settle is not None:",
        "            with state.lock:\n                if settle is not None:",
        PROVIDER,
    ),
    Mutant(
        "SC4", "the flight ends in one critical section and the key is installed in another", CACHE_PY,
        "            # to fetch sees either the flight or its result, never neither.\n"
        "            state.flight = None\n",
        "            # to fetch sees either the flight or its result, never neither.\n"
        "            state.flight = None\n        with state.lock:\n",
        PROVIDER,
    ),
    Mutant(
        "SC5", "a fetch installs its key after close()", CACHE_PY,
        "            installed = not (self.closed or state.forgotten)",
        "            installed = True",
        PROVIDER,
    ),
    Mutant(
        "SC6", "a fetch installs its key after forget()", CACHE_PY,
        "            installed = not (self.closed or state.forgotten)",
        "            installed = not self.closed",
        PROVIDER,
    ),
    Mutant(
        "SC7", "a success does not reset the failure count", CACHE_PY,
        "                state.failures = 0\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "SC8", "a fetched snapshot is installed unstamped", CACHE_PY,
        "        cred = self._stamp(cred)\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "SC9", "a failed reactive fetch does not settle as its flight ends", CACHE_PY,
        "                if settle is not None:\n                    after = settle(state, None)",
        "                if False:\n                    after = settle(state, None)",
        PROVIDER,
    ),
    Mutant(
        "SC10", "a reactive fetch that succeeded does not settle as its flight ends", CACHE_PY,
        "            after = settle(state, cred) if settle is not None else None",
        "            after = None",
        PROVIDER,
    ),
    Mutant(
        "SC11", "state() creates states after close()", CACHE_PY,
        "            if self.closed:\n                raise ProviderClosedError",
        "            if False:\n                raise ProviderClosedError",
        PROVIDER,
    ),
    Mutant(
        "SC12", "state()'s lock-free path hands out states after close()", CACHE_PY,
        "        if state is not None and not self.closed:",
        "        if state is not None:",
        PROVIDER,
    ),
    Mutant(
        "SC13", "the on-disk store is not told which key was rejected", CACHE_PY,
        "                rejected=lambda: state.rejected,",
        "                rejected=lambda: None,",
        PROVIDER,
    ),
    Mutant(
        "SC14", "the on-disk store is not told which key this process serves", CACHE_PY,
        "                current=lambda: self.snapshots.get(name),",
        "                current=lambda: None,",
        PROVIDER,
    ),
    Mutant(
        "SC15", "a forked child keeps the parent's flight", CACHE_PY,
        "            state.lock = threading.Lock()\n            state.flight = None",
        "            state.lock = threading.Lock()",
        PROVIDER,
    ),
    Mutant(
        "SC16", "after_install runs for a key that was not installed", CACHE_PY,
        "        if installed:\n            self._after_install(state, old, cred)",
        "        self._after_install(state, old, cred)",
        PROVIDER,
    ),
    # -- _rejection_gate.py: one fetch per rejected key, drop and suppression ---------------------
    Mutant(
        "RG1", "a key already replaced is fetched again", GATE_PY,
        "                if current is not None and not same_key(current, rejected):\n"
        "                    return current",
        "                if False:\n                    return current",
        PROVIDER,
    ),
    Mutant(
        "RG2", "suppression is ignored", GATE_PY,
        "                if self._suppressed(state, rejected):\n                    return None",
        "                if False:\n                    return None",
        PROVIDER,
    ),
    Mutant(
        "RG3", "one round only: an older fetch's answer is final", GATE_PY,
        "        for _ in range(2):",
        "        for _ in range(1):",
        PROVIDER,
    ),
    Mutant(
        "RG4", "the old version from an older fetch counts as 'returned again'", GATE_PY,
        "            if flight.for_rejected is None or not same_key(flight.for_rejected, rejected):\n"
        "                continue",
        "            if False:\n                continue",
        PROVIDER,
    ),
    Mutant(
        "RG5", "the rejected key is not remembered for the on-disk store", GATE_PY,
        "                state.rejected = rejected  # never",
        "                pass  # never",
        PROVIDER,
    ),
    Mutant(
        "RG6", "a joiner of a failed fetch does not apply the rejection outcome", GATE_PY,
        "                with state.lock:\n"
        "                    after = self._settle_failure(state, rejected)\n"
        "                if after is not None:\n                    after()\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "RG7", "the rejected key returned again is not suppressed as the flight ends", GATE_PY,
        "            if same_key(result, rejected) and self._suppress(state, rejected):",
        "            if False:",
        PROVIDER,
    ),
    Mutant(
        "RG8", "a failed replacement does not suppress further fetches", GATE_PY,
        "        dropped = self._drop(state, rejected)\n        self._suppress(state, rejected)\n",
        "        dropped = self._drop(state, rejected)\n",
        PROVIDER,
    ),
    Mutant(
        "RG9", "a failed replacement does not drop the rejected key", GATE_PY,
        "        dropped = self._drop(state, rejected)\n",
        "        dropped = False\n",
        PROVIDER,
    ),
    Mutant(
        "RG10", "suppression never expires", GATE_PY,
        "            and self._clock.time() < state.suppressed_until",
        "            and True",
        PROVIDER,
    ),
    Mutant(
        "RG11", "suppression of one key suppresses every key", GATE_PY,
        "            and same_key(state.suppressed_key, rejected)\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "RG12", "no suppression window", GATE_PY,
        "        state.suppressed_until = self._clock.time() + self._policy.rejected_backoff_seconds",
        "        state.suppressed_until = self._clock.time()",
        PROVIDER,
    ),
    Mutant(
        "RG13", "suppressing again reports 'first' (and extends the window)", GATE_PY,
        "        if self._suppressed(state, rejected):\n            return False\n"
        "        state.suppressed_key",
        "        state.suppressed_key",
        PROVIDER,
    ),
    Mutant(
        "RG14", "a failed replacement drops whatever key is cached", GATE_PY,
        "        if current is None or not same_key(current, rejected):\n"
        "            return False\n        del",
        "        if current is None:\n            return False\n        del",
        PROVIDER,
    ),
    Mutant(
        "RG15", "a dropped key stays in the on-disk store", GATE_PY,
        "        self._discard(state.name)\n",
        "",
        PROVIDER,
    ),
    # -- _refresh_chain.py: the proactive schedule ---------------------------------------------
    Mutant(
        "RC1", "a failed background refresh is not rescheduled", CHAIN_PY,
        "            self.schedule(state, self._clock.time() + delay)\n            rescheduled = True",
        "            rescheduled = True",
        PROVIDER,
    ),
    Mutant(
        "RC2", "failures are not counted (no growing backoff)", CHAIN_PY,
        "                state.failures += 1\n",
        "",
        PROVIDER,
    ),
    Mutant(
        "RC3", "a BaseException in the job ends the chain", CHAIN_PY,
        "            if not rescheduled:",
        "            if False:",
        PROVIDER,
    ),
    Mutant(
        "RC4", "a job is scheduled after close()/forget()", CHAIN_PY,
        "            if self._closed or state.forgotten:\n                return\n"
        "            state.chain_active = True",
        "            state.chain_active = True",
        PROVIDER,
    ),
    Mutant(
        "RC5", "a job that runs after close()/forget() still fetches", CHAIN_PY,
        "        with state.lock:\n            if self._closed or state.forgotten:\n                return\n"
        "            state.scheduled_at = None",
        "        with state.lock:\n            state.scheduled_at = None",
        PROVIDER,
    ),
    Mutant(
        "RC6", "the next refresh ignores the secret (always the default interval)", CHAIN_PY,
        "self.schedule(state, self._policy.next_refresh_at(new, self._clock.time(), self._rng))",
        "self.schedule(state, self._clock.time() + self._policy.default_interval_seconds)",
        PROVIDER,
    ),
    Mutant(
        "RC7", "a forked child runs every pending refresh at once", CHAIN_PY,
        "self.schedule(state, state.scheduled_at if state.scheduled_at is not None else now)",
        "self.schedule(state, now)",
        PROVIDER,
    ),
    # -- refresh_policy.py: margins, windows, backoff ------------------------------------------
    Mutant(
        "RP1", "backoff exponent off by one", POLICY_PY,
        "self.backoff_base_seconds * 2.0**exponent",
        "self.backoff_base_seconds * 2.0 ** (exponent + 1)",
        POLICY,
    ),
    Mutant(
        "RP2", "backoff not capped", POLICY_PY,
        "        cap = min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0**exponent)",
        "        cap = self.backoff_base_seconds * 2.0**exponent",
        POLICY,
    ),
    Mutant(
        "RP3", "backoff without jitter (always the cap)", POLICY_PY,
        "        return rng.uniform(0.0, cap)",
        "        return cap",
        POLICY,
    ),
    Mutant(
        "RP4", "no minimum interval", POLICY_PY,
        "        return max(min(candidates), now + self.min_interval_seconds)",
        "        return min(candidates)",
        POLICY,
    ),
    Mutant(
        "RP5", "no jitter on intervals", POLICY_PY,
        "            early_by = rng.uniform(0.0, self.jitter_fraction * interval)",
        "            early_by = 0.0",
        POLICY,
    ),
    Mutant(
        "RP6", "'rotation soon' is one default interval instead of two", POLICY_PY,
        "min(candidates) <= now + 2 * self.default_interval_seconds",
        "min(candidates) <= now + 1 * self.default_interval_seconds",
        POLICY,
    ),
    Mutant(
        "RP7", "a stale rotation date is not ignored", POLICY_PY,
        "            if target > now:\n",
        "            if True:\n",
        POLICY,
    ),
    Mutant(
        "RP8", "no spread after a rotation", POLICY_PY,
        "                candidates.append(target + rng.uniform(0.0, spread))",
        "                candidates.append(target)",
        POLICY,
    ),
    Mutant(
        "RP9", "rotation_spread_fraction ignored", POLICY_PY,
        "            spread = max(spread, self.rotation_spread_fraction * cred.rotation_interval_seconds)",
        "            spread = spread",
        POLICY,
    ),
    Mutant(
        "RP10", "the RotationInterval stands in even beside a known rotation date", POLICY_PY,
        "            None if rotation_known else cred.rotation_interval_seconds,",
        "            cred.rotation_interval_seconds,",
        POLICY,
    ),
    Mutant(
        "RP11", "expiry margin: the smaller of seconds and fraction", POLICY_PY,
        "max(self.expiry_margin_seconds, self.expiry_margin_fraction * lifetime)",
        "min(self.expiry_margin_seconds, self.expiry_margin_fraction * lifetime)",
        POLICY,
    ),
    Mutant(
        "RP12", "a token's lifetime counted from the fetch, not from GenerateTimestamp", POLICY_PY,
        "        issued_at = cred.generated_at if cred.generated_at is not None else cred.fetched_at",
        "        issued_at = cred.fetched_at",
        POLICY,
    ),
    Mutant(
        "RP13", "is_fresh() has a margin of its own (not refresh_due_at)", POLICY_PY,
        "        due_at = self.refresh_due_at(cred)\n        if due_at is not None and due_at <= now:",
        "        due_at = None if cred.expires_at is None else cred.expires_at - self.expiry_margin_seconds\n"
        "        if due_at is not None and due_at <= now:",
        POLICY,
    ),
    Mutant(
        "RP14", "next_refresh_at() has a margin of its own (not refresh_due_at)", POLICY_PY,
        "        due_at = self.refresh_due_at(cred)\n        if due_at is not None:\n",
        "        due_at = None if cred.expires_at is None else cred.expires_at - self.expiry_margin_seconds\n"
        "        if due_at is not None:\n",
        POLICY,
    ),
    Mutant(
        "RP15", "is_fresh() still trusts a copy at the start of its advisory window", POLICY_PY,
        "        if due_at is not None and due_at <= now:",
        "        if due_at is not None and due_at < now:",
        POLICY,
    ),
    Mutant(
        "RP16", "the mandatory window may start before the advisory one", POLICY_PY,
        "        start = max(due_at, cred.expires_at - self.mandatory_margin_seconds)",
        "        start = cred.expires_at - self.mandatory_margin_seconds",
        POLICY,
    ),
    Mutant(
        "RP17", "mandatory_refresh_at may lie past expiry", POLICY_PY,
        "        return min(cred.expires_at, max(start, cred.fetched_at + self.mandatory_retry_seconds))",
        "        return max(start, cred.fetched_at + self.mandatory_retry_seconds)",
        POLICY,
    ),
    Mutant(
        "RP18", "a token fetched inside its mandatory window is fetched again at every call", POLICY_PY,
        "        return min(cred.expires_at, max(start, cred.fetched_at + self.mandatory_retry_seconds))",
        "        return min(cred.expires_at, start)",
        POLICY,
    ),
    Mutant(
        "RP19", "mandatory_retry_at may lie past expiry", POLICY_PY,
        "        return min(expires_at, now + self.mandatory_retry_seconds)",
        "        return now + self.mandatory_retry_seconds",
        POLICY,
    ),
    Mutant(
        "RP20", "is_fresh() ignores rotation dates", POLICY_PY,
        "            if rotation_at is not None and rotation_at + self.rotation_delay_seconds <= now:",
        "            if False:",
        POLICY,
    ),
    Mutant(
        "RP21", "is_fresh() ignores the RefreshInterval", POLICY_PY,
        "        max_age = min(\n"
        "            self.default_interval_seconds, "
        "cred.refresh_interval_seconds or self.default_interval_seconds\n"
        "        )",
        "        max_age = self.default_interval_seconds",
        POLICY,
    ),
    Mutant(
        "RP22", "is_fresh() still trusts a copy exactly max_age old", POLICY_PY,
        "        return now - cred.fetched_at < max_age",
        "        return now - cred.fetched_at <= max_age",
        POLICY,
    ),
    # -- retry.py: the one retry decision, step by step ------------------------------------------
    Mutant(
        "RT1", "step 1 skipped: any error asks for a replacement", RETRY_PY,
        "    if not is_rejection(handler, error):\n        return None\n    return replacement_for",
        "    return replacement_for",
        RETRY,
    ),
    Mutant(
        "RT2", "step 1: a raising handler's exception escapes", RETRY_PY,
        "    return judge_safely(handler, error)",
        "    return bool(handler.judge_ak_expire(error))",
        RETRY,
    ),
    Mutant(
        "RT3", "step 2: a provider closed meanwhile raises instead of 'no retry'", RETRY_PY,
        "    try:\n        fresh = provider.refresh_rejected(secret_name, used)\n"
        "    except ProviderClosedError:\n"
        "        fresh = None",
        "    if True:\n        fresh = provider.refresh_rejected(secret_name, used)",
        RETRY,
    ),
    Mutant(
        "RT4", "step 3: the same key is retried", RETRY_PY,
        "    if fresh is None or same_key(fresh, used):",
        "    if fresh is None:",
        RETRY,
        equivalent="refresh_rejected() never answers with the rejected key itself (its shortcut returns the "
        "cached key only when it differs; a fetch that brings the same key back answers None), in "
        "the provider and in its asyncio twin: the check guards the contract, no caller reaches it",
    ),
    Mutant(
        "RT5", "step 3: 'changed' means a new AccessKeyId only", RETRY_PY,
        "    if fresh is None or same_key(fresh, used):",
        "    if fresh is None or fresh.access_key_id == used.access_key_id:",
        RETRY,
    ),
    Mutant(
        "RT6", "step 4: a body that cannot be rewound is retried anyway", RETRY_PY,
        "    if rewind is not None and not rewind():",
        "    if False:",
        RETRY,
    ),
    Mutant(
        "RT7", "step 4/5: a retry cancelled for its body is recorded", RETRY_PY,
        "            fresh.masked_access_key_id,\n        )\n        return None",
        "            fresh.masked_access_key_id,\n        )\n"
        "        record_retry(provider, secret_name, fresh, what=what)\n        return None",
        RETRY,
    ),
    Mutant(
        "RT8", "step 5: a retry is not recorded", RETRY_PY,
        "    if record:\n        record_retry(provider, secret_name, fresh, what=what)",
        "    if False:\n        record_retry(provider, secret_name, fresh, what=what)",
        RETRY,
    ),
    Mutant(
        "RT9", "step 5: record_retry only logs (no counter, no event)", RETRY_PY,
        "    provider._record_retry(secret_name, fresh)",
        "    pass",
        RETRY,
    ),
    Mutant(
        "RT10", "replacement_for(record=False) records anyway", RETRY_PY,
        "fresh, what=what, rewind=rewind, record=record)",
        "fresh, what=what, rewind=rewind, record=True)",
        RETRY,
    ),
    Mutant(
        "RT11", "decide_retry() drops the adapter's rewind", RETRY_PY,
        "    return replacement_for(provider, secret_name, used, what=what, rewind=rewind, record=record)",
        "    return replacement_for(provider, secret_name, used, what=what, rewind=None, record=record)",
        RETRY,
    ),
    # -- adapters/aio.py: the asyncio twin of the decision, task-level single flight ------------------
    Mutant(
        "AI1", "decide_retry_async(): step 1 skipped", AIO_PY,
        "    if not retry.is_rejection(handler, error):\n        return None\n    try:",
        "    try:",
        AIO,
    ),
    Mutant(
        "AI2", "decide_retry_async(): a provider closed meanwhile raises", AIO_PY,
        "    try:\n        fresh = await async_provider(provider).refresh_rejected(secret_name, used)\n"
        "    except ProviderClosedError:\n        fresh = None",
        "    if True:\n        fresh = await async_provider(provider).refresh_rejected(secret_name, used)",
        AIO,
    ),
    Mutant(
        "AI3", "decide_retry_async(): the rewind is dropped", AIO_PY,
        "used, fresh, what=what, rewind=rewind)",
        "used, fresh, what=what, rewind=None)",
        AIO + TEA,
    ),
    Mutant(
        "AI4", "tasks never share a fetch", AIO_PY,
        "            future = table.get(key)\n",
        "            future = None\n",
        AIO,
    ),
    Mutant(
        "AI5", "refresh_rejected(): a key already replaced takes a thread hop and a fetch", AIO_PY,
        "        if current is not None and not _same_key(current, rejected):\n            return current",
        "        if False:\n            return current",
        AIO,
    ),
    Mutant(
        "AI6", "AsyncCredentialsProvider.get() serves a key in its mandatory window", AIO_PY,
        "        cached = self._provider.get_cached(secret_name)",
        "        cached = self._provider.peek(secret_name)",
        AIO,
    ),
    Mutant(
        "AI7", "get_async() serves a key in its mandatory window", AIO_PY,
        "    cached = provider.get_cached(secret_name)\n",
        "    cached = provider.peek(secret_name)\n",
        AIO,
    ),
    # -- sdk-core: ProxyAcsClient --------------------------------------------------------------
    Mutant(
        "SK1", "the retry signs with the rejected key", ACS_PY,
        "        return super()._implementation_of_do_action(request, _SnapshotSigner(fresh))",
        "        return super()._implementation_of_do_action(request, _SnapshotSigner(used))",
        SDK_CORE,
    ),
    Mutant(
        "SK2", "no retry", ACS_PY,
        "        if fresh is None:\n            return result\n        # The request object",
        "        if True:\n            return result\n        # The request object",
        SDK_CORE,
    ),
    Mutant(
        "SK3", "retried again and again while the key changes", ACS_PY,
        "        return super()._implementation_of_do_action(request, _SnapshotSigner(fresh))",
        "        return self._signed_with_retry(request, None)",
        SDK_CORE,
    ),
    Mutant(
        "SK4", "the decision is told the newest key, not the one the call signed with", ACS_PY,
        "self._secret_name, used, exception,",
        "self._secret_name, self._current(), exception,",
        SDK_CORE,
    ),
    Mutant(
        "SK5", "the caller's handler is ignored", ACS_PY,
        "exception, self._handler, what=",
        "exception, SdkCoreAKExpireHandler(), what=",
        SDK_CORE,
    ),
    Mutant(
        "SK6", "a signer passed by the caller is ignored", ACS_PY,
        "        if signer is not None:  # an explicit signer",
        "        if False:  # an explicit signer",
        SDK_CORE,
    ),
    Mutant(
        "SK7", "an STS token left by the first attempt goes out with a RAM key (RPC)", ACS_PY,
        '                params.pop("SecurityToken", None)',
        "                pass",
        SDK_CORE,
    ),
    Mutant(
        "SK8", "an STS token left by the first attempt goes out with a RAM key (ROA)", ACS_PY,
        '                headers.pop("x-acs-security-token", None)',
        "                pass",
        SDK_CORE,
    ),
    # -- oss2: ProxyBucket / ProxyService ------------------------------------------------------
    Mutant(
        "OS1", "a seekable body is not sought back", OSS2_PY,
        "    def restore() -> None:\n        seek(position)",
        "    def restore() -> None:\n        pass",
        OSS2,
    ),
    Mutant(
        "OS2", "the retry reuses the headers the first attempt signed", OSS2_PY,
        '            retry_kwargs["headers"] = oss2.CaseInsensitiveDict(saved_headers)',
        "            pass",
        OSS2,
    ),
    Mutant(
        "OS3", "the CRC state is not restored", OSS2_PY,
        "            crc.crc64 = saved_crc.copy()",
        "            pass",
        OSS2,
    ),
    Mutant(
        "OS4", "a non-seekable stream counts as replayable", OSS2_PY,
        "        if callable(seekable) and not seekable():\n            return None",
        "        if False:\n            return None",
        OSS2,
    ),
    Mutant(
        "OS5", "the caller's handler is ignored", OSS2_PY,
        "                self.handler,\n",
        '                __import__("oss_plugin.handler", fromlist=["x"]).OssAKExpireHandler(),\n',
        OSS2,
    ),
    Mutant(
        "OS6", "the retry signs with the rejected key", OSS2_PY,
        "        with self.credentials.pinned(fresh):\n            return send(retry_kwargs)",
        "        with self.credentials.pinned(used):\n            return send(retry_kwargs)",
        OSS2,
    ),
    Mutant(
        "OS7", "the CRC adapter's offset is not restored", OSS2_PY,
        "        inner()\n        adapter.offset = offset\n        if crc is not None:",
        "        inner()\n        if crc is not None:",
        OSS2,
    ),
    Mutant(
        "OS8", "a SizedFileAdapter's offset is not restored", OSS2_PY,
        "    def restore() -> None:\n        inner()\n        adapter.offset = offset\n\n    return restore",
        "    def restore() -> None:\n        inner()\n\n    return restore",
        OSS2,
    ),
    Mutant(
        "OS9", "retried again and again while the key changes", OSS2_PY,
        "        with self.credentials.pinned(fresh):\n            return send(retry_kwargs)",
        "        return self.call(send, retry_kwargs, method, bucket_name)",
        OSS2,
    ),
    Mutant(
        "OS10", "a cipher (client-side encryption) body counts as replayable", OSS2_PY,
        '    if getattr(adapter, "cipher_callback", None) is not None:\n        return None',
        '    if False:\n        return None',
        OSS2,
    ),
    # -- oss v2: the retryer and the per-operation state ------------------------------------------
    Mutant(
        "V1", "a second rejection in one operation is retried again", OSS_V2_PY,
        "        if operation is None or operation.retried:",
        "        if operation is None:",
        OSS_V2,
    ),
    Mutant(
        "V2", "the sent retry does not spend the operation's one retry", OSS_V2_PY,
        "                operation.retried = True\n",
        "",
        OSS_V2,
    ),
    Mutant(
        "V3", "a continuation does not update the snapshot the attempt signed with", OSS_V2_PY,
        "            operation.used = credential\n",
        "",
        OSS_V2,
    ),
    Mutant(
        "V4", "every attempt starts a new operation", OSS_V2_PY,
        "if operation is not None and operation.owner is self and operation.continuing:",
        "if operation is not None and operation.owner is self and False:",
        OSS_V2,
    ),
    Mutant(
        "V5", "a new operation inherits the last one's state", OSS_V2_PY,
        "        else:\n            _OPERATION.set(_Operation(self, credential))",
        "        elif operation is None:\n            _OPERATION.set(_Operation(self, credential))",
        OSS_V2,
    ),
    Mutant(
        "V6", "retry_delay() does not mark the next attempt as a continuation", OSS_V2_PY,
        "            operation.continuing = True  # the SDK sends",
        "            pass  # the SDK sends",
        OSS_V2,
    ),
    Mutant(
        "V7", "the retry with a new key waits the inner retryer's back-off", OSS_V2_PY,
        "            if operation.retry_with is not None:\n                return 0.0",
        "            if False:\n                return 0.0",
        OSS_V2,
    ),
    Mutant(
        "V8", "max_attempts() may leave no attempt for the retry", OSS_V2_PY,
        "        return max(int(self._inner.max_attempts()), 2)",
        "        return int(self._inner.max_attempts())",
        OSS_V2,
    ),
    Mutant(
        "V9", "the sent retry is not recorded", OSS_V2_PY,
        "                record_retry(self._provider, self._secret_name, credential, what=_WHAT)",
        "                pass",
        OSS_V2,
    ),
    Mutant(
        "V10", "other errors are never retried", OSS_V2_PY,
        "            return bool(self._inner.is_error_retryable(error))",
        "            return False",
        OSS_V2,
    ),
    Mutant(
        "V11", "a sent retry stays pending (recorded again at the next continuation)", OSS_V2_PY,
        "                operation.retry_with = None\n                operation.retried = True",
        "                operation.retried = True",
        OSS_V2,
    ),
    Mutant(
        "V12", "an STS token replaced by a permanent key is retried (with the stale token header)",
        OSS_V2_PY,
        "        if operation.used.security_token and not fresh.security_token:",
        "        if False:",
        OSS_V2,
    ),
    # -- Tea: call_with_refresh and its async twin -------------------------------------------------
    Mutant(
        "TE1", "sync: no retry", TEA_PY,
        "            if fresh is None:\n                raise\n        return call(*args, **kwargs)",
        "            raise\n        return call(*args, **kwargs)",
        TEA,
    ),
    Mutant(
        "TE2", "sync: the decision is told the key cached before the call, not the one it signed with",
        TEA_PY,
        "            used = record.used or before\n            if used is None:\n"
        "                raise  # never signed through us: nothing of ours to replace\n"
        "            fresh = decide_retry(",
        "            used = before\n            if used is None:\n"
        "                raise  # never signed through us: nothing of ours to replace\n"
        "            fresh = decide_retry(",
        TEA,
    ),
    Mutant(
        "TE3", "sync: the rewind is dropped", TEA_PY,
        "what=_name(call),\n                rewind=rewind,\n            )\n            if fresh is None:\n"
        "                raise\n        return call(",
        "what=_name(call),\n                rewind=None,\n            )\n            if fresh is None:\n"
        "                raise\n        return call(",
        TEA,
    ),
    Mutant(
        "TE4", "sync: retried again and again while the key changes", TEA_PY,
        "        return call(*args, **kwargs)\n    except Exception as error:",
        "        return call_with_refresh(\n"
        "            credentials, call, *args, ak_expire_handler=ak_expire_handler, **kwargs\n"
        "        )\n"
        "    except Exception as error:",
        TEA,
    ),
    Mutant(
        "TE5", "async: no retry", TEA_PY,
        "            if fresh is None:\n                raise\n        return await call(*args, **kwargs)",
        "            raise\n        return await call(*args, **kwargs)",
        TEA,
    ),
    Mutant(
        "TE6", "async: the decision is told the key cached before the call", TEA_PY,
        "            used = record.used or before\n            if used is None:\n"
        "                raise  # never signed through us: nothing of ours to replace\n"
        "            fresh = await decide_retry_async(",
        "            used = before\n            if used is None:\n"
        "                raise  # never signed through us: nothing of ours to replace\n"
        "            fresh = await decide_retry_async(",
        TEA,
    ),
    Mutant(
        "TE7", "async: the rewind is dropped", TEA_PY,
        "what=_name(call),\n                rewind=rewind,\n            )\n            if fresh is None:\n"
        "                raise\n        return await call(",
        "what=_name(call),\n                rewind=None,\n            )\n            if fresh is None:\n"
        "                raise\n        return await call(",
        TEA,
    ),
    Mutant(
        "TE8", "async: retried again and again while the key changes", TEA_PY,
        "        return await call(*args, **kwargs)\n    except Exception as error:",
        "        return await call_with_refresh_async(\n"
        "            credentials, call, *args, ak_expire_handler=ak_expire_handler, **kwargs\n"
        "        )\n    except Exception as error:",
        TEA,
    ),
    Mutant(
        "TE9", "a non-seekable stream argument counts as replayable", TEA_PY,
        "            if not stream.seekable():\n                replayable = False\n                continue",
        "            if not stream.seekable():\n                continue",
        TEA,
    ),
    Mutant(
        "TE10", "a seekable stream argument is not sought back", TEA_PY,
        "                stream.seek(position)",
        "                pass",
        TEA,
    ),
    Mutant(
        "TE11", "the snapshot a request signed with is not recorded", TEA_PY,
        "            record.used = credential",
        "            pass",
        TEA,
    ),
    # -- pinned.py (Log Service, MaxCompute) and the two clients --------------------------------
    Mutant(
        "PN1", "the retry signs with the rejected key", PINNED_PY,
        "    with credentials.pinned(fresh):\n        return send()",
        "    with credentials.pinned(used):\n        return send()",
        PINNED,
    ),
    Mutant(
        "PN2", "no retry", PINNED_PY,
        "        if fresh is None:\n            raise\n    # Retried outside",
        "        raise\n    # Retried outside",
        PINNED,
    ),
    Mutant(
        "PN3", "retried again and again while the key changes", PINNED_PY,
        "    with credentials.pinned(fresh):\n        return send()",
        "    return call_with_one_retry(\n"
        "        credentials, send, errors=errors, handler=handler, what=what, rewind=rewind\n"
        "    )",
        PINNED,
    ),
    Mutant(
        "PN4", "the rewind is dropped", PINNED_PY,
        "used, error, handler, what=what, rewind=rewind",
        "used, error, handler, what=what, rewind=None",
        PINNED,
    ),
    Mutant(
        "PN5", "a pin outlives its operation", PINNED_PY,
        "            self._local.pinned = previous",
        "            pass",
        PINNED,
    ),
    Mutant(
        "PN6", "the SDK's attempts ignore the pin (sign with the newest key)", PINNED_PY,
        "        if pinned is not None:\n            return pinned\n        return self._provider.get",
        "        return self._provider.get",
        PINNED,
    ),
    Mutant(
        "PN7", "a seekable body is not sought back", PINNED_PY,
        "            body.seek(position)  # type: ignore[attr-defined]",
        "            pass",
        PINNED,
    ),
    Mutant(
        "LG1", "Log Service: no retry", LOG_PY,
        "            errors=LogException,",
        "            errors=(),",
        LOG,
    ),
    Mutant(
        "LG2", "Log Service: the body is not rewound", LOG_PY,
        "            rewind=rewinder_for(body),",
        "            rewind=None,",
        LOG,
        equivalent="aliyun-log-python-sdk 0.9.52 hands _send only bytes, str, None or {} (async SQL), for "
        "each of which rewinder_for() answers None, as this mutant does; the rewind itself is "
        "killed through tests/test_pinned.py (PN4, PN7)",
    ),
    Mutant(
        "LG3", "Log Service: the caller's handler is ignored", LOG_PY,
        "            handler=self._managed_handler,",
        "            handler=LogAKExpireHandler(),",
        LOG,
    ),
    Mutant(
        "LG4", "Log Service: requests ignore the pin", LOG_CREDENTIALS_PY,
        "        credential = self._pins.current()",
        "        credential = self._pins.provider.get(self._pins.secret_name)",
        LOG,
    ),
    Mutant(
        "MC1", "MaxCompute: no retry", MAXCOMPUTE_PY,
        "            errors=ODPSError,",
        "            errors=(),",
        MAXCOMPUTE,
    ),
    Mutant(
        "MC2", "MaxCompute: the body is not rewound", MAXCOMPUTE_PY,
        '            rewind=rewinder_for(kwargs.get("data")),',
        "            rewind=None,",
        MAXCOMPUTE,
        equivalent="PyODPS 0.13.2 sends through ODPS.rest only bodies serialized in memory (bytes or str; "
        "tunnel uploads use a RestClient of their own), for which rewinder_for() answers None, as "
        "this mutant does; the rewind itself is killed through tests/test_pinned.py (PN4, PN7)",
    ),
    Mutant(
        "MC3", "MaxCompute: the caller's handler is ignored", MAXCOMPUTE_PY,
        "            handler=account.ak_expire_handler,",
        '            handler=__import__("maxcompute_plugin.handler", fromlist=["x"])'
        ".MaxComputeAKExpireHandler(),",
        MAXCOMPUTE,
    ),
    Mutant(
        "MC4", "MaxCompute: requests ignore the pin", ACCOUNT_PY,
        "        credential = self._pins.current()\n        signer = self._signer",
        "        credential = self._pins.provider.get(self._pins.secret_name)\n        signer = self._signer",
        MAXCOMPUTE,
    ),
)


@dataclass(frozen=True)
class Result:
    ident: str
    verdict: str  # killed, survived, equivalent, killed-by-timeout
    seconds: float
    detail: str


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that restores the file


def _restore_from_journal() -> None:
    """Put back what a run killed outright left mutated (the journal holds the originals)."""
    if not JOURNAL.exists():
        return
    saved = json.loads(JOURNAL.read_text(encoding="utf-8"))
    target = ROOT / saved["path"]
    target.write_text(saved["text"], encoding="utf-8")
    os.utime(target, ns=(saved["atime_ns"], saved["mtime_ns"]))
    JOURNAL.unlink()
    print(f"mutation_pass: restored {saved['path']} from a previous run's journal", flush=True)


@contextmanager
def applied(mutant: Mutant) -> Iterator[None]:
    """``mutant`` applied for the duration of the block; the file restored whatever happens."""
    target = ROOT / mutant.path
    original = target.read_text(encoding="utf-8")
    stat = target.stat()
    JOURNAL.write_text(
        json.dumps(
            {
                "path": mutant.path,
                "text": original,
                "atime_ns": stat.st_atime_ns,
                "mtime_ns": stat.st_mtime_ns,
            }
        ),
        encoding="utf-8",
    )
    try:
        target.write_text(original.replace(mutant.old, mutant.new, 1), encoding="utf-8")
        yield
    finally:
        target.write_text(original, encoding="utf-8")
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        JOURNAL.unlink()


def check(mutant: Mutant) -> str:
    """Why ``mutant`` cannot be applied, or ``""``."""
    text = (ROOT / mutant.path).read_text(encoding="utf-8")
    found = text.count(mutant.old)
    if found != 1:
        return f"its text occurs {found} times in {mutant.path} (must be once)"
    try:
        compile(text.replace(mutant.old, mutant.new, 1), mutant.path, "exec")
    except SyntaxError as error:
        return f"the mutated file does not compile: {error}"
    return ""


def run_tests(tests: Sequence[str], timeout: float) -> tuple[int | None, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and test files
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    lines = proc.stdout.splitlines()
    failed = [line for line in lines if line.startswith(("FAILED tests", "ERROR tests"))]
    last = lines[-1] if lines else proc.stderr.strip()[-200:]
    return proc.returncode, (failed[0] if failed else last)


def evaluate(mutant: Mutant, timeout: float) -> Result:
    began = time.monotonic()
    with applied(mutant):
        status, detail = run_tests(mutant.tests, timeout)
    seconds = time.monotonic() - began
    if status is None:
        return Result(mutant.ident, "killed-by-timeout", seconds, detail)
    if status == 0:
        verdict = "equivalent" if mutant.equivalent else "survived"
        return Result(mutant.ident, verdict, seconds, mutant.equivalent or detail)
    if status in (2, 3, 4, 5):  # interrupted, internal error, usage error, nothing collected
        return Result(mutant.ident, "error", seconds, detail)
    return Result(mutant.ident, "killed", seconds, detail)


def select(patterns: Sequence[str]) -> list[Mutant]:
    if not patterns:
        return list(MUTANTS)
    def matches(mutant: Mutant, pattern: str) -> bool:
        return mutant.ident == pattern or mutant.ident.rstrip("0123456789") == pattern

    chosen = [m for m in MUTANTS if any(matches(m, p) for p in patterns)]
    unknown = [p for p in patterns if not any(matches(m, p) for m in MUTANTS)]
    if unknown:
        raise SystemExit(f"mutation_pass: no mutant {', '.join(unknown)} (see --list)")
    return chosen


def _dirty(paths: set[str]) -> list[str]:
    proc = subprocess.run(  # noqa: S603 - git, with our own file names
        ["git", "status", "--porcelain", "--", *sorted(paths)],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in proc.stdout.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mutants", nargs="*", help="ids (PV1) or prefixes (PV); default: all")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="check that each applies and compiles; no tests")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="per mutant, seconds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    _restore_from_journal()
    chosen = select(args.mutants)
    if args.list:
        for m in chosen:
            mark = "  (equivalent)" if m.equivalent else ""
            print(f"{m.ident:5} {m.path}: {m.what}{mark}")
        return 0
    problems = [(m.ident, why) for m in chosen if (why := check(m))]
    for ident, why in problems:
        print(f"mutation_pass: {ident}: {why}", file=sys.stderr)
    if problems or args.check:
        return 2 if problems else 0
    dirty = _dirty({m.path for m in chosen})
    if dirty:
        print("mutation_pass: these files differ from HEAD; commit or stash them first:", file=sys.stderr)
        print("\n".join(dirty), file=sys.stderr)
        return 2
    results: list[Result] = []
    for mutant in chosen:
        result = evaluate(mutant, args.timeout)
        results.append(result)
        line = f"{result.ident:5} {result.verdict:9} {result.seconds:5.0f} s  {mutant.what}: {result.detail}"
        print(line, flush=True)
    killed = sum(r.verdict.startswith("killed") for r in results)
    equivalent = sum(r.verdict == "equivalent" for r in results)
    survived = [r.ident for r in results if r.verdict in ("survived", "error")]
    scored = len(results) - equivalent
    rate = 100.0 * killed / scored if scored else 100.0
    print(
        f"mutation_pass: {len(results)} mutants, {killed} killed, {equivalent} equivalent, "
        f"{len(survived)} survived or errored{': ' + ' '.join(survived) if survived else ''}; "
        f"kill rate {rate:.1f}% of the {scored} non-equivalent",
        flush=True,
    )
    if args.json is not None:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1), encoding="utf-8")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
