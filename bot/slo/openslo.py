"""OpenSLO v1 (https://github.com/OpenSLO/OpenSLO) as journeys: each ``kind: SLO`` with the
SLI and alert policies it names.

What each field becomes, and why:

- ``metadata.name`` is the journey's name (lower-cased, other characters ``-``);
  ``spec.service`` its ``owner``: the nearest thing an SLO says about who answers for it.
- ``objectives[0]``: ``target`` (0..1) or ``targetPercent`` (0..100) is the objective. A
  ``ratioMetric`` SLI is availability (latency when it counts a histogram bucket, see
  ``documents.ratio_objective``); a ``thresholdMetric`` with ``op: lt|lte`` and ``value`` is
  latency ``{threshold_ms, target}``, the value read in the unit the metric's name gives
  (``_seconds``, ``_milliseconds``; refused without one). A journey has one objective of a
  kind, so further objectives are reported.
- ``timeWindow[0].duration`` is ``slo_window``. We keep rolling windows only, so calendar
  windows (and ``M``, ``Q``, ``Y``: 30, 90, 365 days) become rolling ones of that length.
- The SLI (inline ``indicator`` or ``indicatorRef`` to a ``kind: SLI``) with Prometheus
  ``good`` or ``bad`` and ``total`` queries becomes ``sli: {source: prometheus, ...}``,
  every range selector (``[5m]``) made ``[{window}]`` so each burn-rate window reads its own
  range, and ``rate()`` made ``increase()`` (see ``documents.ratio_objective``). A threshold
  query over a histogram becomes a latency SLI over that histogram. Other sources, ``raw``
  ratios and other threshold queries keep the objective and count events from spans
  (``sli.source: builtin``), with a warning.
- ``alertPolicies`` with ``kind: burnrate`` conditions add ``alerts`` tiers beside the
  default ones: ``threshold`` is the burn rate, ``lookbackWindow`` the long window, the
  short window a twelfth of it as in the SRE workbook. ``alertAfter``, notification targets
  and no-data alerts have no equivalent and are reported.

``Service``, ``DataSource`` and ``AlertNotificationTarget`` objects may be present (SLOs
refer to them) but become nothing themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from bot.durations import format_duration
from bot.slo.documents import (
    Document,
    Draft,
    Field,
    journey_name,
    milliseconds,
    ratio_objective,
    tidy,
    warn_unless_promql,
)

KINDS = ("SLO", "SLI", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "Service", "DataSource")

_DURATION = re.compile(r"(\d+)([mhdwMQY])")
_DAY = 86400
_DURATION_S = {"m": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY, "M": 30 * _DAY, "Q": 90 * _DAY, "Y": 365 * _DAY}
_TEMPLATE = re.compile(r"\{\{\s*\.window\s*\}\}")
_RANGE = re.compile(r"\[\s*(?:\d+(?:ms|[smhdwy]))+\s*(?=[:\]])")
_SERIES = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
_HISTOGRAM = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\b\s*(?:\{([^}]*)\})?")
_MATCHER = re.compile(r"""([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_PAGE = {"page", "critical", "high", "urgent", "sev0", "sev1", "p0", "p1"}
_TICKET = {"ticket", "warning", "medium", "low", "info", "sev2", "sev3", "sev4", "p2", "p3", "p4"}


class Library:
    """Every OpenSLO object of the input by kind and name, so that an SLO's ``indicatorRef``
    and ``alertPolicyRef`` resolve to objects in other documents of the same file."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self._objects: dict[tuple[str, str], Document] = {}
        for doc in documents:
            kind = doc.root.at("kind").text()
            if kind not in KINDS:
                expected = ", ".join(KINDS)
                doc.root.at("kind").fail(
                    f"unknown OpenSLO kind {kind!r} (apiVersion openslo/v1); expected {expected}"
                )
            name = doc.root.at("metadata", "name")
            if (kind, name.text()) in self._objects:
                name.fail(f"another {kind} has this name: {self._objects[kind, name.text()].label}")
            self._objects[kind, name.text()] = doc

    def find(self, kind: str, name: str) -> Document | None:
        return self._objects.get((kind, name))

    def convert(self, doc: Document) -> list[Draft]:
        """The journey of an SLO; nothing for the objects an SLO refers to."""
        kind = doc.data["kind"]
        if kind == "DataSource":
            doc.warn("connection details are not imported; journeywatch queries sources.prometheus")
        return self._slo(doc) if kind == "SLO" else []

    # --- the SLO ----------------------------------------------------------------------

    def _slo(self, doc: Document) -> list[Draft]:
        spec = doc.root.at("spec")
        name_field = doc.root.at("metadata", "name")
        name = journey_name(name_field.text())
        if not name:
            name_field.fail("has no letter or digit to make a journey name of")
        objectives = spec.at("objectives").items()
        if not objectives:
            spec.at("objectives").fail("needs at least one objective")
        if len(objectives) > 1:
            spec.at("objectives").warn(
                f"has {len(objectives)} objectives; a journey keeps one, so only the first is imported"
            )
        measure = self._measure(self._indicator(spec), objectives[0], _target(objectives[0]))
        if measure is None:
            return []
        service = spec.at("service").optional_text()
        journey: dict[str, Any] = {"name": name} | ({"owner": service} if service else {})
        journey |= {"objectives": measure["objectives"], "slo_window": _window(spec), "sli": measure["sli"]}
        _check_budgeting(spec)
        alerts = self._alerts(spec)
        if alerts:
            journey["alerts"] = alerts
        return [Draft(journey, doc.root, service)]

    def _indicator(self, spec: Field) -> Field:
        """The SLI's ``spec``: inline, or the ``kind: SLI`` document ``indicatorRef`` names."""
        inline, ref = spec.at("indicator"), spec.at("indicatorRef")
        if inline.exists:
            return inline.at("spec") if inline.at("spec").exists else inline
        if not ref.exists:
            spec.fail("needs indicator or indicatorRef")
        sli = self.find("SLI", ref.text())
        if sli is None:
            ref.fail(f"no kind: SLI named {ref.text()!r} in this file; add its document")
        return sli.root.at("spec")

    def _measure(self, sli: Field, objective: Field, target: float) -> dict[str, Any] | None:
        """``objectives`` and ``sli`` of the journey; None when nothing can be watched."""
        if sli.at("ratioMetric").exists:
            return self._ratio(sli.at("ratioMetric"), target)
        if sli.at("thresholdMetric").exists:
            return self._threshold(sli.at("thresholdMetric"), objective, target)
        sli.fail("needs ratioMetric or thresholdMetric")

    def _ratio(self, ratio: Field, target: float) -> dict[str, Any]:
        if ratio.at("raw").exists:
            ratio.warn(
                "a raw ratio has no total and good or bad counts to burn-rate over; "
                "the journey counts its events from spans (sli.source builtin)"
            )
            return _builtin({"availability": tidy(target)})
        good, bad, total = ratio.at("good"), ratio.at("bad"), ratio.at("total")
        if good.exists == bad.exists or not total.exists:
            ratio.fail("needs total with exactly one of good and bad (or raw)")
        counted = good if good.exists else bad
        source = next((s for s in map(self._source, (counted, total)) if s.lower() != "prometheus"), None)
        if source is not None:
            ratio.warn(
                f"the SLI reads {source}, not Prometheus; the journey counts its events from spans "
                "(sli.source builtin)"
            )
            return _builtin({"availability": tidy(target)})
        if ratio.at("counter").exists and not ratio.at("counter").flag():
            ratio.warn("counter: false: journeywatch needs event counts over a window; check the queries")
        counts: Literal["good", "bad"] = "good" if good.exists else "bad"
        return ratio_objective(target, ratio, _windowed(total), _windowed(counted), counts)

    def _threshold(self, metric: Field, objective: Field, target: float) -> dict[str, Any] | None:
        op = objective.at("op").text()
        value = objective.at("value").number()
        if op in ("gt", "gte"):
            objective.warn(
                f"op {op}: a value that must stay above {tidy(value)} is not a latency objective; "
                "this SLO is not imported"
            )
            return None
        if op not in ("lt", "lte"):
            objective.at("op").fail(f"{op!r} is not one of lt, lte, gt, gte")
        source = self._source(metric)
        if source.lower() != "prometheus":
            metric.warn(
                f"the SLI reads {source}, not Prometheus; the journey counts requests slower than the "
                "threshold from its spans (sli.source builtin)"
            )
            latency = {"threshold_ms": milliseconds(value, "", objective), "target": tidy(target)}
            return _builtin({"latency": latency})
        query = metric.at("metricSource", "spec", "query").text()
        warn_unless_promql(metric, [query])
        histogram = _histogram(query)
        unit_of = histogram[0] if histogram else next(iter(_SERIES.findall(query)), "")
        latency = {"threshold_ms": milliseconds(value, unit_of, objective), "target": tidy(target)}
        if histogram is None:
            metric.warn(
                "a threshold query not over a histogram gives no event counts; the journey counts "
                "requests slower than the threshold from its spans (sli.source builtin)"
            )
            return _builtin({"latency": latency})
        sli = _histogram_sli(metric, *histogram, value)
        return {"objectives": {"latency": latency}, "sli": {"source": "prometheus", "latency": sli}}

    def _source(self, metric: Field) -> str:
        """The metric source's type, looked up in its DataSource when only referenced. A
        source we cannot place is read as Prometheus, the only one we import, with a warning."""
        source = metric.at("metricSource")
        if source.at("type").exists:
            return source.at("type").text()
        ref = source.at("metricSourceRef").optional_text()
        data_source = self.find("DataSource", ref) if ref else None
        if data_source is not None and data_source.root.at("spec", "type").exists:
            return data_source.root.at("spec", "type").text()
        source.warn(f"{source.name} has no type (and no DataSource in this file); read as Prometheus")
        return "Prometheus"

    # --- alerts -----------------------------------------------------------------------

    def _alerts(self, spec: Field) -> dict[str, dict[str, Any]]:
        tiers: dict[str, dict[str, Any]] = {}
        for entry in spec.at("alertPolicies").items():
            policy = self._resolve(entry, "AlertPolicy", "alertPolicyRef")
            for condition in self._conditions(policy) if policy else []:
                tier = _tier(condition)
                if tier is not None and tier[0] in tiers:
                    condition.warn(f"a second alert condition named {tier[0]!r} is not imported")
                elif tier is not None:
                    tiers[tier[0]] = tier[1]
        return tiers

    def _conditions(self, policy: Field) -> list[Field]:
        spec = policy.at("spec")
        if spec.at("alertWhenNoData").flag():
            policy.warn("alertWhenNoData is not carried over; journeywatch alerts on burn rates only")
        targets = [
            t.at("targetRef").optional_text() or t.at("metadata", "name").optional_text() or "inline"
            for t in spec.at("notificationTargets").items()
        ]
        if targets:
            policy.warn(
                f"notification targets ({', '.join(targets)}) are not imported; incidents go to the "
                "journey's channel"
            )
        found = (self._resolve(c, "AlertCondition", "conditionRef") for c in spec.at("conditions").items())
        return [c for c in found if c is not None]

    def _resolve(self, entry: Field, kind: str, ref_key: str) -> Field | None:
        """An inline object, or the document a reference (``{alertPolicyRef: x}`` or, as the
        reference Go model has it, a bare name) points at; a missing one is reported."""
        if isinstance(entry.value, str) or entry.at(ref_key).exists:
            name = entry.text() if isinstance(entry.value, str) else entry.at(ref_key).text()
            doc = self.find(kind, name)
            if doc is None:
                entry.warn(f"{kind} {name!r} is not in this file; it is not imported")
            return doc.root if doc else None
        if not entry.at("spec").exists:
            entry.fail(f"needs {ref_key} or an inline {kind} with metadata and spec")
        return entry


def _tier(condition: Field) -> tuple[str, dict[str, Any]] | None:
    """A burn-rate condition as a new alert tier; None (and why) when it is not one."""
    name = journey_name(condition.at("metadata", "name").text())
    spec = condition.at("spec")
    rule = spec.at("condition")
    kind = rule.at("kind").optional_text() or "burnrate"
    if kind.lower() != "burnrate":
        condition.warn(f"condition kind {kind!r} is not a burn rate; not imported")
        return None
    if rule.at("op").optional_text() in ("lt", "lte"):
        condition.warn("alerting while the burn rate is below a threshold is not imported")
        return None
    burn_rate = rule.at("threshold").number()
    if burn_rate <= 0:
        rule.at("threshold").fail("a burn rate must be positive")
    long_s = _duration(rule.at("lookbackWindow"))
    short_s = min(long_s, max(60, long_s // 12))
    if rule.at("alertAfter").exists and _duration(rule.at("alertAfter"), allow_zero=True):
        condition.warn(
            f"alertAfter {rule.at('alertAfter').text()} has no equivalent; the tier also needs its "
            f"short window ({format_duration(short_s)}, a twelfth of lookbackWindow) to burn"
        )
    tier = {
        "severity": _severity(spec.at("severity")),
        "burn_rate": tidy(burn_rate),
        "long_window": format_duration(long_s),
        "short_window": format_duration(short_s),
    }
    return name, tier


def _severity(field: Field) -> str:
    """``page`` or ``ticket`` from OpenSLO's free-form severity; unknown ones open tickets."""
    text = field.optional_text() or ""
    if text.lower() in _PAGE | _TICKET:
        return "page" if text.lower() in _PAGE else "ticket"
    field.warn(f"severity {text or 'missing'!r} is neither page nor ticket; imported as ticket")
    return "ticket"


# --- plain values ---------------------------------------------------------------------


def _builtin(objectives: dict[str, Any]) -> dict[str, Any]:
    return {"objectives": objectives, "sli": {"source": "builtin"}}


def _target(objective: Field) -> float:
    """The objective as a share of good events, from ``target`` or ``targetPercent``."""
    target, percent = objective.at("target"), objective.at("targetPercent")
    if target.exists and percent.exists:
        objective.fail("give target or targetPercent, not both")
    if not (target.exists or percent.exists):
        objective.fail("needs target (0 to 1) or targetPercent (0 to 100)")
    given = target if target.exists else percent
    value = given.number() / (1 if target.exists else 100)
    if not 0 < value < 1:
        given.fail("must leave an error budget: above 0 and below 1 (or 100 for targetPercent)")
    return value


def _check_budgeting(spec: Field) -> None:
    method = spec.at("budgetingMethod").optional_text() or "Occurrences"
    if method.lower().endswith("timeslices"):
        spec.at("budgetingMethod").warn(
            f"budgetingMethod {method}: journeywatch counts events (Occurrences), so the objective "
            "now applies to requests, and timeSliceTarget and timeSliceWindow are not carried over"
        )


def _window(spec: Field) -> str:
    """``slo_window`` from the one ``timeWindow``; our default 30d when there is none."""
    windows = spec.at("timeWindow").items()
    if not windows:
        spec.warn("no timeWindow; the journey uses journeywatch's default 30d")
        return "30d"
    if len(windows) > 1:
        spec.at("timeWindow").fail("must hold exactly one window")
    window = windows[0]
    seconds = _duration(window.at("duration"))
    rolling = window.at("isRolling")
    calendar = window.at("calendar").exists or (rolling.exists and not rolling.flag())
    if calendar or window.at("duration").text()[-1] in "MQY":
        window.warn(
            f"the calendar window {window.at('duration').text()} is read as a rolling "
            f"{format_duration(seconds)}; journeywatch keeps rolling windows only"
        )
    return format_duration(seconds)


def _duration(field: Field, *, allow_zero: bool = False) -> int:
    """Seconds of an OpenSLO duration shorthand (``5m``, ``28d``, ``4w``, ``1M``). Ours
    would read ``1M`` as one minute, so OpenSLO's own grammar is parsed here."""
    text = field.text().strip()
    match = _DURATION.fullmatch(text)
    if match is None or (int(match.group(1)) == 0 and not allow_zero):
        field.fail(f"{text!r} is not an OpenSLO duration such as 5m, 1h, 28d or 4w")
    return int(match.group(1)) * _DURATION_S[match.group(2)]


def _windowed(metric: Field) -> str:
    """A Prometheus query with ``[{window}]`` for its range selectors (and for Sloth-style
    ``{{.window}}``), so each burn-rate window reads a range of its own length."""
    query = metric.at("metricSource", "spec", "query")
    text = _RANGE.sub("[{window}", _TEMPLATE.sub("{window}", query.text()))
    if "{window}" not in text:
        query.warn(
            f"{query.name} has no range selector such as [5m]; edit it to count over [{{window}}], "
            "or every burn-rate window reads the same value"
        )
    return text


def _histogram_sli(metric: Field, histogram: str, selector: str, value: float) -> dict[str, str]:
    """The latency SLI over the histogram a threshold query reads, in our ``histogram``
    form: its bucket bounds are in the unit its name gives (a name without one was refused
    by :func:`~bot.slo.documents.milliseconds` already)."""
    le = f'le="{tidy(value)}"'
    metric.warn(
        f"the query compares one value per time slice with {tidy(value)}; journeywatch counts "
        f"requests slower than that in {histogram} instead, so {le} must be one of its buckets"
    )
    return {"histogram": histogram} | ({"selector": selector} if selector else {})


def _histogram(query: str) -> tuple[str, str] | None:
    """The histogram a threshold query reads (``histogram_quantile`` over ``x_bucket``) and
    its label matchers but ``le``; None unless exactly one histogram is read."""
    found = _HISTOGRAM.findall(query)
    if len({name for name, _ in found}) != 1:
        return None
    name, matchers = found[0]
    kept = [f"{label}{op}{value}" for label, op, value in _MATCHER.findall(matchers) if label != "le"]
    return name, ",".join(kept)
