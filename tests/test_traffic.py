"""A surge is counted in requests, not in the traces a tail sampler chose to keep."""

from __future__ import annotations

import math

from correlators.metrics import Window
from correlators.model import MetricPoint, MetricSeries, Span, Trace
from correlators.traffic import RateChange, is_request_rate, load_growth, request_rate_change

S = 1_000_000_000
BASELINE = Window(0, 600 * S)
INCIDENT = Window(600 * S, 900 * S)


def traces(count: int, window: Window) -> list[Trace]:
    step = (window.end_ns - window.start_ns) // count
    return [
        Trace(f"{i:032x}", [Span(f"{i:032x}", "1", None, "web", "GET /", t, t + S // 10)], journey="checkout")
        for i, t in enumerate(range(window.start_ns, window.end_ns, step))
    ]


def rate(service: str, name: str, before: float, during: float, unit: str = "1/s") -> MetricSeries:
    points = [MetricPoint(t * S, before if t < 600 else during) for t in range(0, 900, 10)]
    return MetricSeries(name, {"service.name": service}, points, unit)


def kept_traces_tripled(metrics: list[MetricSeries]) -> RateChange | None:
    """60 kept traces of the web entry service in the baseline's 600 s, 90 in the
    incident's 300 s, beside ``metrics``."""
    return request_rate_change(
        metrics=metrics,
        entry_services={"web"},
        baseline=traces(60, BASELINE),
        during=traces(90, INCIDENT),
        baseline_window=BASELINE,
        incident_window=INCIDENT,
    )


def test_request_rate_series_are_told_from_other_rates() -> None:
    assert is_request_rate(MetricSeries("request_rate", {}, unit="1/s"))
    assert is_request_rate(MetricSeries("http_server_requests_total:rate", {}))
    assert not is_request_rate(MetricSeries("error_rate", {}, unit="1/s"))
    assert not is_request_rate(MetricSeries("http.server.request.duration:mean", {}, unit="s"))
    assert not is_request_rate(MetricSeries("cpu_utilization", {}, unit="%"))


def test_tail_sampled_traces_that_tripled_with_flat_requests_are_no_surge() -> None:
    """Every failed trace kept, a tenth of the rest: the kept traces triple, the requests do not."""
    change = kept_traces_tripled(
        [rate("web", "request_rate", 50.0, 52.0), rate("db", "request_rate", 10.0, 90.0)]
    )
    assert change is not None and change.source == "metrics"
    assert round(change.ratio, 2) == 1.04


def test_without_request_metrics_the_traces_are_counted() -> None:
    change = kept_traces_tripled([rate("web", "cpu_utilization", 20.0, 90.0, unit="%")])
    assert change is not None and change.source == "traces"
    assert round(change.ratio, 1) == 3.0


def test_load_growth_counts_the_requests_each_service_served() -> None:
    """web is entered by every trace, twice the rate in the incident (90 in 300 s against
    90 in 600 s); db only in the incident, which the baseline cannot scale."""

    def served(count: int, window: Window, callee: str) -> list[Trace]:
        found = traces(count, window)
        for trace in found:
            root = trace.spans[0]
            trace.spans.append(Span(root.trace_id, "2", "1", callee, "GET /x", root.start_ns, root.end_ns))
        return found

    growth = load_growth(
        {"web", "db"}, served(90, BASELINE, "web"), served(90, INCIDENT, "db"), BASELINE, INCIDENT
    )
    assert growth == {"web": 2.0, "db": math.inf}
    assert (
        load_growth(set(), served(90, BASELINE, "web"), served(90, INCIDENT, "db"), BASELINE, INCIDENT) == {}
    )
