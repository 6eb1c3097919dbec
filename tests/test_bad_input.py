"""Bad input (issue 7, part 3): every malformed input becomes a typed error that helps and hides secrets.

* property-based: the secret parser on arbitrary SecretData / SecretType, and the configuration
  loader on arbitrary property values, raise only their typed error (or succeed), and never echo
  the raw input (the properties parser itself is covered in ``test_properties.py``);
* table-driven: each malformed key, missing file, wrong password, non-RAM secret and garbage server
  reply, through the real loader, sources and provider, raises the documented type with a message
  naming the key or file and the fix, without the secret; each runs as a job on a real
  ``BackgroundScheduler``, which must still fire the next job afterwards.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import secret_hygiene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_plugin.config import KNOWN_KEYS, load_config
from common_plugin.credentials import ManagedCredential, SecretValue, parse_duration_seconds, parse_timestamp
from common_plugin.exceptions import (
    ConfigError,
    MalformedSecretError,
    ManagedCredentialsError,
    SecretFetchError,
)
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import BackgroundScheduler
from common_plugin.sources.dkms import DkmsSource
from common_plugin.testing import Fault, LocalAliyun

WAIT = 30.0  # seconds; a safety net against a hang, never reached when the code works
MARK = "ZQXJ"  # begins every raw input below; a message containing it echoed the input

# -- property-based: the secret parser ------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "AccessKeyId",
        "AccessKeySecret",
        "SecurityToken",
        "GenerateTimestamp",
        "ExpireTimestamp",
        "Expiration",
        "RefreshInterval",
        "refreshInterval",
        "ScheduleRotateTimestamp",
    ]
)
_SECRET_TYPES = st.sampled_from(["", "RAMCredentials", "ram_credentials", "Generic", "Rds"]) | st.text(
    max_size=12
)


@settings(max_examples=400, deadline=None)
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=30),
    fields=st.dictionaries(_FIELDS, _JSON, max_size=6),
    secret_type=_SECRET_TYPES,
    rotation=st.one_of(st.just(""), st.text(max_size=10), st.sampled_from(["604800s", "6h", "-1", "nan"])),
    next_rotation=st.one_of(
        st.just(""), st.text(max_size=25), st.sampled_from(["2026-01-31T08:00:00Z", "1e999"])
    ),
)
def test_secret_parser_on_arbitrary_fields_raises_only_malformed_and_hides_the_secret(
    secret: str, fields: dict[str, object], secret_type: str, rotation: str, next_rotation: str
) -> None:
    data = {**fields, "AccessKeySecret": MARK + secret}
    value = SecretValue(
        secret_name="app",
        secret_data=json.dumps(data, allow_nan=True),
        secret_type=secret_type,
        rotation_interval=rotation,
        next_rotation_date=next_rotation,
    )
    try:
        cred = ManagedCredential.from_secret_value(value, fetched_at=0.0)
    except MalformedSecretError as exc:
        assert MARK not in str(exc) and exc.secret_name == "app" and "'app'" in str(exc)
        assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
        return
    assert cred.access_key_secret == MARK + secret and MARK not in repr(cred)
    for moment in (cred.generated_at, cred.expires_at, cred.next_rotation_at, cred.schedule_rotate_at):
        assert moment is None or math.isfinite(moment)
    for duration in (cred.rotation_interval_seconds, cred.refresh_interval_seconds):
        assert duration is None or (math.isfinite(duration) and duration >= 0)


@settings(max_examples=300, deadline=None)
@given(raw=st.text(), secret_type=_SECRET_TYPES)
def test_secret_parser_on_arbitrary_text_never_echoes_it(raw: str, secret_type: str) -> None:
    value = SecretValue(secret_name="app", secret_data=MARK + raw, secret_type=secret_type)
    with pytest.raises(MalformedSecretError) as info:
        ManagedCredential.from_secret_value(value, fetched_at=0.0)
    assert MARK not in str(info.value)


@pytest.mark.parametrize(
    "raw", [10**400, "9" * 400, float("nan"), float("inf"), "nan", "1e999", "9" * 308 + "d"]
)
def test_non_finite_times_and_durations_are_value_errors(raw: object) -> None:
    """Found by the property test: a huge integer raised OverflowError, NaN and inf were accepted."""
    with pytest.raises(ValueError):
        parse_timestamp(raw)
    with pytest.raises(ValueError):
        parse_duration_seconds(raw)


# -- property-based: the configuration loader ------------------------------------------------------

_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["[]", "{}", "[{}]", '[{"regionId": 1}]', "null", "0", "-1", "²", "١٢", "6h", "1e999"]),
    _JSON.map(json.dumps),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(properties=st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), _VALUES, max_size=5))
def test_config_loader_raises_only_config_error(properties: dict[str, str], tmp_path: Path) -> None:
    try:
        load_config(properties, environ={}, base_dir=tmp_path)
    except ConfigError as exc:
        assert exc.key is None or exc.key in KNOWN_KEYS


@pytest.mark.parametrize("raw", ["²", "٣", "①"])
def test_non_ascii_digits_in_max_fetch_attempts_are_a_config_error(raw: str, tmp_path: Path) -> None:
    """Found by the property test: ``str.isdigit`` accepts '²', which ``int`` rejects (ValueError)."""
    with pytest.raises(ConfigError, match="max_fetch_attempts"):
        load_config(
            {
                "cache_client_region_id": '[{"regionId": "cn-hangzhou"}]',
                "credentials_type": "ecs_ram_role",
                "credentials_role_name": "r",
                "max_fetch_attempts": raw,
            },
            environ={},
            base_dir=tmp_path,
        )


# -- table-driven: through the real loader, sources and provider -----------------------------------


@dataclass
class World:
    """What a case may use: the emulator, a folder, and the secrets it must not leak."""

    cloud: LocalAliyun
    tmp: Path
    password: str
    make_provider: Callable[..., CredentialsProvider]

    def dkms_entry(self, **changes: object) -> dict[str, object]:
        entry: dict[str, object] = {
            "regionId": self.cloud.region_id,
            "endpoint": self.cloud.dkms_endpoint,
            "clientKeyFile": str(self.cloud.client_key_file),
            "passwordFromFilePath": str(self.cloud.client_key_password_file),
            "caFilePath": str(self.cloud.ca_file),
        }
        entry.update(changes)
        return {k: v for k, v in entry.items() if v is not None}

    def props(self, text: str) -> Path:
        path = self.tmp / "bad.properties"
        path.write_text(text, encoding="utf-8")
        return path

    def load_dkms(self, **changes: object) -> None:
        load_config(
            self.props("cache_client_dkms_config_info=" + json.dumps([self.dkms_entry(**changes)]) + "\n"),
            environ={},
        )

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def key_json(self) -> dict[str, str]:
        result: dict[str, str] = json.loads(Path(str(self.cloud.client_key_file)).read_text())
        return result

    def fetch(self, secret: str, fault: Fault | None = None, mode: str = "dkms") -> None:
        provider = self.make_provider(self.cloud, mode=mode, max_fetch_attempts="1")
        if fault is not None:
            self.cloud.inject_fault("kms" if mode == "gateway" else "dkms", fault, count=1)
        provider.get(secret)


@dataclass(frozen=True)
class Case:
    name: str
    error: type[ManagedCredentialsError]
    run: Callable[[World], object]
    names: tuple[str, ...]  # the key, file or secret the message must name
    fix: str  # a fragment of the fix the message must give


def _garbage_secret(world: World) -> None:
    secret = world.cloud.create_ram_secret("broken")
    secret.current.secret_data = "AccessKeySecret=" + world.password  # not JSON, holds a secret
    world.fetch("broken")


def _half_secret(world: World) -> None:
    secret = world.cloud.create_ram_secret("half")
    data = json.loads(secret.current.secret_data)
    del data["AccessKeyId"]
    secret.current.secret_data = json.dumps(data)
    world.fetch("half")


DEEP = "[" * 100_000 + "]" * 100_000  # Python's JSON parser recurses once per level: RecursionError


def _deep_secret(world: World) -> None:
    secret = world.cloud.create_ram_secret("deep")
    secret.current.secret_data = DEEP
    world.fetch("deep")


def _gateway_props(world: World, extra: str) -> Path:
    return world.props(
        'cache_client_region_id=[{"regionId":"r"}]\ncredentials_type=ak\n'
        f"credentials_access_key_id=LTAIx\ncredentials_access_secret={world.password}\n{extra}\n"
    )


CASES = [
    Case(
        "unknown key",
        ConfigError,
        lambda w: load_config(w.props("cache_client_dkms_config_inf=[]\n")),
        ("cache_client_dkms_config_inf",),
        "did you mean 'cache_client_dkms_config_info'",
    ),
    Case(
        "retired password key",
        ConfigError,
        lambda w: load_config(w.props(f"client_key_password={w.password}\n")),
        ("client_key_password",),
        "client_key_password_from_file_path",
    ),
    Case(
        "DKMS info not JSON",
        ConfigError,
        lambda w: load_config(w.props("cache_client_dkms_config_info=[{regionId: x}\n")),
        ("cache_client_dkms_config_info", "bad.properties, line 1"),
        "at character 3 of the value",
    ),
    Case(
        "DKMS info not an array of objects",
        ConfigError,
        lambda w: load_config(w.props("cache_client_dkms_config_info=[1]\n")),
        ("cache_client_dkms_config_info[0]",),
        "must be a JSON object",
    ),
    Case(
        "DKMS field missing",
        ConfigError,
        lambda w: w.load_dkms(endpoint=None),
        ("cache_client_dkms_config_info[0]", "'endpoint'"),
        "is required",
    ),
    Case(
        "DKMS field misspelt",
        ConfigError,
        lambda w: w.load_dkms(caFilePth="x"),
        ("'caFilePth'",),
        "did you mean 'caFilePath'",
    ),
    Case(
        "both password sources",
        ConfigError,
        lambda w: w.load_dkms(passwordFromEnvVariable="PW"),
        ("passwordFromFilePath", "passwordFromEnvVariable"),
        "set exactly one",
    ),
    Case(
        "password variable unset",
        ConfigError,
        lambda w: w.load_dkms(passwordFromFilePath=None, passwordFromEnvVariable="NO_SUCH_PW"),
        ("NO_SUCH_PW",),
        "set it or name another variable",
    ),
    Case(
        "missing client key file",
        ConfigError,
        lambda w: w.load_dkms(clientKeyFile="absent.json"),
        ("clientKeyFile", "absent.json"),
        "fix the path",
    ),
    Case(
        "missing password file",
        ConfigError,
        lambda w: w.load_dkms(passwordFromFilePath="no-pw.txt"),
        ("passwordFromFilePath", "no-pw.txt"),
        "fix the path",
    ),
    Case(
        "missing CA file",
        ConfigError,
        lambda w: w.load_dkms(caFilePath="no-ca.pem"),
        ("caFilePath", "no-ca.pem"),
        "fix the path",
    ),
    Case(
        "wrong password",
        ConfigError,
        lambda w: w.load_dkms(passwordFromFilePath=w.file("wrong.txt", "not-" + w.password)),
        ("clientKeyFile", "wrong.txt"),
        "wrong password or corrupt key file",
    ),
    Case(
        "client key not JSON",
        ConfigError,
        lambda w: w.load_dkms(clientKeyFile=w.file("key.json", "KeyId=" + w.password)),
        ("clientKeyFile", "key.json"),
        "not valid JSON",
    ),
    Case(
        "client key without PrivateKeyData",
        ConfigError,
        lambda w: w.load_dkms(clientKeyFile=w.file("key.json", json.dumps({"KeyId": "KAAP.x"}))),
        ("key.json",),
        "download the ClientKey file again",
    ),
    Case(
        "client key corrupt",
        ConfigError,
        lambda w: w.load_dkms(
            clientKeyFile=w.file(
                "key.json", json.dumps({**w.key_json(), "PrivateKeyData": "%%" + w.password})
            )
        ),
        ("key.json",),
        "wrong password or corrupt key file",
    ),
    Case(
        "client key file not UTF-8",
        ConfigError,
        lambda w: w.load_dkms(clientKeyFile=w.file("key.json", b"\xff\xfe" + w.password.encode())),
        ("key.json",),
        "not valid UTF-8",
    ),
    Case(
        "ignoreSslCerts not a boolean",
        ConfigError,
        lambda w: w.load_dkms(ignoreSslCerts="maybe"),
        ("ignoreSslCerts",),
        "true or false",
    ),
    Case(
        "properties file missing",
        ConfigError,
        lambda w: load_config(w.tmp / "absent.properties"),
        ("absent.properties",),
        "fix the path or create the file",
    ),
    Case(
        "properties file not UTF-8",
        ConfigError,
        lambda w: load_config(
            w.file("latin.properties", b"credentials_access_secret=\xe9" + w.password.encode())
        ),
        ("latin.properties",),
        "save it as UTF-8",
    ),
    Case(
        "bad unicode escape",
        ConfigError,
        lambda w: load_config(w.props(f"credentials_access_secret={w.password}\\u12\n")),
        ("bad.properties", "line 1"),
        "four hex digits",
    ),
    Case(
        "duration not a duration",
        ConfigError,
        lambda w: load_config(
            w.props(
                'cache_client_region_id=[{"regionId":"r"}]\ncredentials_type=ak\n'
                "credentials_access_key_id=LTAIx\ncredentials_access_secret="
                f"{w.password}\nrefresh_interval=soon\n"
            )
        ),
        ("refresh_interval",),
        "'6h'",
    ),
    Case(
        "DKMS info nested too deeply",
        ConfigError,
        lambda w: load_config(w.props(f"cache_client_dkms_config_info={DEEP}\n")),
        ("cache_client_dkms_config_info",),
        "nested too deeply",
    ),
    Case(
        "client key nested too deeply",
        ConfigError,
        lambda w: w.load_dkms(clientKeyFile=w.file("key.json", DEEP)),
        ("clientKeyFile", "key.json"),
        "nested too deeply",
    ),
    Case(
        "max_fetch_attempts of 5,000 digits",
        ConfigError,
        lambda w: load_config(_gateway_props(w, "max_fetch_attempts=" + "9" * 5000)),
        ("max_fetch_attempts",),
        "a whole number from 1 to 100",
    ),
    Case(
        "max_fetch_attempts too many",
        ConfigError,
        lambda w: load_config(_gateway_props(w, "max_fetch_attempts=101")),
        ("max_fetch_attempts",),
        "a whole number from 1 to 100",
    ),
    Case(
        "duration beyond its bound",
        ConfigError,
        lambda w: load_config(_gateway_props(w, "refresh_interval=" + "9" * 300)),
        ("refresh_interval",),
        "at most 365d",
    ),
    Case(
        "request_timeout beyond its bound",
        ConfigError,
        lambda w: load_config(_gateway_props(w, "request_timeout=2h")),
        ("request_timeout",),
        "at most 1h",
    ),
    Case(
        "cache_dir with a NUL character",
        ConfigError,
        lambda w: load_config(
            {
                "cache_client_region_id": '[{"regionId": "r"}]',
                "credentials_type": "ecs_ram_role",
                "credentials_role_name": "r",
                "cache_dir": "cache\0dir",
            },
            environ={"MANAGED_CREDENTIALS_CACHE_KEY": "k" * 32},
            base_dir=w.tmp,
        ),
        ("cache_dir",),
        "NUL character",
    ),
    Case(
        "unknown credentials type",
        ConfigError,
        lambda w: load_config(w.props('cache_client_region_id=[{"regionId":"r"}]\ncredentials_type=akk\n')),
        ("credentials_type", "bad.properties, line 2", "'akk'"),
        "use one of ak",
    ),
    Case(
        "credential secret missing",
        ConfigError,
        lambda w: load_config(
            w.props(
                'cache_client_region_id=[{"regionId":"r"}]\ncredentials_type=ak\n'
                "credentials_access_key_id=LTAIx\n"
            )
        ),
        ("credentials_access_secret",),
        "missing or empty",
    ),
    Case(
        "gateway without credentials",
        ConfigError,
        lambda w: load_config(w.props('cache_client_region_id=[{"regionId":"r"}]\n')),
        ("cache_client_region_id", "credentials_type"),
        "set credentials_type",
    ),
    Case(
        "nothing configured",
        ConfigError,
        lambda w: load_config(w.props("secret_names=a\n")),
        ("cache_client_dkms_config_info", "cache_client_region_id"),
        "set cache_client_dkms_config_info",
    ),
    Case(
        "DKMS client key content unusable",
        SecretFetchError,
        lambda w: DkmsSource(
            region_id="r", endpoint="127.0.0.1:1", client_key_content="{}", password=w.password
        ),
        ("127.0.0.1:1", "clientKeyFile"),
        "check clientKeyFile and its password",
    ),
    Case(
        "non-RAM secret",
        MalformedSecretError,
        lambda w: (w.cloud.create_generic_secret("db-password", w.password), w.fetch("db-password")),
        ("'db-password'", "Generic"),
        "name a managed RAM credential secret",
    ),
    Case(
        "RAM secret not JSON", MalformedSecretError, _garbage_secret, ("'broken'",), "SecretData is not JSON"
    ),
    Case("RAM secret without AccessKeyId", MalformedSecretError, _half_secret, ("'half'",), "AccessKeyId"),
    Case(
        "RAM secret nested too deeply", MalformedSecretError, _deep_secret, ("'deep'",), "nested too deeply"
    ),
    Case(
        "no such secret",
        SecretFetchError,
        lambda w: w.fetch("no-such"),
        ("'no-such'", "Forbidden.ResourceNotFound"),
        "check the secret name",
    ),
    Case(
        "client key revoked",
        SecretFetchError,
        lambda w: (w.cloud.dkms.revoke_client_key(w.cloud.client_key.key_id), w.fetch("app-key")),
        ("'app-key'", "Unauthorized"),
        "check clientKeyFile",
    ),
    Case(
        "DKMS garbage reply",
        SecretFetchError,
        lambda w: w.fetch("app-key", Fault("garbage")),
        ("'app-key'", "dkms"),
        "misbehaving",
    ),
    Case(
        "DKMS truncated reply",
        SecretFetchError,
        lambda w: w.fetch("app-key", Fault("truncate")),
        ("'app-key'", "dkms"),
        "check the endpoint",
    ),
    Case(
        "KMS garbage reply",
        SecretFetchError,
        lambda w: w.fetch("app-key", Fault("garbage"), "gateway"),
        ("'app-key'", "kms"),
        "not the expected JSON",
    ),
    Case(
        "KMS truncated reply",
        SecretFetchError,
        lambda w: w.fetch("app-key", Fault("truncate"), "gateway"),
        ("'app-key'", "kms"),
        "not the expected JSON",
    ),
]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler()
    yield sched
    sched.shutdown()


def _in_scheduler(
    scheduler: BackgroundScheduler, job_id: str, run: Callable[[], object]
) -> BaseException | None:
    """Run ``run`` as a job on the real scheduler and return what it raised (the job re-raises it)."""
    done = threading.Event()
    raised: list[BaseException] = []

    def job() -> None:
        try:
            run()
        except BaseException as exc:
            raised.append(exc)
            raise  # the scheduler must survive it
        finally:
            done.set()

    scheduler.schedule(job_id, time.time(), job)
    assert done.wait(WAIT)
    return raised[0] if raised else None


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gives_a_typed_helpful_secret_free_error_and_the_scheduler_runs_on(
    case: Case,
    local_aliyun: LocalAliyun,
    tmp_path: Path,
    make_provider: Callable[..., CredentialsProvider],
    scheduler: BackgroundScheduler,
) -> None:
    local_aliyun.create_ram_secret("app-key")
    password = Path(str(local_aliyun.client_key_password_file)).read_text()
    world = World(local_aliyun, tmp_path, password, make_provider)

    error = _in_scheduler(scheduler, f"bad-input/{case.name}", lambda: case.run(world))

    assert type(error) is case.error, repr(error)
    message = str(error)
    for name in case.names:
        assert name in message
    assert case.fix in message
    key = local_aliyun.current_key("app-key")
    for secret in (password, key.access_key_secret, world.key_json()["PrivateKeyData"]):
        assert secret not in message
    assert not secret_hygiene.registry.contains_secret(message)
    # ``from None``: no secret-bearing exception rides along in a traceback
    assert error.__cause__ is None
    context = error.__context__
    while context is not None and not error.__suppress_context__:
        assert not secret_hygiene.registry.contains_secret(f"{context!r} {context}")
        context = context.__context__
    probe = threading.Event()
    scheduler.schedule(f"probe/{case.name}", time.time(), probe.set)
    assert probe.wait(WAIT)  # the scheduler keeps running after the failure


# -- the background refresh chain survives every malformed reply --------------------------------------


def _set_secret_data(text: str) -> Callable[[LocalAliyun, Any], None]:
    def corrupt(cloud: LocalAliyun, secret: Any) -> None:
        secret.current.secret_data = text

    return corrupt


MALFORMED_REPLIES: dict[str, Callable[[LocalAliyun, Any], None]] = {
    "garbage body": lambda cloud, _: cloud.inject_fault("dkms", Fault("garbage"), count=1),
    "truncated body": lambda cloud, _: cloud.inject_fault("dkms", Fault("truncate"), count=1),
    "SecretData nested too deeply": _set_secret_data(DEEP),
    "SecretData null": _set_secret_data("null"),
    "SecretData []": _set_secret_data("[]"),
    "SecretData not JSON": _set_secret_data("AccessKeySecret=" + MARK),
}


@pytest.mark.parametrize("reply", sorted(MALFORMED_REPLIES))
def test_a_malformed_reply_never_ends_the_background_refresh_chain(
    local_aliyun_factory: Callable[..., LocalAliyun],
    make_provider: Callable[..., CredentialsProvider],
    reply: str,
) -> None:
    from common_plugin import ManualClock
    from common_plugin.scheduler import ManualScheduler

    clock = ManualClock()
    cloud = local_aliyun_factory(clock=clock)
    secret = cloud.create_ram_secret("app-key")
    sched = ManualScheduler()
    provider = make_provider(cloud, scheduler=sched, clock=clock, max_fetch_attempts="1")
    first = provider.get("app-key")
    (job_id, due), *_ = sched.jobs().items()
    MALFORMED_REPLIES[reply](cloud, secret)
    clock.set(due)
    assert sched.run_due(clock.time()) == 1
    assert cloud.count("dkms", "GetSecretValue") == 2  # the refresh did run, and failed
    assert provider.get("app-key") is first  # the good key is still served
    retry_at = sched.next_run_at(job_id)
    assert retry_at is not None and retry_at > clock.time()  # and the chain goes on
    cloud.rotate("app-key", grace_seconds=3600)  # a well-formed version again
    clock.set(retry_at)
    sched.run_due(clock.time())
    assert provider.get("app-key").access_key_id == cloud.current_key("app-key").access_key_id
    assert sched.next_run_at(job_id) is not None
