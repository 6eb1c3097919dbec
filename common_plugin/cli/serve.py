"""The ``managed-credentials serve`` command: :class:`~common_plugin.adapters.endpoint.CredentialsServer`
for the secrets named on the command line, behind a token, until Ctrl-C or ``stop``.

The token comes from ``$MANAGED_CREDENTIALS_SERVE_TOKEN``, from ``--token-file`` (created 0600 with a
random token when missing), or is random; the full URI is written to ``--uri-file`` (0600) only,
never printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..adapters.endpoint import TOKEN_ENV, CredentialsServer

__all__ = ["add_serve_command", "run_serve"]


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _token_for(args: argparse.Namespace) -> str:
    env = os.environ.get(TOKEN_ENV)
    if env:
        return env
    if args.token_file:
        path = Path(args.token_file)
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        token = secrets.token_urlsafe(32)
        _write_private(path, token + "\n")
        return token
    return secrets.token_urlsafe(32)


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
        "--max-age-seconds", type=float, default=60.0, help="how often SDKs re-read (default 60)"
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

    config = load_config(args.config) if args.config else ConfigLoader.load()
    stop = stop or threading.Event()
    with provider_from_config(config, preload=False) as provider:
        provider.preload(args.secret)
        server = CredentialsServer(
            provider,
            args.secret,
            token=_token_for(args),
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
