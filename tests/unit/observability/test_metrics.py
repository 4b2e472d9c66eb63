from prometheus_client.parser import text_string_to_metric_families

from apiward.observability.metrics import LATENCY_BUCKETS, GatewayMetrics


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_content_type_is_prometheus_text() -> None:
    _, content_type = GatewayMetrics().render()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_requests_by_route_and_status_class() -> None:
    metrics = GatewayMetrics()
    metrics.request("api", 200, 0.01)
    metrics.request("api", 204, 0.01)
    metrics.request("api", 404, 0.01)
    metrics.request("admin", 503, 0.01)
    metrics.request("admin", 999, 0.01)
    samples = _samples(metrics)
    assert samples[("apiward_requests_total", (("route", "api"), ("status_class", "2xx")))] == 2
    assert samples[("apiward_requests_total", (("route", "api"), ("status_class", "4xx")))] == 1
    assert samples[("apiward_requests_total", (("route", "admin"), ("status_class", "5xx")))] == 1
    assert samples[("apiward_requests_total", (("route", "admin"), ("status_class", "0xx")))] == 1


def test_latency_histogram_is_cumulative() -> None:
    metrics = GatewayMetrics()
    for seconds in (0.0001, 0.005, 0.0051, 0.3, 100.0):
        metrics.request("api", 200, seconds)
    samples = _samples(metrics)

    def bucket(bound: str) -> float:
        return samples[("apiward_request_duration_seconds_bucket", (("le", bound), ("route", "api")))]

    assert bucket("0.0005") == 1
    assert bucket("0.005") == 2
    assert bucket("0.01") == 3
    assert bucket("0.25") == 3
    assert bucket("0.5") == 4
    assert bucket("60.0") == 4
    assert bucket("+Inf") == 5
    assert samples[("apiward_request_duration_seconds_count", (("route", "api"),))] == 5
    total = samples[("apiward_request_duration_seconds_sum", (("route", "api"),))]
    assert abs(total - 100.3102) < 1e-9
    assert len([key for key in samples if key[0] == "apiward_request_duration_seconds_bucket"]) == (
        len(LATENCY_BUCKETS) + 1
    )


def test_denials_and_upstream_errors() -> None:
    metrics = GatewayMetrics()
    metrics.denial("waf")
    metrics.denial("waf")
    metrics.denial("ip_filter")
    metrics.upstream_error("shop", "timeout")
    samples = _samples(metrics)
    assert samples[("apiward_denials_total", (("stage", "waf"),))] == 2
    assert samples[("apiward_denials_total", (("stage", "ip_filter"),))] == 1
    assert samples[("apiward_upstream_errors_total", (("kind", "timeout"), ("upstream", "shop")))] == 1


def test_gauges() -> None:
    metrics = GatewayMetrics()
    metrics.connection_opened()
    metrics.connection_opened()
    metrics.connection_closed()
    metrics.set_pool_size("shop", 7)
    metrics.set_pool_size("shop", 3)
    samples = _samples(metrics)
    assert samples[("apiward_open_connections", ())] == 1
    assert samples[("apiward_upstream_pool_connections", (("upstream", "shop"),))] == 3


def test_label_values_are_escaped() -> None:
    metrics = GatewayMetrics()
    metrics.denial('odd"stage\\name\n')
    samples = _samples(metrics)
    assert samples[("apiward_denials_total", (("stage", 'odd"stage\\name\n'),))] == 1


def test_process_metrics_included() -> None:
    body, _ = GatewayMetrics().render()
    assert b"process_cpu_seconds_total" in body
