"""``python -m common_plugin``: the ``managed-credentials`` command line."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
