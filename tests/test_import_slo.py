"""OpenSLO and Sloth SLOs become journeys that load as they are, and every part that could
not be carried over is named in a warning; bad input names its file, line and document."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.config import AppConfig, load_config
from bot.slo.documents import not_promql
from bot.slo.importer import ImportResult, import_slo, render_journeys
from correlators.errors import ConfigError

DATA = Path(__file__).parent / "data" / "slo"
SAMPLES = sorted(p.name for p in DATA.glob("*.yaml"))
MATCH = {"match": {"attribute": "journey.name"}}


def imported(*names: str) -> ImportResult:
    """The samples named, as one multi-document file."""
    return import_slo("\n---\n".join((DATA / n).read_text() for n in names), "slos.yaml")


def inline(text: str) -> ImportResult:
    return import_slo(textwrap.dedent(text).lstrip(), "slos.yaml")


def match_warning(*names: str) -> str:
    return (
        f"fill in match (root_service and operation) for {', '.join(names)}: an SLO does not say "
        "which traces are the journey's, and until then only spans carrying journey.name=<journey name> count"
    )


def loaded(tmp_path: Path, result: ImportResult) -> AppConfig:
    """The import written as journeywatch writes it, then read as journeys.yaml is."""
    path = tmp_path / "journeys.yaml"
    path.write_text(render_journeys(result.journeys, source="slos.yaml"))
    return load_config(path)


def openslo(*spec: str, name: str = "checkout") -> str:
    """A kind: SLO whose spec is the given parts, each indented as it likes."""
    head = f"apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: {name}\nspec:\n"
    body = "\n".join(textwrap.dedent(part).strip() for part in spec)
    return head + textwrap.indent(body, "  ") + "\n"


RATIO_SLI = """
    indicator:
      metadata: {name: good}
      spec:
        ratioMetric:
          good:
            metricSource:
              type: Prometheus
              spec: {query: 'sum(increase(requests_total{code!~"5.."}[5m]))'}
          total:
            metricSource:
              type: Prometheus
              spec: {query: 'sum(increase(requests_total[5m]))'}
    """


# --- OpenSLO --------------------------------------------------------------------------


def test_openslo_ratio_metric_is_availability_over_prometheus(tmp_path: Path) -> None:
    result = imported("openslo-ratio.yaml")
    route = 'service="checkout",route="/api/checkout"'
    assert result.journeys == [
        {
            "name": "checkout-availability",
            "owner": "checkout",
            **MATCH,
            "objectives": {"availability": 0.999},
            "slo_window": "28d",
            "sli": {
                "source": "prometheus",
                "availability": {
                    "total": f"sum(increase(http_server_requests_total{{{route}}}[{{window}}]))",
                    "good": f'sum(increase(http_server_requests_total{{{route},code!~"5.."}}[{{window}}]))',
                },
            },
        }
    ]
    assert result.warnings == [
        "document 1 (SLO checkout-availability): rate() became increase(): journeywatch reads the "
        "queries as event counts per window",
        match_warning("checkout-availability"),
    ]
    journey = loaded(tmp_path, result).journeys[0]
    assert journey.slo_window == 28 * 86400
    assert journey.sli.availability is not None and journey.sli.availability.good is not None
    assert journey.sli.availability.good.endswith("[{window}]))")


def test_openslo_threshold_metric_is_latency_over_the_histogram(tmp_path: Path) -> None:
    result = imported("openslo-threshold.yaml")
    assert result.journeys == [
        {
            "name": "search-latency",
            "owner": "search",
            **MATCH,
            "objectives": {"latency": {"threshold_ms": 300, "target": 0.99}},
            "slo_window": "7d",
            "sli": {
                "source": "prometheus",
                "latency": {
                    "histogram": "http_server_request_duration_seconds",
                    "selector": 'service_name="search",http_route="/search"',
                },
            },
        }
    ]
    slo = "document 1 (SLO Search Latency)"
    assert result.warnings == [
        f"{slo}: the query compares one value per time slice with 0.3; journeywatch counts requests "
        'slower than that in http_server_request_duration_seconds instead, so le="0.3" must be one '
        "of its buckets",
        f"{slo}: budgetingMethod Timeslices: journeywatch counts events (Occurrences), so the objective "
        "now applies to requests, and timeSliceTarget and timeSliceWindow are not carried over",
        match_warning("search-latency"),
    ]
    latency = loaded(tmp_path, result).journeys[0].objectives.latency
    assert latency is not None and (latency.threshold_ms, latency.target) == (300, 0.99)


def test_openslo_slo_takes_its_sli_and_alert_policies_by_name(tmp_path: Path) -> None:
    result = imported("openslo-refs.yaml")
    route = 'service="identity",route="/login"'
    assert result.journeys == [
        {
            "name": "login-availability",
            "owner": "identity",
            **MATCH,
            "objectives": {"availability": 0.9995},
            "slo_window": "30d",
            "sli": {
                "source": "prometheus",
                "availability": {
                    "total": f"sum(increase(http_server_requests_total{{{route}}}[{{window}}]))",
                    "bad": f'sum(increase(http_server_requests_total{{{route},code=~"5.."}}[{{window}}]))',
                },
            },
            "alerts": {
                "login-fast-burn": {
                    "severity": "page",
                    "burn_rate": 14.4,
                    "long_window": "1h",
                    "short_window": "5m",
                },
                "login-slow-burn": {
                    "severity": "ticket",
                    "burn_rate": 1,
                    "long_window": "3d",
                    "short_window": "6h",
                },
            },
        }
    ]
    assert result.warnings == [
        "document 3 (DataSource prometheus-prod): connection details are not imported; "
        "journeywatch queries sources.prometheus",
        "document 4 (AlertCondition login-fast-burn): alertAfter 5m has no equivalent; the tier also "
        "needs its short window (5m, a twelfth of lookbackWindow) to burn",
        "document 5 (AlertPolicy login-paging): notification targets (identity-pagerduty) are not "
        "imported; incidents go to the journey's channel",
        "document 6 (AlertPolicy login-tickets): notification targets (identity-email) are not "
        "imported; incidents go to the journey's channel",
        match_warning("login-availability"),
    ]
    journey = loaded(tmp_path, result).journeys[0]
    tiers = {t.name: (t.severity, t.burn_rate, t.long_window_s, t.short_window_s) for t in journey.tiers()}
    assert tiers["login-fast-burn"] == ("page", 14.4, 3600, 300)
    assert tiers["login-slow-burn"] == ("ticket", 1.0, 3 * 86400, 6 * 3600)
    assert {"page-burst", "page-fast", "page-slow", "ticket-fast", "ticket-slow"} < set(tiers)


def test_range_selectors_become_the_window_placeholder_and_rates_counts() -> None:
    queries = {
        "good": "sum(rate(ok_total[5m])) + sum(rate(ok_total[1h:1m])) + sum(rate(ok_total[ 90s ]))",
        "total": "sum(rate(all_total[{{ .window }}]))",
    }
    spec = RATIO_SLI.replace('sum(increase(requests_total{code!~"5.."}[5m]))', queries["good"])
    spec = spec.replace("sum(increase(requests_total[5m]))", queries["total"])
    result = inline(openslo(spec, "objectives: [{target: 0.99}]"))
    assert result.journeys[0]["sli"]["availability"] == {
        "total": "sum(increase(all_total[{window}]))",
        "good": "sum(increase(ok_total[{window}])) + sum(increase(ok_total[{window}:1m])) "
        "+ sum(increase(ok_total[{window}]))",
    }
    assert result.warnings[0] == (
        "document 1 (SLO checkout): rate() became increase(): journeywatch reads the queries as "
        "event counts per window"
    )


def test_a_query_without_a_range_selector_is_kept_and_reported() -> None:
    spec = RATIO_SLI.replace("sum(increase(requests_total[5m]))", "sum(requests_total)")
    result = inline(openslo(spec, "objectives: [{target: 0.99}]"))
    assert result.journeys[0]["sli"]["availability"]["total"] == "sum(requests_total)"
    assert result.warnings[0] == (
        "document 1 (SLO checkout): spec.indicator.spec.ratioMetric.total.metricSource.spec.query has no "
        "range selector such as [5m]; edit it to count over [{window}], or every burn-rate window reads "
        "the same value"
    )


def test_ratio_over_a_histogram_bucket_is_a_latency_objective() -> None:
    spec = RATIO_SLI.replace(
        'requests_total{code!~"5.."}[5m]', 'http_request_duration_seconds_bucket{le="0.25",job="api"}[5m]'
    ).replace("requests_total[5m]", "http_request_duration_seconds_count[5m]")
    result = inline(openslo(spec, "objectives: [{targetPercent: 99.5}]"))
    journey = result.journeys[0]
    assert journey["objectives"] == {"latency": {"threshold_ms": 250, "target": 0.995}}
    assert set(journey["sli"]) == {"source", "latency"}
    assert result.warnings[0] == (
        "document 1 (SLO checkout): read as a latency objective (250 ms): its events are the "
        'http_request_duration_seconds_bucket{le="0.25"} histogram bucket'
    )


def threshold_slo(histogram: str) -> str:
    query = f'histogram_quantile(0.99, sum by (le) (rate({histogram}_bucket{{job="rpc"}}[5m])))'
    spec = f"""
    indicator:
      metadata: {{name: p99}}
      spec:
        thresholdMetric:
          metricSource:
            type: prometheus
            spec: {{query: '{query}'}}
    timeWindow: [{{duration: 4w, isRolling: true}}]
    objectives: [{{op: lt, value: 250, target: 0.95}}]
    """
    return openslo(spec)


@pytest.mark.parametrize(
    ("histogram", "threshold_ms", "sli"),
    [
        (
            "rpc_latency_milliseconds",
            250,
            {"histogram": "rpc_latency_milliseconds", "selector": 'job="rpc"'},
        ),
        ("rpc_latency_seconds", 250_000, {"histogram": "rpc_latency_seconds", "selector": 'job="rpc"'}),
    ],
)
def test_threshold_units_come_from_the_metric_name(
    histogram: str, threshold_ms: int, sli: dict[str, str]
) -> None:
    result = inline(threshold_slo(histogram))
    journey = result.journeys[0]
    assert journey["objectives"]["latency"] == {"threshold_ms": threshold_ms, "target": 0.95}
    assert journey["slo_window"] == "28d"
    assert journey["sli"]["latency"] == sli
    assert not [w for w in result.warnings if "unit" in w]


def test_a_threshold_without_a_unit_is_refused_with_what_to_do() -> None:
    """500 meant as milliseconds and read as seconds is an objective 1000 times too loose."""
    with pytest.raises(ConfigError) as caught:
        inline(threshold_slo("rpc_latency"))
    assert caught.value.line == 14
    assert caught.value.reason == (
        "document 1 (SLO checkout): spec.objectives[0]: cannot tell the unit of 'rpc_latency' from its "
        "name, so 250 could be seconds or milliseconds; name the metric with its unit (a recording rule "
        "ending in _seconds or _milliseconds), or write this objective in journeys.yaml by hand "
        "(latency.threshold_ms)"
    )


def test_a_file_whose_every_slo_is_skipped_says_why() -> None:
    spec = threshold_slo("rpc_latency_seconds").replace("op: lt", "op: gte")
    with pytest.raises(ConfigError) as caught:
        inline(spec)
    assert caught.value.reason == (
        "no SLO to import; skipped: document 1 (SLO checkout): op gte: a value that must stay above 250 "
        "is not a latency objective; this SLO is not imported"
    )


def test_metricsql_in_a_sloth_file_is_said_to_be_no_promql() -> None:
    sloth = """
    version: prometheus/v1
    service: checkout
    slos:
      - name: latency
        objective: 99
        sli:
          events:
            error_query: >-
              histogram_share(0.3,
              sum(rate(http_duration_seconds_bucket{job="a(b)"}[{{.window}}])) by (vmrange))
            total_query: sum(rate(http_duration_seconds_count[{{.window}}]))
    """
    result = inline(sloth)
    assert result.journeys[0]["name"] == "latency"
    assert (
        "slo latency: histogram_share is not PromQL (MetricsQL?); Prometheus cannot run these "
        "queries: rewrite them before the journey is used"
    ) in " | ".join(result.warnings)


def test_promql_is_not_flagged() -> None:
    assert (
        not_promql(
            [
                'sum by (le) (rate(x_bucket{job=~"a|b"}[5m])) / ignoring (le) group_left sum(rate(y[5m]))',
                "histogram_quantile(0.99, sum without (pod) (irate(x[1m]))) > bool 0.3",
                "x unless on (a) absent(z)",
                'label_replace(up, "a", "$1", "b", "(.*)") and topk(3, count_over_time(up[5m] offset 1h))',
            ]
        )
        == []
    )
    assert not_promql(["sum(rate(x[5m])) / histogram_shar(0.3, y)", "share_le_over_time(z[5m], 2)"]) == [
        "histogram_shar",
        "share_le_over_time",
    ]


def test_what_cannot_be_counted_keeps_the_objective_on_span_metrics(tmp_path: Path) -> None:
    raw = openslo(
        """
        indicator:
          metadata: {name: ratio}
          spec:
            ratioMetric:
              rawType: success
              raw:
                metricSource: {type: Prometheus, spec: {query: 'avg(success_ratio)'}}
        objectives: [{target: 0.99}]
        """,
        name="raw-ratio",
    )
    datadog = openslo(
        RATIO_SLI.replace("Prometheus", "Datadog"), "objectives: [{target: 0.98}]", name="Datadog SLO"
    )
    result = inline(raw + "---\n" + datadog)
    assert [(j["name"], j["objectives"], j["sli"]) for j in result.journeys] == [
        ("raw-ratio", {"availability": 0.99}, {"source": "builtin"}),
        ("datadog-slo", {"availability": 0.98}, {"source": "builtin"}),
    ]
    assert result.warnings == [
        "document 1 (SLO raw-ratio): a raw ratio has no total and good or bad counts to burn-rate over; "
        "the journey counts its events from spans (sli.source builtin)",
        "document 1 (SLO raw-ratio): no timeWindow; the journey uses journeywatch's default 30d",
        "document 2 (SLO Datadog SLO): the SLI reads Datadog, not Prometheus; the journey counts its "
        "events from spans (sli.source builtin)",
        "document 2 (SLO Datadog SLO): no timeWindow; the journey uses journeywatch's default 30d",
        match_warning("raw-ratio", "datadog-slo"),
    ]
    assert len(loaded(tmp_path, result).journeys) == 2


def test_calendar_windows_and_extra_objectives_are_approximated_and_reported() -> None:
    spec = """
    timeWindow:
      - duration: 1M
        calendar: {startTime: "2024-01-01 00:00:00", timeZone: Europe/Berlin}
    objectives:
      - {displayName: Most, target: 0.99}
      - {displayName: Nearly all, target: 0.999}
    """
    result = inline(openslo(RATIO_SLI, spec))
    journey = result.journeys[0]
    assert (journey["slo_window"], journey["objectives"]) == ("30d", {"availability": 0.99})
    assert result.warnings[:2] == [
        "document 1 (SLO checkout): has 2 objectives; a journey keeps one, so only the first is imported",
        "document 1 (SLO checkout): the calendar window 1M is read as a rolling 30d; journeywatch keeps "
        "rolling windows only",
    ]


def test_alert_conditions_that_are_not_burn_rate_tiers_are_reported() -> None:
    spec = """
    objectives: [{target: 0.99}]
    timeWindow: [{duration: 28d}]
    alertPolicies:
      - alertPolicyRef: elsewhere
      - kind: AlertPolicy
        metadata: {name: inline-policy}
        spec:
          alertWhenNoData: true
          conditions:
            - kind: AlertCondition
              metadata: {name: Fast Burn}
              spec:
                severity: sev1
                condition: {kind: burnrate, threshold: 10, lookbackWindow: 2h, alertAfter: 0m}
            - kind: AlertCondition
              metadata: {name: too-low}
              spec:
                severity: page
                condition: {kind: burnrate, op: lt, threshold: 1, lookbackWindow: 1h}
            - kind: AlertCondition
              metadata: {name: odd-severity}
              spec:
                severity: purple
                condition: {threshold: 2, lookbackWindow: 6h}
    """
    result = inline(openslo(RATIO_SLI, spec))
    assert result.journeys[0]["alerts"] == {
        "fast-burn": {"severity": "page", "burn_rate": 10, "long_window": "2h", "short_window": "10m"},
        "odd-severity": {"severity": "ticket", "burn_rate": 2, "long_window": "6h", "short_window": "30m"},
    }
    slo = "document 1 (SLO checkout)"
    assert result.warnings[:-1] == [
        f"{slo}: AlertPolicy 'elsewhere' is not in this file; it is not imported",
        f"{slo}: alertWhenNoData is not carried over; journeywatch alerts on burn rates only",
        f"{slo}: alerting while the burn rate is below a threshold is not imported",
        f"{slo}: severity 'purple' is neither page nor ticket; imported as ticket",
    ]


def test_objects_in_one_list_document_are_numbered_as_items() -> None:
    sli = {
        "apiVersion": "openslo/v1",
        "kind": "SLI",
        "metadata": {"name": "errors"},
        "spec": yaml.safe_load(textwrap.dedent(RATIO_SLI))["indicator"]["spec"],
    }
    slo = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "api"},
        "spec": {"indicatorRef": "errors", "objectives": [{"target": 2}]},
    }
    with pytest.raises(ConfigError) as caught:
        import_slo(yaml.safe_dump([sli, slo], sort_keys=False), "slos.yaml")
    assert caught.value.reason == (
        "document 1 item 2 (SLO api): spec.objectives[0].target: must leave an error budget: "
        "above 0 and below 1 (or 100 for targetPercent)"
    )


# --- Sloth ----------------------------------------------------------------------------


def test_sloth_spec_with_page_and_ticket_switches(tmp_path: Path) -> None:
    result = imported("sloth.yaml")
    checkout = 'service="checkout"'
    requests, duration = "http_server_requests_total", "http_server_request_duration_seconds"
    assert result.journeys == [
        {
            "name": "requests-availability",
            "owner": "checkout",
            **MATCH,
            "objectives": {"availability": 0.999},
            "slo_window": "30d",
            "sli": {
                "source": "prometheus",
                "availability": {
                    "total": f"sum(increase({requests}{{{checkout}}}[{{window}}]))",
                    "bad": f'sum(increase({requests}{{{checkout},code=~"(5..|429)"}}[{{window}}]))',
                },
            },
            "alerts": {"ticket-fast": {"enabled": False}, "ticket-slow": {"enabled": False}},
            "runbooks": [
                {"title": "CheckoutAvailability runbook", "url": "https://runbooks.example.com/checkout"}
            ],
        },
        {
            "name": "requests-latency",
            "owner": "checkout",
            **MATCH,
            "objectives": {"latency": {"threshold_ms": 500, "target": 0.99}},
            "slo_window": "30d",
            "sli": {
                "source": "prometheus",
                "latency": {
                    "total": f"sum(increase({duration}_count{{{checkout}}}[{{window}}]))",
                    "bad": "(\n"
                    f"  sum(increase({duration}_count{{{checkout}}}[{{window}}]))\n"
                    "  -\n"
                    f'  sum(increase({duration}_bucket{{{checkout},le="0.5"}}[{{window}}]))\n'
                    ")",
                },
            },
            "alerts": {tier: {"enabled": False} for tier in ("page-burst", "page-fast", "page-slow")},
        },
    ]
    spec = "document 1 (Sloth service checkout)"
    rates = "rate() became increase(): journeywatch reads the queries as event counts per window"
    assert result.warnings == [
        f"{spec}: slo requests-availability: {rates}",
        f"{spec}: slo requests-availability: alert labels (category, routing_key, severity) route alerts "
        "in Alertmanager and are not imported; set the journey's channel",
        f"{spec}: slo requests-latency: {rates}",
        f"{spec}: slo requests-latency: read as a latency objective (500 ms): its events are the "
        'http_server_request_duration_seconds_bucket{le="0.5"} histogram bucket',
        match_warning("requests-availability", "requests-latency"),
    ]
    config = loaded(tmp_path, result)
    availability, latency = config.journeys
    assert {t.severity for t in availability.tiers()} == {"page"}
    assert {t.severity for t in latency.tiers()} == {"ticket"}


def test_sloth_kubernetes_form_and_raw_sli(tmp_path: Path) -> None:
    result = imported("sloth-k8s.yaml")
    assert result.journeys == [
        {
            "name": "requests-availability",
            "owner": "search",
            **MATCH,
            "objectives": {"availability": 0.995},
            "slo_window": "30d",
            "sli": {
                "source": "prometheus",
                "availability": {
                    "total": 'sum(increase(http_server_requests_total{service="search"}[{window}]))',
                    "bad": "sum(increase(http_server_requests_total"
                    '{service="search",code=~"5.."}[{window}]))',
                },
            },
            "alerts": {"ticket-fast": {"enabled": False}, "ticket-slow": {"enabled": False}},
        },
        {
            "name": "index-freshness",
            "owner": "search",
            **MATCH,
            "objectives": {"availability": 0.99},
            "slo_window": "30d",
            "sli": {"source": "builtin"},
            "runbooks": [
                {"title": "SearchIndexFreshness runbook", "url": "https://runbooks.example.com/search-index"}
            ],
        },
    ]
    search = "document 1 (PrometheusServiceLevel search-slos)"
    assert result.warnings == [
        f"{search}: slo requests-availability: rate() became increase(): journeywatch reads the "
        "queries as event counts per window",
        f"{search}: slo index-freshness: sli.raw is a ready error "
        "ratio with no total and bad counts to split, which journeywatch needs; the journey counts its "
        "events from spans (sli.source builtin)",
        match_warning("requests-availability", "index-freshness"),
    ]
    assert [j.name for j in loaded(tmp_path, result).journeys] == ["requests-availability", "index-freshness"]


def test_colliding_names_take_their_service() -> None:
    result = imported("sloth.yaml", "sloth-k8s.yaml")
    assert [j["name"] for j in result.journeys] == [
        "checkout-requests-availability",
        "requests-latency",
        "search-requests-availability",
        "index-freshness",
    ]


def test_sloth_query_without_the_window_template_is_reported() -> None:
    result = inline(
        """
        version: prometheus/v1
        service: api
        slos:
          - name: requests
            objective: 99.5
            sli:
              events:
                error_query: sum(increase(errors_total[5m]))
                total_query: sum(increase(requests_total[{{.window}}]))
            alerting: {name: ApiRequests}
        """
    )
    assert result.journeys[0]["sli"]["availability"]["bad"] == "sum(increase(errors_total[5m]))"
    assert result.warnings[0] == (
        "document 1 (Sloth service api): slo requests: slos[0].sli.events.error_query has no "
        "{{.window}}; edit it to count over [{window}]"
    )


# --- every sample, and bad input -------------------------------------------------------


@pytest.mark.parametrize("names", [[n] for n in SAMPLES] + [SAMPLES])
def test_every_import_loads_as_journeys_yaml(tmp_path: Path, names: list[str]) -> None:
    result = imported(*names)
    config = loaded(tmp_path, result)
    assert [j.name for j in config.journeys] == [j["name"] for j in result.journeys]
    for journey in config.journeys:
        assert journey.match.attribute == "journey.name" and journey.match.root_service is None


BAD_INPUT = [
    (
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: a}\n---\n"
        "apiVersion: monitoring.googleapis.com/v1\nkind: ServiceLevelObjective\nmetadata: {name: b}\n",
        5,
        "document 2 (ServiceLevelObjective b): apiVersion: kind 'ServiceLevelObjective' with apiVersion "
        "'monitoring.googleapis.com/v1' is neither OpenSLO",
    ),
    (
        "apiVersion: openslo/v1\nkind: Widget\nmetadata: {name: w}\n",
        2,
        "document 1 (Widget w): kind: unknown OpenSLO kind 'Widget' (apiVersion openslo/v1)",
    ),
    (
        "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: a}\n",
        1,
        "document 1 (SLO a): apiVersion: OpenSLO apiVersion 'openslo/v1alpha' is not supported; "
        "only openslo/v1",
    ),
    (
        "version: prometheus/v2\nservice: api\nslos: []\n",
        1,
        "document 1 (Sloth service api): version: Sloth version 'prometheus/v2' is not supported",
    ),
    (
        openslo("indicatorRef: missing\nobjectives: [{target: 0.99}]"),
        6,
        "document 1 (SLO checkout): spec.indicatorRef: no kind: SLI named 'missing' in this file",
    ),
    (
        openslo(RATIO_SLI, "timeWindow: [{duration: 1 month}]", "objectives: [{target: 0.99}]"),
        18,
        "spec.timeWindow[0].duration: '1 month' is not an OpenSLO duration such as 5m, 1h, 28d or 4w",
    ),
    (
        "version: prometheus/v1\nservice: api\nslos:\n  - name: all\n    objective: 100\n"
        "    sli: {events: {error_query: e, total_query: t}}\n",
        5,
        "slo all: slos[0].objective: must be above 0 and below 100",
    ),
    (
        "version: prometheus/v1\nservice: api\nslos:\n  - name: a\n    objective: 99\n    sli: {}\n",
        6,
        "slo a: slos[0].sli: needs events, raw or plugin",
    ),
    ("slos:\n  - name: [unclosed\n", 3, "invalid YAML"),
    ("just a string\n", 1, "document 1: expected an OpenSLO or Sloth mapping, not str"),
    ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: s}\n", None, "no SLO to import"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD_INPUT)
def test_bad_input_names_the_line_and_the_document(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        import_slo(text, "slos.yaml")
    assert caught.value.file == "slos.yaml"
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_the_same_slo_twice_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        imported("sloth.yaml", "sloth.yaml")
    assert caught.value.reason.endswith(
        "journey name 'checkout-requests-availability' is already taken by "
        "document 1 (Sloth service checkout)"
    )
    # the second copy starts on line 47, after the first's 44 lines and the "---" between;
    # its first SLO is its ninth line
    assert caught.value.line == 55


# --- the command ----------------------------------------------------------------------


def test_command_prints_journeys_and_warns_on_stderr(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import-slo", str(DATA / "openslo-refs.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Imported from openslo-refs.yaml by journeywatch import-slo")
    printed: dict[str, Any] = yaml.safe_load(result.stdout)
    assert [j["name"] for j in printed["journeys"]] == ["login-availability"]
    assert "warning" not in result.stdout
    assert result.stderr.splitlines()[0] == (
        "journeywatch: warning: document 3 (DataSource prometheus-prod): connection details are not "
        "imported; journeywatch queries sources.prometheus"
    )
    assert len(result.stderr.splitlines()) == 5


def test_command_writes_output_and_will_not_overwrite(tmp_path: Path) -> None:
    runner, out = CliRunner(), tmp_path / "imported.yaml"
    first = runner.invoke(app, ["import-slo", str(DATA / "sloth.yaml"), "--output", str(out)])
    assert first.exit_code == 0, first.output
    assert first.stdout == f"{out}: wrote 2 journeys\n"
    assert [j.name for j in load_config(out).journeys] == ["requests-availability", "requests-latency"]

    again = runner.invoke(app, ["import-slo", str(DATA / "sloth-k8s.yaml"), "--output", str(out)])
    assert again.exit_code == 2
    assert again.stderr == f"journeywatch: {out}: exists; pass --force to overwrite it\n"
    forced = runner.invoke(app, ["import-slo", str(DATA / "sloth-k8s.yaml"), "--output", str(out), "--force"])
    assert forced.exit_code == 0
    assert [j.name for j in load_config(out).journeys] == ["requests-availability", "index-freshness"]


def test_command_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "slos.yaml"
    bad.write_text("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  objectives: []\n")
    result = CliRunner().invoke(app, ["import-slo", str(bad)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"journeywatch: {bad}:5: document 1 (SLO a): spec.objectives: needs at least one objective\n"
    )
    assert result.stdout == ""

    missing = CliRunner().invoke(app, ["import-slo", str(tmp_path / "nowhere.yaml")])
    assert missing.exit_code == 2
    assert (
        missing.stderr
        == f"journeywatch: {tmp_path / 'nowhere.yaml'}: cannot read: No such file or directory\n"
    )
