"""Shared helpers for the benchmark scripts: timing, tables, the emulator, the python3.10 venv.

Every script prints GitHub-flavoured markdown tables on stdout (``run_all.py`` collects them into
``benchmarks/RESULTS.md``) and progress notes on stderr. Nothing here prints a secret: key ids, if
shown at all, go through :func:`common_plugin.masking.mask_access_key_id`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _stats import gc_paused, median, percentile, time_statement  # noqa: F401 - re-exported for the scripts

from common_plugin.testing.environment import AMBIENT_VARIABLES, clear_ambient_environment

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
ORIGINAL_VENV = ROOT / ".venv-bench-original"
ORIGINAL_PACKAGES = (
    "aliyun-openapi-python-sdk-managed-credentials-provider==0.1.4",
    "aliyun-sdk-common-managed-credentials-provider==0.1.4",
)


def clean_environment() -> None:
    """Drop proxies and ambient cloud keys from this process's environment (and its children's)."""
    clear_ambient_environment()


def note(message: str) -> None:
    """A progress line on stderr (stdout is reserved for the result tables)."""
    print(message, file=sys.stderr, flush=True)


# ---- tables ---------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "info"
    return "PASS" if ok else "MISS"


def table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()
) -> str:
    """A markdown table with a ``###`` title and optional bullet notes under it."""
    cells = [[str(c) for c in row] for row in rows]
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def emit(text: str) -> None:
    print(text, flush=True)


SUMMARY_PREFIX = "SUMMARY\t"
"""Marks a line of a script's stdout as one row of the summary table (README and RESULTS.md)."""


def summary(benchmark: str, ours: str, baseline: str, target: str, status: str) -> None:
    """Print one row of the summary table; ``run_all.py`` collects these lines from stdout."""
    cells = (benchmark, ours, baseline, target, status)
    print(SUMMARY_PREFIX + "\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells), flush=True)


def fmt_ns(ns: float) -> str:
    """Nanoseconds as µs with sensible precision."""
    us = ns / 1000.0
    return f"{us:.3f} µs" if us < 1 else f"{us:.2f} µs"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ---- the emulator ---------------------------------------------------------------------------------


@contextlib.contextmanager
def local_cloud(**kwargs: Any) -> Iterator[Any]:
    """A started ``LocalAliyun`` whose listeners accept a deep connection backlog.

    The listeners keep socketserver's default backlog of 5; with 64 client threads opening
    connections at once the kernel would reset the overflow (see tests/test_oss_plugin.py).
    """
    from common_plugin.testing import server as server_module
    from common_plugin.testing.emulator import LocalAliyun

    previous = getattr(server_module._Server, "request_queue_size", 5)
    server_module._Server.request_queue_size = 256
    try:
        with LocalAliyun(**kwargs) as cloud:
            yield cloud
    finally:
        server_module._Server.request_queue_size = previous


def provider_for(cloud: Any, workdir: Path, *, mode: str = "dkms", scheduler: Any = None) -> Any:
    """A provider built the way the wrappers build theirs: properties file → config → sources.

    Uses a ``ManualScheduler`` unless ``scheduler`` is given, so no refresh runs behind our back.
    """
    from common_plugin.bootstrap import provider_from_config
    from common_plugin.config import load_config
    from common_plugin.scheduler import ManualScheduler

    path = cloud.write_properties(workdir / f"{mode}.properties", mode=mode)
    return provider_from_config(load_config(path), scheduler=scheduler or ManualScheduler(), preload=False)


# ---- the original suite (needs Python 3.10) -------------------------------------------------------


def find_python310() -> str | None:
    """A working python3.10 interpreter, or ``None``.

    Order: ``$BENCH_PYTHON310``, ``python3.10`` on PATH, then pyenv's versions directory (a pyenv
    shim on PATH may exist without 3.10 being selected, so each candidate is actually run).
    ``BENCH_PYTHON310=none`` behaves as a machine without 3.10 (what a fresh machine sees).
    """
    if os.environ.get("BENCH_PYTHON310") == "none":
        return None
    candidates = [os.environ.get("BENCH_PYTHON310"), shutil.which("python3.10")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.10*", "bin", "python3.10")))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, our own interpreters
                [candidate, "-c", "import sys; raise SystemExit(sys.version_info[:2] != (3, 10))"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return candidate
    return None


def original_python() -> tuple[str | None, str]:
    """The python of ``.venv-bench-original`` (built on first use), or ``(None, reason)``."""
    venv_python = ORIGINAL_VENV / "bin" / "python"
    stamp = ORIGINAL_VENV / ".installed-stamp"
    if os.environ.get("BENCH_PYTHON310") == "none":
        return None, "skipped: python3.10 not found"
    if venv_python.exists() and stamp.exists():
        return str(venv_python), "ok"
    python310 = find_python310()
    if python310 is None:
        return None, "skipped: python3.10 not found"
    note(f"building {ORIGINAL_VENV.name} with {python310} (original suite 0.1.4, about 30 s) ...")
    try:
        subprocess.run([python310, "-m", "venv", str(ORIGINAL_VENV)], check=True, capture_output=True)  # noqa: S603 - fixed argv, our own interpreters
        subprocess.run(  # noqa: S603 - fixed argv, our own interpreters
            [
                str(venv_python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *ORIGINAL_PACKAGES,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        tail = detail.decode(errors="replace").strip().splitlines()[-1:] if detail else [str(exc)]
        return None, f"skipped: could not install the original suite on 3.10 ({' '.join(tail)})"
    stamp.touch()
    return str(venv_python), "ok"


def run_original_driver(
    mode: str, workdir: Path, args: Sequence[str], timeout: float = 240
) -> dict[str, Any]:
    """Run ``_original_driver.py MODE ARGS...`` under the 3.10 venv in ``workdir``; its JSON answer.

    Returns ``{"skipped": reason}`` when the venv cannot be had or the driver fails.
    """
    import json

    python, reason = original_python()
    if python is None:
        return {"skipped": reason}
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT_VARIABLES}
    env["HOME"] = str(workdir)  # the original suite writes ~/secretsmanager/*.log; keep it in the workdir
    env.pop("PYTHONPATH", None)
    done = subprocess.run(  # noqa: S603 - fixed argv, our own interpreters
        [python, str(BENCH_DIR / "_original_driver.py"), mode, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        return {"skipped": f"the original suite failed on 3.10: {tail or 'no output'}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def python_label() -> str:
    return f"CPython {sys.version.split()[0]}"


def callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def write_original_properties(
    workdir: Path, *, region_id: str, kms_endpoint: str, key: tuple[str, str]
) -> Path:
    """The original suite's ``managed_credentials_providers.properties`` for the emulator.

    KMS shared-gateway mode with an AccessKey (the original reaches the gateway with TLS
    verification off, so the emulator's private CA needs no configuration). ``key`` is the
    emulator's throw-away gateway key; the file is written 0600 in a private work directory.
    """
    import json

    region = [{"regionId": region_id, "endpoint": kms_endpoint}]
    text = "\n".join(
        [
            "credentials_type=ak",
            f"credentials_access_key_id={key[0]}",
            f"credentials_access_secret={key[1]}",
            "cache_client_region_id=" + json.dumps(region, separators=(",", ":")),
            "",
        ]
    )
    path = workdir / "managed_credentials_providers.properties"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


# ---- the emulator in its own process --------------------------------------------------------------


def _serve_cloud(conn: Any) -> None:
    """Child process: run a LocalAliyun and answer ``(command, *args)`` messages until ``stop``."""
    clean_environment()
    with local_cloud() as cloud:
        info = {
            "region_id": cloud.region_id,
            "rpc_endpoint": cloud.rpc_endpoint,
            "oss_endpoint": cloud.oss_endpoint,
            "kms_endpoint": cloud.kms_endpoint,
            "admin_url": cloud.admin_url,
            "admin_token": cloud.admin_token,
        }
        conn.send(info)
        while True:
            command, *args = conn.recv()
            try:
                if command == "stop":
                    conn.send(None)
                    return
                if command == "create_secret":
                    cloud.create_ram_secret(args[0], **(args[1] if len(args) > 1 else {}))
                    answer: Any = None
                elif command == "create_bucket":
                    cloud.create_bucket(args[0])
                    answer = None
                elif command == "current_key":
                    key = cloud.current_key(args[0])
                    answer = (key.access_key_id, key.access_key_secret)
                elif command == "properties":
                    answer = cloud.properties_text(mode=args[0])
                elif command == "gateway_key":
                    key = cloud.gateway_access_key
                    answer = (key.access_key_id, key.access_key_secret)
                elif command == "rotate":
                    cloud.rotate(args[0], grace_seconds=0)
                    answer = None
                elif command == "count":
                    answer = cloud.count(*args)
                else:
                    raise ValueError(f"unknown command {command!r}")
                conn.send(("ok", answer))
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteCloud:
    """A ``LocalAliyun`` in a child process, so the SDK under test does not share a GIL with it.

    Commands go over a pipe and must come from one thread at a time.
    """

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_cloud, args=(child,), daemon=True)
        self._process.start()
        self.info: dict[str, Any] = self._conn.recv()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["info"][name]
        except KeyError:
            raise AttributeError(name) from None

    def _ask(self, *message: Any) -> Any:
        self._conn.send(message)
        status, answer = self._conn.recv()
        if status != "ok":
            raise RuntimeError(answer)
        return answer

    def create_ram_secret(self, name: str, **kwargs: Any) -> None:
        self._ask("create_secret", name, kwargs)

    def create_bucket(self, name: str) -> None:
        self._ask("create_bucket", name)

    def current_key(self, name: str) -> tuple[str, str]:
        return tuple(self._ask("current_key", name))  # type: ignore[return-value]

    def gateway_key(self) -> tuple[str, str]:
        return tuple(self._ask("gateway_key"))  # type: ignore[return-value]

    def rotate(self, name: str) -> None:
        self._ask("rotate", name)

    def count(self, service: str, action: str | None = None, access_key_id: str | None = None) -> int:
        return int(self._ask("count", service, action, access_key_id))

    def write_properties(self, workdir: Path, *, mode: str = "dkms") -> Path:
        """Write this cloud's properties file (0600) into ``workdir``; its path."""
        path = workdir / f"{mode}.properties"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._ask("properties", mode))
        return path

    def provider(self, workdir: Path, *, mode: str = "dkms", scheduler: Any = None) -> Any:
        """A provider built from this cloud's properties through the real config loader and sources."""
        from common_plugin.bootstrap import provider_from_config
        from common_plugin.config import load_config
        from common_plugin.scheduler import ManualScheduler

        config = load_config(self.write_properties(workdir, mode=mode))
        return provider_from_config(config, scheduler=scheduler or ManualScheduler(), preload=False)

    def close(self) -> None:
        if self._process.is_alive():
            self._conn.send(("stop",))
            self._conn.recv()
        self._process.join(timeout=10)

    def __enter__(self) -> RemoteCloud:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
