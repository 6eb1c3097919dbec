"""The encrypted on-disk cache: format, tampering, restarts and sharing between worker processes."""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import os
import random
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cache_worker import run as worker_run

from common_plugin import ConfigError, ManualClock, SecretValue
from common_plugin.bootstrap import provider_from_config
from common_plugin.config import load_config
from common_plugin.provider import CredentialsProvider
from common_plugin.refresh_policy import RefreshPolicy
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.factory import build_source
from common_plugin.storage.cache_keys import CacheKeyDecryptor, EnvironmentKeyDecryptor, FileKeyDecryptor
from common_plugin.storage.disk_cache import EncryptedFileStore
from common_plugin.testing import LocalAliyun

SECRET = "app-key"
DATA = '{"AccessKeyId": "LTAIexample0001", "AccessKeySecret": "very-secret-value-123"}'


def _value() -> SecretValue:
    return SecretValue(secret_name=SECRET, secret_data=DATA, secret_type="RAMCredentials", version_id="v1")


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> EnvironmentKeyDecryptor:
    monkeypatch.setenv("MANAGED_CREDENTIALS_CACHE_KEY", "k" * 32)
    return EnvironmentKeyDecryptor()


def test_round_trip_is_encrypted_and_private(tmp_path: Path, env_key: EnvironmentKeyDecryptor) -> None:
    store = EncryptedFileStore(tmp_path / "cache", env_key)
    store.save(SECRET, _value(), 123.0)
    loaded = store.load(SECRET)
    assert loaded is not None and loaded.value == _value() and loaded.fetched_at == 123.0
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    files = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".cache"]
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    raw = files[0].read_bytes()
    assert (
        b"very-secret-value-123" not in raw and b"LTAIexample0001" not in raw and SECRET.encode() not in raw
    )
    assert "k" * 32 not in repr(env_key) and "k" * 32 not in repr(store)


def test_loose_folder_permissions_are_tightened(tmp_path: Path, env_key: EnvironmentKeyDecryptor) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # noqa: S103 - the loose mode under test
    EncryptedFileStore(folder, env_key)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize("offset", [-5, 40, 150])
def test_tampered_file_is_discarded(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture, offset: int
) -> None:
    store = EncryptedFileStore(tmp_path, env_key)
    store.save(SECRET, _value(), 1.0)
    path = next(p for p in tmp_path.iterdir() if p.suffix == ".cache")
    raw = bytearray(path.read_bytes())
    raw[offset] = ord("A") if raw[offset] != ord("A") else ord("B")
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        assert store.load(SECRET) is None
    assert not path.exists()
    assert "discarded" in caplog.text and "very-secret" not in caplog.text


def test_a_file_from_another_key_is_discarded(tmp_path: Path, env_key: EnvironmentKeyDecryptor) -> None:
    EncryptedFileStore(tmp_path, env_key).save(SECRET, _value(), 1.0)
    key_file = tmp_path / "other.key"
    key_file.write_bytes(os.urandom(32))
    other = EncryptedFileStore(tmp_path, FileKeyDecryptor(key_file))
    assert other.load(SECRET) is None
    assert other.load(SECRET) is None  # discarded, not retried


def test_a_file_renamed_to_another_secret_is_rejected(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor
) -> None:
    store = EncryptedFileStore(tmp_path, env_key)
    store.save(SECRET, _value(), 1.0)
    store.save("other", _value(), 1.0)
    mine = store._stem(SECRET).with_suffix(".cache")
    store._stem("other").with_suffix(".cache").replace(mine)  # bound to its name by the AEAD data
    assert store.load(SECRET) is None


class ReversingDecryptor(CacheKeyDecryptor):
    """A toy custom decryptor named by dotted path (a real one would call a KMS or an HSM)."""

    @property
    def key_id(self) -> str:
        return "reverse"

    def encrypt_data_key(self, data_key: bytes) -> bytes:
        return b"R" + data_key[::-1]

    def decrypt_data_key(self, encrypted: bytes) -> bytes:
        if not encrypted.startswith(b"R"):
            raise ValueError("not mine")
        return encrypted[1:][::-1]


def _properties(cloud: LocalAliyun, tmp_path: Path, **extra: str) -> Path:
    return cloud.write_properties(
        tmp_path / "p.properties", extra={"cache_dir": str(tmp_path / "cache"), **extra}
    )


@pytest.mark.parametrize("decryptor", [None, "file", "test_disk_cache.ReversingDecryptor"])
def test_a_restart_reuses_the_cached_value(
    local_aliyun: LocalAliyun, tmp_path: Path, decryptor: str | None
) -> None:
    local_aliyun.create_ram_secret(SECRET, rotation_interval_seconds=3600)
    extra: dict[str, str] = {}
    if decryptor:
        extra["cache_key_decryptor"] = decryptor
    if decryptor == "file":
        (tmp_path / "cache.key").write_bytes(os.urandom(32))
        extra["cache_key_file"] = str(tmp_path / "cache.key")
    config = load_config(_properties(local_aliyun, tmp_path, **extra))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as first:
        key = first.get(SECRET)
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as second:
        assert second.get(SECRET) == key
        assert second.status().counters["store_hits"] == 1
    assert local_aliyun.count("dkms", "GetSecretValue") == 1


def test_a_value_fetched_before_a_rotation_is_not_reused_after_it(
    local_aliyun_factory: Callable[..., LocalAliyun], tmp_path: Path
) -> None:
    clock = ManualClock()
    cloud = local_aliyun_factory(clock=clock)
    secret = cloud.create_ram_secret(SECRET, rotation_interval_seconds=3600)
    config = load_config(_properties(cloud, tmp_path))
    with provider_from_config(config, scheduler=ManualScheduler(), clock=clock, preload=False) as first:
        old = first.get(SECRET)
    assert secret.next_rotation_at is not None
    clock.set(secret.next_rotation_at)
    cloud.rotate(SECRET, grace_seconds=3600)
    clock.advance(120)  # past the rotation plus its propagation delay
    with provider_from_config(config, scheduler=ManualScheduler(), clock=clock, preload=False) as second:
        assert second.get(SECRET).access_key_id != old.access_key_id
    assert cloud.count("dkms", "GetSecretValue") == 2


def test_eight_worker_processes_fetch_once_per_rotation(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret(SECRET, rotation_interval_seconds=6 * 3600)
    properties = str(_properties(local_aliyun, tmp_path))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    go = context.Event()
    workers = [context.Process(target=worker_run, args=(properties, SECRET, queue, go)) for _ in range(8)]
    for worker in workers:
        worker.start()
    try:
        first = [queue.get(timeout=120) for _ in workers]
        assert {kind for kind, *_ in first} == {"first"}
        assert len({key for _, key in first}) == 1
        assert local_aliyun.count("dkms", "GetSecretValue") == 1  # one process fetched, seven read the cache
        local_aliyun.rotate(SECRET)  # revoked at once: every worker reports the rejection
        go.set()
        after = [queue.get(timeout=120) for _ in workers]
    finally:
        go.set()
        for worker in workers:
            worker.join(timeout=60)
    new_key = local_aliyun.current_key(SECRET).access_key_id
    assert all(kind == "after" and key == new_key for kind, key, *_ in after)
    assert local_aliyun.count("dkms", "GetSecretValue") == 2  # exactly one fetch for the rotation
    assert sum(fetches for *_, fetches, _hits in after) == 2  # across all eight: start + rotation
    assert all(worker.exitcode == 0 for worker in workers)


@pytest.mark.parametrize(
    "extra, key",
    [
        ({"cache_key_decryptor": "no.such.Decryptor"}, "cache_key_decryptor"),
        ({"cache_key_decryptor": "file"}, "cache_key_file"),
        ({"cache_key_file": "/no/such/file"}, "cache_key_file"),
    ],
)
def test_cache_settings_are_validated_at_load(
    local_aliyun: LocalAliyun, tmp_path: Path, extra: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_properties(local_aliyun, tmp_path, **extra))
    assert info.value.key == key and key in str(info.value)


def test_cache_keys_need_cache_dir(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    path = local_aliyun.write_properties(tmp_path / "p.properties", extra={"cache_key_decryptor": "env"})
    with pytest.raises(ConfigError, match="cache_dir"):
        load_config(path)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_a_fetch_holds_the_store_lock(tmp_path: Path, env_key: EnvironmentKeyDecryptor) -> None:
    """The child must not inherit the store's per-secret lock held by a parent thread (a deadlock)."""
    import threading

    from forking import run_in_child
    from test_provider import NAME, FakeSource

    from common_plugin.provider import CredentialsProvider

    source = FakeSource()
    source.set(NAME, "LTAIfirstkey0001")
    provider = CredentialsProvider(
        source, scheduler=ManualScheduler(), store=EncryptedFileStore(tmp_path, env_key)
    )
    try:
        provider.get(NAME)
        source.hold()
        held = threading.Thread(target=provider.refresh, args=(NAME,))
        held.start()
        assert source.entered.wait(30)  # the parent's thread now holds the store lock, mid-fetch

        def child() -> int:
            source.gate = None
            return 0 if provider.refresh(NAME) else 1

        status = run_in_child(child, timeout=60, in_parent=source.release)
        held.join(30)
        assert status == 0
    finally:
        provider.close()


def test_a_rejected_key_dropped_after_a_failed_refresh_is_not_brought_back(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    from common_plugin.testing import THROTTLING

    local_aliyun.create_ram_secret(SECRET)
    config = load_config(_properties(local_aliyun, tmp_path, max_fetch_attempts="1"))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        revoked = provider.get(SECRET)
        local_aliyun.rotate(SECRET)  # the key is revoked at once
        local_aliyun.inject_fault("dkms", THROTTLING, count=1)  # and the replacement fetch fails
        assert provider.refresh_rejected(SECRET, revoked) is None
        assert provider.peek(SECRET) is None
        fresh = provider.get(SECRET)  # must fetch, not reload the revoked key from disk
        assert fresh.access_key_id == local_aliyun.current_key(SECRET).access_key_id != revoked.access_key_id
        assert provider.status().counters["store_hits"] == 0
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as restarted:
        assert restarted.get(SECRET).access_key_id == fresh.access_key_id  # the good key was stored


def test_a_dropped_key_is_taken_out_of_the_store_for_the_next_process(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    from common_plugin.testing import THROTTLING

    local_aliyun.create_ram_secret(SECRET)
    config = load_config(_properties(local_aliyun, tmp_path, max_fetch_attempts="1"))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        revoked = provider.get(SECRET)
        local_aliyun.rotate(SECRET)  # the key is revoked at once
        local_aliyun.inject_fault("dkms", THROTTLING, count=1)  # and the replacement fetch fails
        assert provider.refresh_rejected(SECRET, revoked) is None  # dropped
    # Another process (or a restart) never learnt of the rejection: the store must not hand it over.
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as restarted:
        assert restarted.get(SECRET).access_key_id == local_aliyun.current_key(SECRET).access_key_id
        assert restarted.status().counters["store_hits"] == 0


def test_a_background_refresh_does_not_settle_for_the_copy_this_process_stored(
    local_aliyun_factory: Callable[..., LocalAliyun], tmp_path: Path, env_key: EnvironmentKeyDecryptor
) -> None:
    """The store stands in for a proactive refresh only with a value newer than the one this process
    holds: its own copy, still fresh when the jittered refresh comes, would hide a rotation made
    without a rotation date to go by."""
    clock = ManualClock(1_800_000_000.0)
    cloud = local_aliyun_factory(clock=clock)
    cloud.create_ram_secret(SECRET)
    config = load_config(_properties(cloud, tmp_path))
    assert config.cache_dir is not None
    sched = ManualScheduler()
    store = EncryptedFileStore(config.cache_dir, env_key)
    source = build_source(config)
    with CredentialsProvider(
        source, clock=clock, scheduler=sched, rng=random.Random(7), owns_source=True, store=store
    ) as provider:
        old = provider.get(SECRET)
        cloud.rotate(SECRET, grace_seconds=86400)  # rotated by hand: no NextRotationDate
        (due,) = sched.jobs().values()
        assert RefreshPolicy().is_fresh(old, due)  # made early by the jitter: the stored copy is fresh
        clock.set(due)
        assert sched.run_due(due) == 1
        assert provider.get(SECRET).access_key_id == cloud.current_key(SECRET).access_key_id
    assert cloud.count("dkms", "GetSecretValue") == 2


def test_cache_folder_and_key_are_checked_at_load(
    local_aliyun: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ConfigError) as info:
        load_config(
            local_aliyun.write_properties(
                tmp_path / "a.properties",
                extra={"cache_dir": str(not_a_folder / "cache"), "cache_key_decryptor": "client_key"},
            )
        )
    assert info.value.key == "cache_dir" and "is not a folder" in str(info.value)
    monkeypatch.delenv("MANAGED_CREDENTIALS_CACHE_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(
            local_aliyun.write_properties(
                tmp_path / "b.properties",
                extra={"cache_dir": str(tmp_path / "c"), "cache_key_decryptor": "env"},
            )
        )
    assert info.value.key == "cache_key_env_variable" and "MANAGED_CREDENTIALS_CACHE_KEY" in str(info.value)


def test_an_unusable_lock_file_does_not_fail_the_fetch(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture
) -> None:
    store = EncryptedFileStore(tmp_path / "cache", env_key)
    store._stem(SECRET).with_suffix(".lock").mkdir()  # a folder where the lock file should be
    with caplog.at_level(logging.WARNING), store.locked(SECRET):
        store.save(SECRET, _value(), 1.0)
    assert store.load(SECRET) is not None and "uncoordinated" in caplog.text


# -- the folder, its files and their contents are not trusted (issue 13, item 3) ---------------------

NOBODY = 65534


def _link_folder(folder: Path) -> None:
    real = folder.with_name("real")
    real.mkdir(mode=0o700)
    folder.symlink_to(real)


def _foreign_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)


def _group_writable_folder(folder: Path) -> None:
    folder.mkdir()
    os.chmod(folder, 0o770)  # noqa: S103 - the loose mode under test


@pytest.mark.parametrize(
    "make, fix",
    [
        (_link_folder, "is a symbolic link; name the real folder"),
        (_foreign_folder, f"is owned by uid {NOBODY}"),
        (_group_writable_folder, "chmod 700"),
    ],
    ids=["symlink", "another user's", "group-writable"],
)
def test_an_untrusted_cache_folder_is_refused_at_load_and_when_opened(
    local_aliyun: LocalAliyun,
    tmp_path: Path,
    env_key: EnvironmentKeyDecryptor,
    make: Callable[[Path], None],
    fix: str,
) -> None:
    folder = tmp_path / "cache"
    make(folder)
    before = folder.lstat()
    with pytest.raises(ConfigError) as info:
        load_config(_properties(local_aliyun, tmp_path, cache_key_decryptor="env"))
    assert info.value.key == "cache_dir" and str(folder) in str(info.value) and fix in str(info.value)
    with pytest.raises(ConfigError) as info:
        EncryptedFileStore(folder, env_key)
    assert info.value.key == "cache_dir" and str(folder) in str(info.value) and fix in str(info.value)
    after = folder.lstat()
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)  # not "fixed" behind our back
    assert not list(folder.iterdir())


def test_a_folder_made_unsafe_after_start_is_no_longer_used(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cache"
    store = EncryptedFileStore(folder, env_key)
    store.save(SECRET, _value(), 1.0)
    os.chmod(folder, 0o777)  # noqa: S103 - the loose mode under test
    with caplog.at_level(logging.WARNING):
        assert store.load(SECRET) is None
        store.save("other", _value(), 1.0)
        with store.locked(SECRET):
            pass
    assert "chmod 700" in caplog.text and "without the on-disk cache" in caplog.text
    assert len(list(folder.iterdir())) == 2  # the first secret's file and lock; nothing new


def _cache_path(store: EncryptedFileStore, secret: str = SECRET) -> Path:
    return store._stem(secret).with_suffix(".cache")


def _symlink_to_a_valid_file(store: EncryptedFileStore, path: Path) -> None:
    elsewhere = EncryptedFileStore(path.parent.parent / "elsewhere", store._decryptor)
    elsewhere.save(SECRET, _value(), 1.0)
    path.symlink_to(_cache_path(elsewhere))


def _foreign_file(store: EncryptedFileStore, path: Path) -> None:
    store.save(SECRET, _value(), 1.0)
    os.chown(path, NOBODY, NOBODY)


def _hard_link(store: EncryptedFileStore, path: Path) -> None:
    store.save(SECRET, _value(), 1.0)
    os.link(path, path.parent.parent / "second-name")


@pytest.mark.parametrize(
    "plant, why",
    [
        (lambda store, path: os.mkfifo(path), "not a regular file"),
        (_symlink_to_a_valid_file, "a symbolic link"),
        (_foreign_file, f"owned by uid {NOBODY}"),
        (_hard_link, "hard-linked elsewhere"),
    ],
    ids=["fifo", "symlink", "another user's", "hard link"],
)
def test_a_cache_file_that_is_not_a_private_regular_file_is_discarded(
    tmp_path: Path,
    env_key: EnvironmentKeyDecryptor,
    caplog: pytest.LogCaptureFixture,
    plant: Callable[[EncryptedFileStore, Path], None],
    why: str,
) -> None:
    store = EncryptedFileStore(tmp_path / "cache", env_key)
    path = _cache_path(store)
    plant(store, path)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(store.load(SECRET)), daemon=True)
    with caplog.at_level(logging.WARNING):
        reader.start()
        reader.join(30)  # a liveness bound, not a timing assertion: the old code blocked forever
    if reader.is_alive():  # unblock the reader of a FIFO before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(30)
        pytest.fail("load() blocked on the file")
    assert result == [None] and why in caplog.text and "discarded" in caplog.text
    assert not os.path.lexists(path)
    store.save(SECRET, _value(), 2.0)  # and the cache works again
    loaded = store.load(SECRET)
    assert loaded is not None and loaded.fetched_at == 2.0
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "cache").iterdir())


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_is_never_written_through(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    store = EncryptedFileStore(tmp_path / "cache", env_key)
    lock = store._stem(SECRET).with_suffix(".lock")
    victim = tmp_path / "victim"
    if kind == "symlink":
        lock.symlink_to(victim)
    else:
        os.mkfifo(lock)
    with caplog.at_level(logging.WARNING), store.locked(SECRET):
        store.save(SECRET, _value(), 1.0)
    assert not victim.exists()  # the old code created the link's target
    assert "uncoordinated until it is removed" in caplog.text and str(lock) in caplog.text
    assert store.load(SECRET) is not None  # the cache itself still works


def _encrypted(key: CacheKeyDecryptor, payload: bytes) -> bytes:
    """A file encrypted as the store does (the format in cache_format's docstring), around a payload
    of the test's choosing."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    aad = b"managed-credentials cache v1\0" + SECRET.encode() + b"\0" + key.key_id.encode()
    ciphertext = AESGCM(data_key).encrypt(nonce, payload, aad)
    return json.dumps(
        {
            "format": 1,
            "key_id": key.key_id,
            "wrapped_key": base64.b64encode(key.encrypt_data_key(data_key)).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
    ).encode()


_GOOD_VALUE = {"secret_name": SECRET, "secret_data": DATA}
UNDECODABLE: dict[str, Callable[[CacheKeyDecryptor], bytes]] = {
    "[]": lambda key: b"[]",
    "null": lambda key: b"null",
    "deep": lambda key: b"[" * 100_000 + b"]" * 100_000,
    "not UTF-8": lambda key: b"\xff\xfe{}",
    "key id a number": lambda key: b'{"format": 1, "key_id": 5}',
    "wrapped key a number": lambda key: json.dumps(
        {"format": 1, "key_id": key.key_id, "wrapped_key": 1, "nonce": "AA==", "ciphertext": "AA=="}
    ).encode(),
    "over 1 MiB": lambda key: b" " * (2 << 20) + b"{}",
    "payload []": lambda key: _encrypted(key, b"[]"),
    "payload deep": lambda key: _encrypted(key, b"[" * 100_000 + b"]" * 100_000),
    "value null": lambda key: _encrypted(key, json.dumps({"value": None, "fetched_at": 1}).encode()),
    "secret data a number": lambda key: _encrypted(
        key, json.dumps({"value": {**_GOOD_VALUE, "secret_data": 5}, "fetched_at": 1}).encode()
    ),
    "fetched_at huge": lambda key: _encrypted(
        key, json.dumps({"value": _GOOD_VALUE, "fetched_at": 10**400}).encode()
    ),
    "generation text": lambda key: _encrypted(
        key, json.dumps({"value": _GOOD_VALUE, "fetched_at": 1, "generation": "9"}).encode()
    ),
}


@pytest.mark.parametrize("content", sorted(UNDECODABLE))
def test_a_file_that_does_not_decode_is_discarded_never_raised(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    store = EncryptedFileStore(tmp_path / "cache", env_key)
    path = _cache_path(store)
    path.write_bytes(UNDECODABLE[content](env_key))
    with caplog.at_level(logging.WARNING):
        assert store.load(SECRET) is None
    assert not path.exists() and "discarded" in caplog.text


@pytest.mark.parametrize("content", ["[]", "null", "deep"])
def test_get_fetches_past_an_undecodable_file(
    local_aliyun: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    monkeypatch.setenv("MANAGED_CREDENTIALS_CACHE_KEY", "k" * 32)
    local_aliyun.create_ram_secret(SECRET)
    config = load_config(_properties(local_aliyun, tmp_path, cache_key_decryptor="env"))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        assert config.cache_dir is not None
        store = EncryptedFileStore(config.cache_dir, EnvironmentKeyDecryptor())
        _cache_path(store).write_bytes(UNDECODABLE[content](EnvironmentKeyDecryptor()))
        assert provider.get(SECRET).access_key_id == local_aliyun.current_key(SECRET).access_key_id
    assert local_aliyun.count("dkms", "GetSecretValue") == 1
    assert store.load(SECRET) is not None  # replaced by the fetched value


# -- replays: an older file copied back loses against a newer one already seen ------------------------


def test_a_replayed_older_file_loses_against_a_rotation_already_seen(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cache"
    store = EncryptedFileStore(folder, env_key)
    store.save(SECRET, _value(), 1.0)
    path = _cache_path(store)
    before_rotation = path.read_bytes()
    rotated = SecretValue(secret_name=SECRET, secret_data=DATA.replace("0001", "0002"), version_id="v2")
    store.save(SECRET, rotated, 2.0)
    path.write_bytes(before_rotation)
    with caplog.at_level(logging.WARNING):
        assert store.load(SECRET) is None  # this store saw generation 2
    assert "older than generation 2" in caplog.text and not path.exists()
    store.save(SECRET, rotated, 3.0)  # generation 3
    path.write_bytes(before_rotation)
    restarted = EncryptedFileStore(folder, env_key)  # a fresh process: the lock file knows
    assert restarted.load(SECRET) is None and not path.exists()


def test_a_discarded_file_copied_back_is_not_served(tmp_path: Path, env_key: EnvironmentKeyDecryptor) -> None:
    """discard() is how the provider drops a key the cloud rejected: that file must stay dead."""
    folder = tmp_path / "cache"
    store = EncryptedFileStore(folder, env_key)
    store.save(SECRET, _value(), 1.0)
    path = _cache_path(store)
    rejected = path.read_bytes()
    store.discard(SECRET)
    path.write_bytes(rejected)
    assert store.load(SECRET) is None and not path.exists()
    path.write_bytes(rejected)
    assert EncryptedFileStore(folder, env_key).load(SECRET) is None
    store.save(SECRET, _value(), 2.0)  # and the next value is stored and served
    loaded = EncryptedFileStore(folder, env_key).load(SECRET)
    assert loaded is not None and loaded.fetched_at == 2.0


def test_a_restored_file_pair_is_the_documented_limit(
    tmp_path: Path, env_key: EnvironmentKeyDecryptor
) -> None:
    """Put back together, the cache file and its lock file fool a process that never saw the newer
    one (the limit stated in the module docstring and the README); a process that did see it is not."""
    folder = tmp_path / "cache"
    store = EncryptedFileStore(folder, env_key)
    store.save(SECRET, _value(), 1.0)
    path, lock = _cache_path(store), store._stem(SECRET).with_suffix(".lock")
    backup = path.read_bytes(), lock.read_bytes()
    store.save(SECRET, _value(), 2.0)
    path.write_bytes(backup[0])
    lock.write_bytes(backup[1])
    assert store.load(SECRET) is None  # this process saw generation 2
    path.write_bytes(backup[0])
    loaded = EncryptedFileStore(folder, env_key).load(SECRET)
    assert loaded is not None and loaded.fetched_at == 1.0


def test_a_restart_does_not_serve_a_key_copied_back_after_a_rotation(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    local_aliyun.create_ram_secret(SECRET)
    config = load_config(_properties(local_aliyun, tmp_path))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        revoked = provider.get(SECRET)
        assert config.cache_dir is not None
        (path,) = config.cache_dir.glob("*.cache")
        copy = path.read_bytes()
        local_aliyun.rotate(SECRET)  # revoked at once
        fresh = provider.refresh_rejected(SECRET, revoked)
        assert fresh is not None and fresh.access_key_id != revoked.access_key_id
    path.write_bytes(copy)  # the revoked key's file, put back
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as restarted:
        assert restarted.get(SECRET).access_key_id == fresh.access_key_id
        assert restarted.status().counters["store_hits"] == 0
    assert local_aliyun.count("dkms", "GetSecretValue") == 3


def test_a_deeply_nested_client_key_is_a_config_error_for_the_cache_key() -> None:
    from common_plugin.storage.cache_keys import ClientKeyDecryptor

    with pytest.raises(ConfigError) as info:
        ClientKeyDecryptor("[" * 100_000 + "]" * 100_000, "password")
    assert info.value.key == "cache_key_decryptor"
