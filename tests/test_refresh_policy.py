from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from common_plugin.credentials import ManagedCredential
from common_plugin.exceptions import ConfigError
from common_plugin.refresh_policy import RefreshPolicy

NOW = 1_800_000_000.0
HOUR = 3600.0


def _cred(**kw: Any) -> ManagedCredential:
    base = ManagedCredential(secret_name="app", access_key_id="LTAIabcdefgh1234", access_key_secret="s")
    return dataclasses.replace(base, fetched_at=NOW, **kw)


def _rng() -> random.Random:
    return random.Random(1234)


def test_default_interval_made_early_by_at_most_the_jitter_fraction() -> None:
    policy = RefreshPolicy()
    times = {policy.next_refresh_at(_cred(), NOW, _rng()) for _ in range(3)}
    rng = _rng()
    drawn = [policy.next_refresh_at(_cred(), NOW, rng) for _ in range(200)]
    for t in drawn:
        assert NOW + 0.9 * 6 * HOUR <= t <= NOW + 6 * HOUR
    assert len(times) == 1  # deterministic for one seed
    assert len(set(drawn)) > 100  # fresh jitter each call


def test_next_rotation_date_plus_delay_and_spread() -> None:
    policy = RefreshPolicy(rotation_delay_seconds=60, rotation_spread_seconds=300)
    rng = _rng()
    for _ in range(100):
        t = policy.next_refresh_at(_cred(next_rotation_at=NOW + HOUR), NOW, rng)
        assert NOW + HOUR + 60 <= t <= NOW + HOUR + 360


def test_schedule_rotate_timestamp_is_a_candidate() -> None:
    policy = RefreshPolicy(rotation_spread_seconds=0)
    t = policy.next_refresh_at(_cred(schedule_rotate_at=NOW + 2 * HOUR), NOW, _rng())
    assert t == NOW + 2 * HOUR + 60


def test_earliest_candidate_wins() -> None:
    policy = RefreshPolicy(rotation_spread_seconds=0, jitter_fraction=0)
    cred = _cred(
        next_rotation_at=NOW + 5 * HOUR, schedule_rotate_at=NOW + 3 * HOUR, refresh_interval_seconds=HOUR
    )
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + HOUR


def test_past_rotation_date_is_ignored_and_falls_back_to_intervals() -> None:
    policy = RefreshPolicy(jitter_fraction=0)
    cred = _cred(next_rotation_at=NOW - 10 * HOUR, rotation_interval_seconds=2 * HOUR)
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + 2 * HOUR


def test_rotation_just_passed_still_fetches_after_the_delay_but_not_before_min_interval() -> None:
    policy = RefreshPolicy(rotation_delay_seconds=120, rotation_spread_seconds=0, min_interval_seconds=60)
    cred = _cred(next_rotation_at=NOW - 30)
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + 90


def test_refresh_interval_and_rotation_interval() -> None:
    policy = RefreshPolicy(jitter_fraction=0)
    assert policy.next_refresh_at(_cred(refresh_interval_seconds=1800), NOW, _rng()) == NOW + 1800
    assert policy.next_refresh_at(_cred(rotation_interval_seconds=7200), NOW, _rng()) == NOW + 7200
    rng = _rng()
    for _ in range(50):
        t = RefreshPolicy(jitter_fraction=0.1).next_refresh_at(_cred(refresh_interval_seconds=1000), NOW, rng)
        assert NOW + 900 <= t <= NOW + 1000


def test_expiring_credential_refreshes_before_expiry() -> None:
    policy = RefreshPolicy(expiry_margin_seconds=300, expiry_margin_fraction=0.1)
    cred = _cred(generated_at=NOW, expires_at=NOW + HOUR)  # 10% of 1 h = 360 s > 300 s
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + HOUR - 360
    short = _cred(generated_at=NOW, expires_at=NOW + 900)
    assert policy.next_refresh_at(short, NOW, _rng()) == NOW + 600


def test_never_sooner_than_min_interval() -> None:
    policy = RefreshPolicy(min_interval_seconds=60)
    expired = _cred(expires_at=NOW - 10)
    assert policy.next_refresh_at(expired, NOW, _rng()) == NOW + 60
    tiny = _cred(refresh_interval_seconds=1)
    assert policy.next_refresh_at(tiny, NOW, _rng()) == NOW + 60


def test_overdue_interval_is_due_now_bounded_by_min_interval() -> None:
    policy = RefreshPolicy(jitter_fraction=0)
    old = _cred(refresh_interval_seconds=HOUR)
    assert policy.next_refresh_at(old, NOW + 10 * HOUR, _rng()) == NOW + 10 * HOUR + 60


def test_retry_delay_full_jitter_bounds_and_cap() -> None:
    policy = RefreshPolicy(backoff_base_seconds=1, backoff_max_seconds=300)
    rng = _rng()
    for attempt in range(12):
        delays = [policy.retry_delay(attempt, rng) for _ in range(50)]
        assert all(0 <= d <= min(300, 2**attempt) for d in delays)
    assert max(policy.retry_delay(20, rng) for _ in range(200)) > 150
    assert 0 <= policy.retry_delay(10_000, rng) <= 300
    assert 0 <= policy.retry_delay(-1, rng) <= 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("default_interval_seconds", 0),
        ("min_interval_seconds", -1),
        ("jitter_fraction", 1.0),
        ("expiry_margin_fraction", 2),
        ("backoff_max_seconds", float("inf")),
        ("rejected_backoff_seconds", float("nan")),
        ("rotation_delay_seconds", True),
        ("rotation_spread_seconds", "5"),
    ],
)
def test_invalid_policy_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        RefreshPolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.key == field
    assert isinstance(info.value, ValueError)


def test_a_known_rotation_suppresses_the_default_interval_that_would_fetch_the_old_key() -> None:
    policy = RefreshPolicy()  # default interval 6 h, the same as the rotation interval
    rng = _rng()
    cred = _cred(next_rotation_at=NOW + 6 * HOUR, rotation_interval_seconds=6 * HOUR)
    for _ in range(100):
        assert policy.next_refresh_at(cred, NOW, rng) >= NOW + 6 * HOUR + 60  # after, never before


def test_a_distant_rotation_keeps_the_default_interval_as_a_safety_net() -> None:
    policy = RefreshPolicy(jitter_fraction=0)
    cred = _cred(next_rotation_at=NOW + 30 * 24 * HOUR, rotation_interval_seconds=30 * 24 * HOUR)
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + 6 * HOUR


def test_an_expiry_alone_does_not_count_as_a_known_rotation() -> None:
    policy = RefreshPolicy(jitter_fraction=0)
    cred = _cred(expires_at=NOW + 48 * HOUR, rotation_interval_seconds=2 * HOUR)
    assert policy.next_refresh_at(cred, NOW, _rng()) == NOW + 2 * HOUR


def test_rotation_spread_fraction_widens_the_spread() -> None:
    policy = RefreshPolicy(rotation_spread_fraction=0.9)
    rng = _rng()
    cred = _cred(next_rotation_at=NOW + HOUR, rotation_interval_seconds=6 * HOUR)
    drawn = [policy.next_refresh_at(cred, NOW, rng) for _ in range(300)]
    assert all(NOW + HOUR + 60 <= t <= NOW + HOUR + 60 + 0.9 * 6 * HOUR for t in drawn)
    assert max(drawn) - min(drawn) > 4 * HOUR  # really spread over most of the interval


@pytest.mark.parametrize("lifetime", [900.0, HOUR, 12 * HOUR], ids=["15m", "1h", "12h"])
def test_is_fresh_and_next_refresh_at_share_one_expiry_margin(lifetime: float) -> None:
    # 10% of 1 h (360 s) and of 12 h exceed the 300 s floor: a stored copy must stop being "fresh"
    # exactly when the background refresh becomes due, not 60 s (or 4 h) later.
    policy = RefreshPolicy(default_interval_seconds=48 * HOUR)
    cred = _cred(generated_at=NOW, expires_at=NOW + lifetime)
    due = policy.next_refresh_at(cred, NOW, _rng())
    assert due == policy.refresh_due_at(cred)
    assert policy.is_fresh(cred, due - 1)
    assert not policy.is_fresh(cred, due)


def test_mandatory_window_is_near_expiry_and_never_past_it() -> None:
    policy = RefreshPolicy(mandatory_margin_seconds=120, mandatory_retry_seconds=10)
    assert policy.mandatory_refresh_at(_cred()) == float("inf")  # a RAM user key never expires
    hour = _cred(generated_at=NOW, expires_at=NOW + HOUR)
    assert policy.refresh_due_at(hour) == NOW + HOUR - 360 < policy.mandatory_refresh_at(hour)
    assert policy.mandatory_refresh_at(hour) == NOW + HOUR - 120
    # a token fetched inside its window is served a little before the next try, but never past expiry
    late = _cred(generated_at=NOW - HOUR, expires_at=NOW + 60)
    assert policy.mandatory_refresh_at(late) == NOW + 10
    assert policy.mandatory_refresh_at(_cred(generated_at=NOW - HOUR, expires_at=NOW + 5)) == NOW + 5
    assert policy.mandatory_retry_at(late, NOW + 20) == NOW + 30
    assert policy.mandatory_retry_at(late, NOW + 55) == NOW + 60
    # a mandatory margin wider than the advisory one starts with the advisory window
    wide = RefreshPolicy(mandatory_margin_seconds=600)
    assert wide.mandatory_refresh_at(hour) == wide.refresh_due_at(hour) == NOW + HOUR - 360


def test_retry_delay_draws_below_its_cap() -> None:
    # full jitter, not a fixed wait at the cap: processes that failed together spread their retries
    policy = RefreshPolicy(backoff_base_seconds=1, backoff_max_seconds=300)
    rng = _rng()
    delays = [policy.retry_delay(5, rng) for _ in range(50)]
    assert all(0 <= d <= 32 for d in delays)
    assert min(delays) < 8 and max(delays) > 24


def test_the_expiry_margin_counts_the_lifetime_from_generate_timestamp() -> None:
    # issued an hour before this process fetched it: a 2 h lifetime, so a 720 s margin (10%), not 360 s
    cred = _cred(generated_at=NOW - HOUR, expires_at=NOW + HOUR)
    assert RefreshPolicy().refresh_due_at(cred) == NOW + HOUR - 720
    # without GenerateTimestamp the lifetime starts at the fetch
    assert RefreshPolicy().refresh_due_at(_cred(expires_at=NOW + HOUR)) == NOW + HOUR - 360


@pytest.mark.parametrize(
    "refresh_interval, max_age",
    [(None, 6 * HOUR), (HOUR, HOUR), (12 * HOUR, 6 * HOUR)],
    ids=["default", "RefreshInterval-shorter", "RefreshInterval-longer"],
)
def test_a_stored_copy_is_fresh_for_less_than_its_max_age(
    refresh_interval: float | None, max_age: float
) -> None:
    cred = _cred(refresh_interval_seconds=refresh_interval)
    assert RefreshPolicy().is_fresh(cred, NOW + max_age - 1)
    assert not RefreshPolicy().is_fresh(cred, NOW + max_age)
