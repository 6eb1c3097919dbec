"""The ``managed-credentials serve`` command: :class:`~common_plugin.adapters.endpoint.CredentialsServer`
for the secrets named on the command line, behind a token, until Ctrl-C or ``stop``.

The token comes from ``$MANAGED_CREDENTIALS_SERVE_TOKEN``, from ``--token-file`` (created 0600 with a
random token when missing; an existing one must be a regular file that group and others can neither
read nor write), or is random; the full URI is written to ``--uri-file`` (0600) only, never printed.
Every option is checked before the configuration is loaded or a secret fetched; a bad one is a
:class:`~common_plugin.exceptions.ConfigError` (exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import secrets
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..adapters.endpoint import MAX_AGE_LIMIT_SECONDS, TOKEN_ENV, CredentialsServer, check_server_options
from ..exceptions import ConfigError

__all__ = ["add_serve_command", "run_serve"]


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _token_for(args: argparse.Namespace) -> tuple[str, str]:
    """The token and where it came from (for messages; never the token itself)."""
    env = os.environ.get(TOKEN_ENV)
    if env:
        return env, f"environment variable {TOKEN_ENV}"
    if args.token_file:
        path = Path(args.token_file)
        token = _read_token_file(path)
        if token is None:
            token = secrets.token_urlsafe(32)
            _write_private(path, token + "\n")
        return token, f"--token-file {path}"
    return secrets.token_urlsafe(32), "the generated token"


def _read_token_file(path: Path) -> str | None:
    """The token in ``path``, ``None`` when there is no such file.

    Raises:
        ConfigError: the file is not a regular file, is readable or writable by group or others,
            or cannot be read as UTF-8 text.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"--token-file {path}: cannot open it ({exc.strerror}); name a regular file (not a "
            "symbolic link) holding only the token",
            path=str(path),
        ) from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ConfigError(
                f"--token-file {path} is not a regular file; name a file holding only the token",
                path=str(path),
            )
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"--token-file {path} is readable or writable by group or others (mode {mode:o}); "
                f"`chmod 600 {path}` and replace the token, which others may have read",
                path=str(path),
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"--token-file {path} is not UTF-8 text", path=str(path)) from None


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``managed-credentials`` sub-commands (``parser.add_subparsers()``)."""
    serve = subparsers.add_parser(
        "serve",
        help="serve managed credentials to local processes (ALIBABA_CLOUD_CREDENTIALS_URI)",
        description="Serve the named secrets on 127.0.0.1 (or a unix socket) in the "
        "ALIBABA_CLOUD_CREDENTIALS_URI format, behind a token, until Ctrl-C. The full URI (token "
        "included) is written to --uri-file only, never printed.",
    )
    serve.add_argument(
        "--config", metavar="FILE", help="the properties file (default: the ConfigLoader name)"
    )
    serve.add_argument(
        "--secret", action="append", default=[], metavar="NAME", required=True, help="a secret to serve"
    )
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1 or ::1)")
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument("--unix-socket", metavar="PATH", help="listen on this unix socket instead of TCP")
    serve.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the token from FILE, or create it (0600) with a random one; ${TOKEN_ENV} wins",
    )
    serve.add_argument("--uri-file", metavar="FILE", help="write ALIBABA_CLOUD_CREDENTIALS_URI here (0600)")
    serve.add_argument(
        "--max-age-seconds",
        type=float,
        default=60.0,
        help=f"how often SDKs re-read, from 1 to {MAX_AGE_LIMIT_SECONDS:g} (default 60)",
    )
    serve.set_defaults(run=run_serve)
    parser: argparse.ArgumentParser = serve
    return parser


def run_serve(
    args: argparse.Namespace,
    stop: threading.Event | None = None,
    ready: Callable[[CredentialsServer], None] | None = None,
) -> int:
    """Run ``serve`` until ``stop`` is set (default: until Ctrl-C); ``ready(server)`` once listening."""
    from ..bootstrap import provider_from_config
    from ..config.config_loader import ConfigLoader
    from ..config.loading import load_config

    # every option first: a typo must not cost a fetch, nor leave a token file behind
    check_server_options(host=args.host, unix_socket=args.unix_socket, max_age_seconds=args.max_age_seconds)
    token, token_source = _token_for(args)
    check_server_options(token=token, token_source=token_source)
    config = load_config(args.config) if args.config else ConfigLoader.load()
    stop = stop or threading.Event()
    with provider_from_config(config, preload=False) as provider:
        provider.preload(args.secret)
        server = CredentialsServer(
            provider,
            args.secret,
            token=token,
            host=args.host,
            port=args.port,
            unix_socket=args.unix_socket,
            max_age_seconds=args.max_age_seconds,
        )
        with server:
            if args.unix_socket:
                print(f"serving on unix socket {args.unix_socket}", file=sys.stderr)
            else:
                print(f"serving on {server.base_url}/<token>/credentials", file=sys.stderr)
                if args.uri_file:
                    _write_private(Path(args.uri_file), server.credentials_uri() + "\n")
                    print(f"ALIBABA_CLOUD_CREDENTIALS_URI written to {args.uri_file}", file=sys.stderr)
            if ready is not None:
                ready(server)
            try:
                while not stop.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
    return 0
