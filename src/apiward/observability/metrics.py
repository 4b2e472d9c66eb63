"""Gateway metrics kept in plain Python counters and exported to Prometheus on scrape.

Calling ``prometheus_client`` metrics with labels on every request costs a lock and a label
lookup each time, which is a large share of the gateway's per-request budget. The hot path
therefore only increments ints in dicts and lists; :class:`GatewayCollector` turns them into
metric families when Prometheus scrapes ``/metrics``.

Exported series (``route``, ``stage``, ``upstream`` and ``kind`` values come from the policy and
the proxy, so their number is bounded by the configuration):

- ``apiward_requests_total{route, status_class}``: finished exchanges by status class (2xx...).
- ``apiward_request_duration_seconds{route}``: histogram of the time from request to response end.
- ``apiward_denials_total{stage}``: exchanges a stage ended with a denial.
- ``apiward_upstream_errors_total{upstream, kind}``: failed upstream attempts by kind.
- ``apiward_open_connections``: client connections open now.
- ``apiward_upstream_pool_connections{upstream}``: idle connections kept in each upstream pool.

NOTE: with ``--workers N`` every process keeps and exports its own counters.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
"""Upper bounds in seconds of the latency histogram buckets; a +Inf bucket follows."""

_STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")


_BOUNDS: list[float] = list(LATENCY_BUCKETS)


def _bucket(seconds: float) -> int:
    """Return the index of the first bucket whose bound is at least ``seconds``.

    A linear scan from the smallest bound: most exchanges land in the first few buckets, and
    compiled float comparisons in a loop cost less than bisect's generic sequence calls.
    """
    bounds = _BOUNDS
    for index in range(len(bounds)):
        if seconds <= bounds[index]:
            return index
    return len(bounds)


class _RouteCounters:
    """One route's finished exchanges: counts by status class and the latency histogram."""

    __slots__ = ("counts", "statuses", "total")

    def __init__(self) -> None:
        self.statuses = [0] * len(_STATUS_CLASSES)
        """Exchanges by the first digit of their status; index 0 also takes statuses out of range."""
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class GatewayMetrics:
    """Counters the data plane updates per request; read by :class:`GatewayCollector`."""

    def __init__(self) -> None:
        self.routes: dict[str, _RouteCounters] = {}
        self.denials: dict[str, int] = {}
        self.upstream_errors: dict[tuple[str, str], int] = {}
        self.open_connections = 0
        self.pool_sizes: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GatewayCollector(self))
        self.registry.register(ProcessCollector(registry=None))

    def request(self, route: str, status: int, seconds: float) -> None:
        """Count one finished exchange on ``route`` and its duration in seconds."""
        counters = self.routes.get(route)
        if counters is None:
            counters = self.routes[route] = _RouteCounters()
        counters.statuses[status // 100 if 0 <= status < 600 else 0] += 1
        counters.counts[_bucket(seconds)] += 1
        counters.total += seconds

    def denial(self, stage: str) -> None:
        self.denials[stage] = self.denials.get(stage, 0) + 1

    def upstream_error(self, upstream: str, kind: str) -> None:
        """Count a failed upstream attempt; ``kind`` is e.g. ``connect``, ``timeout``, ``reset``."""
        key = (upstream, kind)
        self.upstream_errors[key] = self.upstream_errors.get(key, 0) + 1

    def connection_opened(self) -> None:
        self.open_connections += 1

    def connection_closed(self) -> None:
        self.open_connections -= 1

    def set_pool_size(self, upstream: str, size: int) -> None:
        self.pool_sizes[upstream] = size

    def render(self) -> tuple[bytes, str]:
        """Return the Prometheus text exposition of every metric and its content type.

        Every metric name is a classic Prometheus name, so the body is also valid text format
        0.0.4, which the content type announces because every Prometheus version reads it.
        """
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


class GatewayCollector:
    """A ``prometheus_client`` collector that reads a :class:`GatewayMetrics` on each scrape."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        requests = CounterMetricFamily(
            "apiward_requests", "Finished exchanges by route and status class.",
            labels=["route", "status_class"],
        )
        for route, counters in sorted(metrics.routes.items()):
            for status_class, count in zip(_STATUS_CLASSES, list(counters.statuses), strict=True):
                if count:
                    requests.add_metric([route, status_class], count)
        yield requests
        yield self._latency()
        denials = CounterMetricFamily("apiward_denials", "Exchanges a stage denied.", labels=["stage"])
        for stage, count in sorted(metrics.denials.items()):
            denials.add_metric([stage], count)
        yield denials
        errors = CounterMetricFamily(
            "apiward_upstream_errors", "Failed upstream attempts by kind.", labels=["upstream", "kind"]
        )
        for (upstream, kind), count in sorted(metrics.upstream_errors.items()):
            errors.add_metric([upstream, kind], count)
        yield errors
        yield GaugeMetricFamily(
            "apiward_open_connections", "Client connections open now.", value=metrics.open_connections
        )
        pools = GaugeMetricFamily(
            "apiward_upstream_pool_connections", "Idle connections in each upstream pool.",
            labels=["upstream"],
        )
        for upstream, size in sorted(metrics.pool_sizes.items()):
            pools.add_metric([upstream], size)
        yield pools

    def _latency(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "apiward_request_duration_seconds", "Time from request to the end of the response.",
            labels=["route"],
        )
        # repr() writes these bounds as prometheus_client itself does: 60.0, 0.0005.
        bounds = [*(repr(float(bound)) for bound in LATENCY_BUCKETS), "+Inf"]
        for route, counters in sorted(self._metrics.routes.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(bounds, list(counters.counts), strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([route], buckets, sum_value=counters.total)
        return family
