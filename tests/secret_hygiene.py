"""A session-wide guard: fail the run if a secret the emulator issued shows up in test output.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = ["secret_hygiene"]``.

What counts as a secret: every value the emulator *issues* during the session, registered as it is
made: AccessKeySecrets and STS SecurityTokens (``CloudState.create_access_key``, which RAM secrets,
rotations and ``AssumeRole`` all go through, and ``CloudState.reissue``), DKMS client-key
passwords and their PKCS#12 private keys (``DkmsService.issue_client_key``, which
``LocalAliyun.issue_client_key`` and its password file go through), and the TLS server's private
key PEM (``certs.generate_bundle``). Values shorter than :data:`MIN_SECRET_LENGTH` are not
registered (a test's ``password="pw"`` would match everywhere). A long value (a private key) is
searched for by a slice from its middle, so that a leak of most of it (a truncated body) is caught
too.

Where we look:

* every log record at any level, from every logger (the root logger and the SDKs' loggers, which are
  set to DEBUG for the session; a logger that does not propagate gets our handler directly), with its
  formatted traceback;
* the message of every exception of our root (``ManagedCredentialsError``) and of the SDKs'
  ``ClientException``/``ServerException``/``TeaException``, captured when the exception is built,
  so that exceptions a test catches with ``pytest.raises`` are checked too;
* each test report: the failure text (``longrepr``), captured stdout and stderr (skipped for tests
  marked ``@pytest.mark.prints_secrets``, whose output holds a secret by design, e.g. the CLI's
  ``get``), and recorded warnings;
* ``repr()`` cannot be hooked globally (there is no hook on ``object.__repr__`` of other
  classes); tests that want a repr checked call :func:`observe` with it, as
  ``tests/test_secret_hygiene.py`` does for every object the library creates.

At session end, if any registered secret occurs in any collected text, the run fails (exit status 1)
and the terminal names the secret's *kind* and where it appeared, never the secret.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["MIN_SECRET_LENGTH", "Leak", "SecretRegistry", "observe", "register_secret", "registry"]

MIN_SECRET_LENGTH = 12
_FRAGMENT = 40  # a long secret is searched for by this many characters from its middle
_MARKER = "prints_secrets"


@dataclass(frozen=True)
class Leak:
    """A registered secret found in collected text. Holds no secret."""

    kind: str
    where: str
    source: str  # "log", "exception", "stdout", "stderr", "longrepr", "warning", "repr"


class SecretRegistry:
    """Secrets issued in this session and every text collected to check against them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: dict[str, str] = {}  # search text -> kind
        self._texts: list[tuple[str, str, str]] = []  # (where, source, text)
        self.where = "<outside any test>"

    # -- registering ---------------------------------------------------------------------------
    def register(self, kind: str, value: object) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        needle = value
        if len(value) > 2 * _FRAGMENT:
            middle = len(value) // 2
            needle = value[middle - _FRAGMENT // 2 : middle + _FRAGMENT // 2]
        with self._lock:
            self._needles.setdefault(needle, kind)

    def secret_count(self) -> int:
        with self._lock:
            return len(self._needles)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for kind in self._needles.values():
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    # -- collecting ----------------------------------------------------------------------------
    def observe(self, source: str, text: str, where: str | None = None) -> None:
        if text:
            with self._lock:
                self._texts.append((where or self.where, source, text))

    def text_count(self) -> int:
        with self._lock:
            return len(self._texts)

    # -- checking ------------------------------------------------------------------------------
    def leaks(self, texts: Iterable[tuple[str, str, str]] | None = None) -> list[Leak]:
        """Every (kind, where, source) at which a registered secret occurs; deduplicated."""
        with self._lock:
            needles = dict(self._needles)
            collected = list(self._texts) if texts is None else list(texts)
        if not needles:
            return []
        # A trie-shaped regex finds any of thousands of needles in one pass over each text.
        pattern = _trie_regex(needles)
        found: dict[Leak, None] = {}
        for where, source, text in collected:
            for match in pattern.finditer(text):
                found[Leak(needles[match.group(0)], where, source)] = None
        return list(found)

    def contains_secret(self, text: str) -> bool:
        return bool(self.leaks([("", "", text)]))


def _trie_regex(needles: Iterable[str]) -> Any:
    import re

    trie: dict[str, Any] = {}
    for needle in needles:
        node = trie
        for char in needle:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(build(trie))


registry = SecretRegistry()


def register_secret(kind: str, value: object) -> None:
    """Register a secret by hand (for tests that make their own)."""
    registry.register(kind, value)


def observe(text: str, source: str = "repr") -> None:
    """Submit a text (e.g. a ``repr``) produced in the current test to the session check."""
    registry.observe(source, text)


# -- registration hooks on the emulator ----------------------------------------------------------


def _wrap(owner: Any, name: str, after: Callable[[tuple[Any, ...], dict[str, Any], Any], None]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        after(args, kwargs, result)
        return result

    setattr(owner, name, wrapper)


def _install_registration() -> None:
    from common_plugin.testing import certs
    from common_plugin.testing.dkms import DkmsService
    from common_plugin.testing.state import CloudState

    def access_key(_args: tuple[Any, ...], _kwargs: dict[str, Any], key: Any) -> None:
        registry.register("AccessKeySecret", key.access_key_secret)
        registry.register("STS SecurityToken", key.security_token)

    def reissued(args: tuple[Any, ...], _kwargs: dict[str, Any], version: Any) -> None:
        key = args[0].lookup_key(version.access_key_id)
        if key is not None:
            access_key((), {}, key)

    def client_key(args: tuple[Any, ...], kwargs: dict[str, Any], key: Any) -> None:
        password = kwargs.get("password", args[1] if len(args) > 1 else None)
        registry.register("client-key password", password)
        registry.register("client-key private key (PKCS#12)", key.private_key_data)

    def bundle(_args: tuple[Any, ...], _kwargs: dict[str, Any], result: Any) -> None:
        registry.register("TLS private key (PEM)", result.key_pem.decode("ascii", "replace"))

    _wrap(CloudState, "create_access_key", access_key)
    _wrap(CloudState, "reissue", reissued)
    _wrap(DkmsService, "issue_client_key", client_key)
    _wrap(certs, "generate_bundle", bundle)
    if certs._bundle is not None:  # made before this plugin loaded
        bundle((), {}, certs._bundle)


def _install_exception_capture() -> None:
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from Tea.exceptions import TeaException

    from common_plugin.exceptions import ManagedCredentialsError

    for cls in (ManagedCredentialsError, ClientException, ServerException, TeaException):
        original = cls.__init__

        def init(self: BaseException, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            try:
                text = str(self)
            except Exception:  # noqa: BLE001 - a half-built exception; its args still count
                text = repr(args)
            registry.observe("exception", f"{type(self).__name__}: {text}")

        cls.__init__ = init  # type: ignore[method-assign]


# -- log capture ---------------------------------------------------------------------------------


class _CollectingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.name}: {record.getMessage()}"
        except Exception:  # noqa: BLE001 - a bad format string must not break the test run
            text = f"{record.name}: {record.msg!r} % {record.args!r}"
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        registry.observe("log", text)


_SDK_LOGGERS = (
    "aliyunsdkcore",
    "aliyunsdkcore.client",
    "aliyunsdkcore.http.http_response",
    "alibabacloud-tea",
    "oss2",
    "apscheduler",
    "urllib3",
    "common_plugin",
    "sdk_core_plugin",
    "oss_plugin",
)

_handler = _CollectingHandler()
_saved_levels: dict[str, int] = {}


def _install_logging() -> None:
    root = logging.getLogger()
    _saved_levels[""] = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(_handler)
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        _saved_levels[name] = logger.level
        logger.setLevel(logging.DEBUG)
    _cover_non_propagating()


def _cover_non_propagating() -> None:
    """Loggers that do not propagate to the root get our handler directly (idempotent)."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate and _handler not in logger.handlers:
            logger.addHandler(_handler)


def _uninstall_logging() -> None:
    logging.getLogger().removeHandler(_handler)
    for name, level in _saved_levels.items():
        logging.getLogger(name or None).setLevel(level)


# -- pytest hooks --------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{_MARKER}: the test's captured stdout/stderr holds a secret by design; not checked"
    )
    if getattr(config, "workerinput", None) is None and not hasattr(config, "_secret_hygiene"):
        config._secret_hygiene = True  # type: ignore[attr-defined]
        _install_registration()
        _install_exception_capture()
        _install_logging()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    registry.where = item.nodeid
    _cover_non_propagating()  # SDK modules imported by this test's module
    try:
        return (yield)
    finally:
        registry.where = f"<after {item.nodeid}>"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    where = f"{item.nodeid} ({report.when})"
    if report.longrepr is not None:
        registry.observe("longrepr", report.longreprtext, where)
    if item.get_closest_marker(_MARKER) is None:
        for stream in ("stdout", "stderr"):
            for title, content in report.sections:  # later phases repeat earlier sections
                if title == f"Captured {stream} {report.when}":
                    registry.observe(stream, content, where)
    return report


def pytest_warning_recorded(warning_message: warnings.WarningMessage, when: str, nodeid: str) -> None:
    registry.observe("warning", str(warning_message.message), nodeid or when)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not getattr(session.config, "_secret_hygiene", False):
        return
    leaks = registry.leaks()
    session.config._secret_hygiene_leaks = leaks  # type: ignore[attr-defined]
    if leaks and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _uninstall_logging()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not getattr(config, "_secret_hygiene", False):
        return
    leaks: list[Leak] = getattr(config, "_secret_hygiene_leaks", [])
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(registry.kinds().items())) or "none"
    if not leaks:
        terminalreporter.write_line(
            f"secret hygiene: 0 leaks ({kinds} issued; {registry.text_count()} texts checked)"
        )
        return
    terminalreporter.section("secret hygiene: LEAKS", sep="=", red=True, bold=True)
    for leak in leaks:
        terminalreporter.write_line(f"{leak.kind} appeared in {leak.source} of {leak.where}", red=True)
    terminalreporter.write_line(f"{len(leaks)} leak(s); {kinds} issued", red=True)
