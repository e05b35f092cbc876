"""The SLO parts of a journey in journeys.yaml: alert tiers, SLI source, watcher timing.

Alert tiers default to ``correlators.burn.DEFAULT_TIERS``; a journey changes one by name
(``alerts: {page-slow: {burn_rate: 8}}``), switches one off (``{enabled: false}``) or adds
its own (a new name with every field given).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.durations import Duration
from bot.sources.conventions import Unit, error_matchers, histogram_unit, request_matchers
from correlators.burn import DEFAULT_TIERS, Tier


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertTierConfig(_Strict):
    enabled: bool = True
    severity: Literal["page", "ticket"] | None = None
    burn_rate: float | None = Field(default=None, gt=0)
    long_window: Duration | None = None
    short_window: Duration | None = None
    min_bad_events: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _short_inside_long(self) -> AlertTierConfig:
        if self.long_window and self.short_window and self.short_window > self.long_window:
            raise ValueError("short_window must not be longer than long_window")
        return self

    def applied_to(self, name: str, default: Tier | None) -> Tier | None:
        """The tier this entry makes of the default of the same name (None: switched off)."""
        if not self.enabled:
            return None
        if default is None:
            missing = [
                f
                for f in ("severity", "burn_rate", "long_window", "short_window")
                if getattr(self, f) is None
            ]
            if missing:
                raise ValueError(f"new tier {name!r} needs {', '.join(missing)}")
            default = Tier(name, "page", 1.0, 1, 1)
        return Tier(
            name=name,
            severity=self.severity or default.severity,
            burn_rate=self.burn_rate or default.burn_rate,
            long_window_s=self.long_window or default.long_window_s,
            short_window_s=self.short_window or default.short_window_s,
            min_bad_events=default.min_bad_events if self.min_bad_events is None else self.min_bad_events,
        )


def resolve_tiers(overrides: dict[str, AlertTierConfig]) -> tuple[Tier, ...]:
    """Defaults with the journey's changes, fastest first (shortest long window, then the
    highest burn rate), which is the order severity is read in."""
    defaults = {t.name: t for t in DEFAULT_TIERS}
    tiers = [t for t in DEFAULT_TIERS if t.name not in overrides]
    for name, entry in overrides.items():
        tier = entry.applied_to(name, defaults.get(name))
        if tier is not None:
            tiers.append(tier)
    return tuple(sorted(tiers, key=lambda t: (t.long_window_s, -t.burn_rate)))


class PrometheusSli(_Strict):
    """PromQL for one objective. ``{window}`` in a query becomes the window (``5m``).

    Either ``total`` with ``bad`` (or ``good``), or ``histogram`` (a histogram's base
    name, e.g. ``http_server_request_duration_seconds``,
    ``traces_span_metrics_duration_milliseconds``) with an optional ``selector`` (label
    matchers, ``service_name="frontend",http_route="/checkout"``): availability then
    counts ``..._count`` series whose ``error_selector`` matches as bad, latency counts
    requests over the objective's threshold as bad (the threshold must be one of the
    histogram's bucket bounds, in the histogram's own unit).

    The unit comes from the name (``_seconds``, ``_milliseconds``, ``_ms``) or from
    ``unit``; a name that gives none needs ``unit``, since reading milliseconds as seconds
    (or the reverse) would count every request as slow, or none. ``error_selector``
    defaults by the histogram's family (``bot.sources.conventions``): the HTTP status, the
    gRPC server codes for ``rpc_server_*``, the span status for span metrics; a span
    metrics histogram counts server spans unless ``selector`` names a ``span_kind``.
    """

    total: str | None = None
    bad: str | None = None
    good: str | None = None
    histogram: str | None = None
    selector: str = ""
    error_selector: str | None = None
    unit: Unit | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PrometheusSli:
        if self.histogram is None and (self.total is None or (self.bad is None) == (self.good is None)):
            raise ValueError("give `histogram`, or `total` with exactly one of `bad` and `good`")
        if self.histogram is not None and self.unit is None and histogram_unit(self.histogram) is None:
            raise ValueError(
                f"histogram {self.histogram}: its name gives no unit (_seconds, _milliseconds); "
                "add `unit: s` or `unit: ms`"
            )
        return self

    @property
    def histogram_unit(self) -> Unit:
        """The histogram's bucket unit: ``unit`` if given, else its name's."""
        return self.unit or histogram_unit(self.histogram or "") or "s"

    @property
    def requests(self) -> str:
        """``selector`` with what keeps a family's series to requests served: span
        metrics count every span, so their SLI reads server spans unless the selector
        names a ``span_kind`` itself."""
        return ",".join(
            m for m in (self.selector, request_matchers(self.histogram or "", self.selector)) if m
        )

    @property
    def errors(self) -> str:
        """``error_selector``, or the histogram family's error matchers."""
        if self.error_selector is not None:
            return self.error_selector
        return error_matchers(self.histogram or "")


class MetricSli(_Strict):
    """One objective counted from the OTLP metrics a service sends (``/v1/metrics``), for a
    journey whose services send no spans. ``histogram``: a duration histogram, explicit or
    exponential (``http.server.request.duration``): latency counts its requests over the
    objective's threshold as bad (those between the highest bucket bound at or under the
    threshold and the threshold too, since a bucket cannot be split), availability those of
    series whose labels match ``error_where``. ``counter``: a request counter, for
    availability only."""

    histogram: str | None = None
    counter: str | None = None
    where: dict[str, str] = {}
    """Labels a series must carry, exactly (``http.route: /checkout``)."""
    error_where: dict[str, str] = {"http.response.status_code": "5.."}
    """Labels whose values, regular expressions matched whole, make a series' requests bad."""
    unit: Literal["s", "ms"] | None = None
    """The histogram's unit where its metric's own ``unit`` is not ``s`` or ``ms``."""

    @model_validator(mode="after")
    def _one_metric(self) -> MetricSli:
        if (self.histogram is None) == (self.counter is None):
            raise ValueError("give exactly one of `histogram` and `counter`")
        return self


class MetricSlis(_Strict):
    """A journey's objectives from its entry service's own OTLP metrics."""

    service: str
    availability: MetricSli | None = None
    latency: MetricSli | None = None

    @model_validator(mode="after")
    def _latency_from_a_histogram(self) -> MetricSlis:
        if self.latency is not None and self.latency.histogram is None:
            raise ValueError("a latency objective is counted from a `histogram`, not a counter")
        return self


class SliConfig(_Strict):
    """Where a journey's events are counted. ``builtin``: the collector's span metrics
    (counted before sampling); ``prometheus``: PromQL against ``sources.prometheus``;
    ``metrics``: the OTLP metrics its entry service sends the bot (``metrics:``)."""

    source: Literal["builtin", "prometheus", "metrics"] = "builtin"
    availability: PrometheusSli | None = None
    latency: PrometheusSli | None = None
    metrics: MetricSlis | None = None


class WatcherConfig(_Strict):
    evaluate_every: Duration = 30
    reinvestigate_every: Duration = 300
    """An open incident is investigated again once its last investigation is this old
    (and at once on escalation); the thread hears of it only when the hypothesis moved.
    Five minutes: the incident window then at least doubles between the first two
    investigations (it starts ``min_incident_window`` long), so each one reads mostly new
    requests, and the parent is never more than one page tier's short window (5 m) behind."""
    resolve_after: Duration = 600
    """An incident resolves when no tier has fired for this long (hysteresis)."""
    current_window: Duration = 60
    """A tier fires only while this recent window still burns above 1x; see
    ``correlators.burn.evaluate_counts``."""
    source_timeout: Duration = 10
    """Each source call of an investigation gets this long before it is given up."""
    baseline: Duration = 3600
    """The healthy window an investigation compares against, ending where the burn began."""
    min_incident_window: Duration = 300
    group_within: Duration = 600
    """Incidents open together whose burns began within this of each other, and whose
    verdicts share a root cause, are grouped under the first opened
    (``bot.incidents.grouping``)."""
    max_exemplars: int = Field(default=200, gt=0)
    baseline_traces: int = Field(default=1000, gt=0)
    investigation_spans: int = Field(default=30_000, gt=0)
    """Spans one investigation may read, bad traces first: what bounds its memory (about
    0.8 KB a span while it runs) when traces are big. Healthy incident and baseline
    samples shrink together, in proportion, to fit what is left."""
