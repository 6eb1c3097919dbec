"""Optional Prometheus export of provider status (install the ``prometheus`` extra).

A custom collector reads :meth:`CredentialsProvider.status` at scrape time, so nothing is counted
twice and the hot path pays nothing extra. ``prometheus_client`` is imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .provider import CredentialsProvider

__all__ = ["PrometheusCollector", "register_prometheus"]

_PREFIX = "managed_credentials"


class PrometheusCollector:
    """Yields the provider's counters and per-secret gauges on each scrape. Thread-safe."""

    def __init__(self, provider: CredentialsProvider) -> None:
        self._provider = provider

    def describe(self) -> list[Any]:
        return []  # unchecked collector: metrics are described at collection time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status = self._provider.status()
        for name, value in sorted(status.counters.items()):
            yield CounterMetricFamily(f"{_PREFIX}_{name}", f"Credentials provider {name}", value=value)
        failures = CounterMetricFamily(
            f"{_PREFIX}_fetch_failures_by_code", "Secret fetch failures by error code", labels=["code"]
        )
        for code, count in sorted(status.failures_by_code.items()):
            failures.add_metric([code], count)
        yield failures
        for name, value in sorted(status.source.items()):
            yield CounterMetricFamily(f"{_PREFIX}_source_{name}", f"Secret source {name}", value=value)
        gauges = {
            "last_success_timestamp_seconds": "When the secret was last fetched successfully",
            "next_refresh_timestamp_seconds": "When the secret's next proactive refresh is due",
            "consecutive_failures": "Failed refreshes in a row",
            "stale": "1 while a key whose refresh is failing is being served",
        }
        families = {
            key: GaugeMetricFamily(f"{_PREFIX}_secret_{key}", text, labels=["secret"])
            for key, text in gauges.items()
        }
        for secret, health in sorted(status.secrets.items()):
            values: dict[str, float | None] = {
                "last_success_timestamp_seconds": health.last_success_at,
                "next_refresh_timestamp_seconds": health.next_refresh_at,
                "consecutive_failures": float(health.consecutive_failures),
                "stale": 1.0 if health.stale else 0.0,
            }
            for key, gauge in values.items():
                if gauge is not None:
                    families[key].add_metric([secret], gauge)
        yield from families.values()


def register_prometheus(provider: CredentialsProvider, registry: Any = None) -> PrometheusCollector:
    """Register a :class:`PrometheusCollector` for ``provider`` (default: the global registry)."""
    from prometheus_client import REGISTRY

    collector = PrometheusCollector(provider)
    (registry if registry is not None else REGISTRY).register(collector)
    return collector
