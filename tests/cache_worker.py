"""A worker process for the shared-cache test: one provider per process, all on one cache folder."""

from __future__ import annotations

from typing import Any


def run(properties: str, secret: str, queue: Any, go: Any) -> None:
    from common_plugin.bootstrap import provider_from_config
    from common_plugin.config import load_config
    from common_plugin.scheduler import ManualScheduler

    with provider_from_config(
        load_config(properties), scheduler=ManualScheduler(), preload=False
    ) as provider:
        first = provider.get(secret)
        queue.put(("first", first.access_key_id))
        if not go.wait(60):
            queue.put(("error", "timed out waiting for the rotation"))
            return
        fresh = provider.refresh_rejected(secret, first)
        status = provider.status().counters
        queue.put(("after", fresh.access_key_id if fresh else None, status["fetches"], status["store_hits"]))
