"""A session-wide guard: fail the run if a secret the emulator issued shows up in test output.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = ["secret_hygiene"]``.

What counts as a secret: every value the emulator *issues* during the session, registered as it is
made: AccessKeySecrets and STS SecurityTokens (``CloudState.create_access_key``, which RAM secrets,
rotations and ``AssumeRole`` all go through, and ``CloudState.reissue``), DKMS client-key
passwords and their PKCS#12 private keys (``DkmsService.issue_client_key``, which
``LocalAliyun.issue_client_key`` and its password file go through), and the TLS server's private
key PEM (``certs.generate_bundle``). Values shorter than
:data:`MIN_SECRET_LENGTH` are not registered (a test's ``password="pw"`` would match everywhere).
A long value (a private key) is searched for by a slice from its middle, so that a leak of most of
it (a truncated body) is caught too. Each value is also searched for URL-encoded once and twice
(``/`` kept or encoded), the forms a token takes in a query string and in an RPC string to sign;
and every base64 run in a collected text is decoded and searched too (oss2's ``x-oss-err`` header
is the error body in base64).

Where we look:

* every log record at any level, from every logger (the root logger and the SDKs' loggers, which are
  set to DEBUG for the session; a logger that does not propagate gets our handler directly), with its
  formatted traceback;
* the message, ``args`` and attributes of every exception of our root (``ManagedCredentialsError``)
  and of the SDKs' (aliyunsdkcore's ``ClientException``/``ServerException``, ``TeaException``,
  oss2's ``OssError``, alibabacloud-oss-v2's ``BaseError``), recorded when the exception is built
  and read when its test ends, so that exceptions a test catches with ``pytest.raises`` are checked
  too, in the state a caller sees: after our wrappers redacted what the SDK put in them;
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

import base64
import binascii
import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

__all__ = ["MIN_SECRET_LENGTH", "Leak", "SecretRegistry", "observe", "register_secret", "registry"]

MIN_SECRET_LENGTH = 12
_FRAGMENT = 40  # a long secret is searched for by this many characters from its middle
_MARKER = "prints_secrets"
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


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
        self._secrets: dict[str, str] = {}  # secret value's needle -> kind (for the counts)
        self._needles: dict[str, str] = {}  # search text (the value and its encodings) -> kind
        self._texts: list[tuple[str, str, str]] = []  # (where, source, text)
        self.where = "<outside any test>"

    # -- registering ---------------------------------------------------------------------------
    def register(self, kind: str, value: object) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._secrets.setdefault(_needle(value), kind)
            for form in _encoded_forms(value):
                self._needles.setdefault(_needle(form), kind)

    def secret_count(self) -> int:
        with self._lock:
            return len(self._secrets)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for kind in self._secrets.values():
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
            for searched in (text, *_decoded_base64_runs(text)):
                for match in pattern.finditer(searched):
                    found[Leak(needles[match.group(0)], where, source)] = None
        return list(found)

    def contains_secret(self, text: str) -> bool:
        return bool(self.leaks([("", "", text)]))


def _needle(value: str) -> str:
    """What to search for: the value, or a slice from the middle of a long one."""
    if len(value) <= 2 * _FRAGMENT:
        return value
    middle = len(value) // 2
    return value[middle - _FRAGMENT // 2 : middle + _FRAGMENT // 2]


def _encoded_forms(value: str) -> set[str]:
    """``value`` and its URL encodings, once and twice, with ``/`` encoded (the SDKs' RFC 3986
    encoding) or kept (``urllib.parse.quote``'s default)."""
    forms = {value}
    for safe in ("", "/"):
        once = quote(value, safe=safe)
        forms.update((once, quote(once, safe=safe)))
    return forms


def _decoded_base64_runs(text: str) -> list[str]:
    """The text of every base64 run in ``text`` that decodes (an ``x-oss-err`` header, a body)."""
    decoded = []
    for match in _BASE64_RUN.finditer(text):
        run = match.group(0)
        run = run[: len(run) - len(run) % 4]
        try:
            decoded.append(base64.b64decode(run, validate=True).decode("latin-1"))
        except (binascii.Error, ValueError):
            continue
    return decoded


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


_pending_exceptions: list[BaseException] = []  # built during the current test, read when it ends
_pending_ids: set[int] = set()
_pending_lock = threading.Lock()
_MAX_EXCEPTION_TEXT = 1_000_000


def _exception_text(error: BaseException) -> str:
    """What a caller can read from ``error``: its message, ``args`` and attributes."""
    parts = [type(error).__name__]
    for part in (lambda: str(error), lambda: repr(error.args), lambda: repr(vars(error))):
        try:
            parts.append(part())
        except Exception as exc:  # noqa: BLE001 - a half-built exception or an odd attribute
            parts.append(f"<unreadable: {type(exc).__name__}>")  # the other parts still count
    return ": ".join(parts)[:_MAX_EXCEPTION_TEXT]


def _flush_exceptions(where: str) -> None:
    with _pending_lock:
        pending = list(_pending_exceptions)
        _pending_exceptions.clear()
        _pending_ids.clear()
    for error in pending:
        registry.observe("exception", _exception_text(error), where)


def _install_exception_capture() -> None:
    from alibabacloud_oss_v2.exceptions import BaseError as OssV2Error
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from oss2.exceptions import OssError

    from common_plugin.exceptions import ManagedCredentialsError

    classes: list[type[BaseException]] = [
        ManagedCredentialsError,
        ClientException,
        ServerException,
        OssError,
        OssV2Error,
    ]
    try:  # the Tea runtime comes with the Tea (V2) SDK extra, not with the library
        from Tea.exceptions import TeaException
    except ImportError:
        pass
    else:
        classes.append(TeaException)
    for cls in classes:
        original = cls.__init__

        def init(self: BaseException, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            with _pending_lock:
                if id(self) not in _pending_ids:  # a subclass may run two hooked __init__s
                    _pending_ids.add(id(self))
                    _pending_exceptions.append(self)

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
    _flush_exceptions(registry.where)  # built between tests (e.g. by a fixture of a module)
    registry.where = item.nodeid
    _cover_non_propagating()  # SDK modules imported by this test's module
    try:
        return (yield)
    finally:
        _flush_exceptions(item.nodeid)  # after teardown: as the test and our wrappers left them
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
    _flush_exceptions(registry.where)
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
