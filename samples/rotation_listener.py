"""Sample: be told when a managed key rotates (``add_listener``) and feed metrics (``add_event_listener``).

A key listener runs after each new key is installed: on the first fetch (``old`` is None) and on
every rotation picked up. An event listener sees every fetch, failure, rejection and retry, with
the AccessKeyId masked; send them to your metrics system. Both run on the thread that fetched,
possibly the background refresh thread: keep them quick and thread-safe.

Run against the local emulator: ``.venv/bin/python samples/rotation_listener.py``.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable

from common_plugin import CredentialEvent, ManagedCredential, load_config, provider_from_config

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None,
    secret_name: str = SECRET_NAME,
    rotate: Callable[[], object] | None = None,
) -> tuple[list[tuple[str | None, str]], Counter[str]]:
    """Fetch, let ``rotate`` (for the demo) rotate the secret, refresh; returns the key changes seen
    (masked ids) and the events counted by kind."""
    changes: list[tuple[str | None, str]] = []
    events: Counter[str] = Counter()
    lock = threading.Lock()

    def on_new_key(name: str, old: ManagedCredential | None, new: ManagedCredential) -> None:
        old_id = old.masked_access_key_id if old is not None else None
        print(f"{name}: {old_id or '(first fetch)'} -> {new.masked_access_key_id} (version {new.version_id})")
        changes.append((old_id, new.masked_access_key_id))

    def count_event(event: CredentialEvent) -> None:
        with lock:  # e.g. statsd.increment(f"managed_credentials.{event.kind.value}")
            events[event.kind.value] += 1

    # preload=False: subscribe first, so the listeners see the first fetch too
    with provider_from_config(load_config(properties), preload=False) as provider:
        provider.add_listener(on_new_key, secret_name=secret_name)
        provider.add_event_listener(count_event)
        provider.get(secret_name)
        if rotate is not None:
            rotate()
        provider.refresh(secret_name)  # the background refresh does this ahead of rotation; forced here
        status = provider.status().secrets[secret_name]
        print(f"status: {status.masked_access_key_id}, version {status.version_id}, stale {status.stale}")
    print(f"events: {dict(events)}")
    return changes, events


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        properties = cloud.write_properties(secret_names=[SECRET_NAME])
        main(properties, rotate=lambda: cloud.rotate(SECRET_NAME, grace_seconds=300))  # old key valid 5 min
