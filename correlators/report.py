"""The neutral report every edge renders: Slack blocks, web pages, the CLI.

``to_json`` is the versioned JSON form of the data; the bot writes it with its sentences
added (``bot.render.report``: the CLI's JSON, the incident API, the reports stored with
incidents). ``from_json`` reads it back, including reports stored by older code, so the
edges read a typed report and never look keys up in a dict. No sentence is built here:
the edges word the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from correlators.attributes import AttributeFinding
from correlators.bottleneck import Bottleneck
from correlators.budget import HopShare
from correlators.changes import ChangeFinding
from correlators.errors import ReportFormatError, SchemaVersionError
from correlators.findings import KNOWN_FINDINGS
from correlators.gaps import Gap
from correlators.grounds import KNOWN_GROUNDS
from correlators.grown_patterns import GrownPattern
from correlators.input_gaps import InputGap
from correlators.logs import TemplateChange
from correlators.metrics import MetricAnomaly
from correlators.model import SCHEMA_VERSION, LogRecord, log_to_dict
from correlators.rank import Candidate
from correlators.scope import Scope
from correlators.similar import SimilarIncident

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Missing:
    """A signal the analysis lacked, for the edges to word."""

    what: str
    """no_logs | no_metrics | no_baseline | thin_baseline | no_bad_traces (the analysis);
    source_timeout | source_failed (a source an investigation asked)."""
    traces: int | None = None
    """thin_baseline: how many baseline traces there were."""
    source: str | None = None
    """The source call that failed, as the investigation names it."""
    seconds: float | None = None
    """source_timeout: how long it was given."""
    error: str | None = None
    """source_failed: what the source said."""
    said: str = ""
    """The whole thing in words, only as a report stored before these fields existed has it."""


@dataclass(slots=True)
class Report:
    journey: str | None
    scope: Scope
    candidates: list[Candidate]
    bottlenecks: list[Bottleneck]
    attributes: list[AttributeFinding]
    log_changes: list[TemplateChange]
    metric_anomalies: list[MetricAnomaly]
    gaps: list[Gap]
    bad_traces: int
    baseline_traces: int
    missing: list[Missing] = field(default_factory=list)
    """Signals the analysis lacked."""
    budget: list[HopShare] = field(default_factory=list)
    """Each bad event charged to one hop; shares sum to 1."""
    exemplar_logs: dict[str, list[LogRecord]] = field(default_factory=dict)
    """The logs of a few bad traces, by trace id, in time order."""
    changes: list[ChangeFinding] = field(default_factory=list)
    """Deploys, config changes and flag flips around the burn, suspects first."""
    similar: list[SimilarIncident] = field(default_factory=list)
    """Earlier incidents of the journey with the same top suspect or scope."""
    worst_traces: list[str] = field(default_factory=list)
    """Ids of the worst bad traces: failed ones first, then the slowest."""
    input_gaps: list[InputGap] = field(default_factory=list)
    """What reading each input file skipped (set by the reader's caller, not the analysis)."""
    grown_patterns: list[GrownPattern] = field(default_factory=list)
    """Patterns on the bad requests' critical path, new or grown against the baseline,
    with their fix's part of the added latency. An addition: the verdict never reads it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_VERSION,
            "model_schema_version": SCHEMA_VERSION,
            "journey": self.journey,
            "scope": asdict(self.scope),
            "candidates": [_candidate(c) for c in self.candidates],
            "bottlenecks": [asdict(b) for b in self.bottlenecks],
            "attributes": [{**asdict(a), "lift": round(a.lift, 2)} for a in self.attributes],
            "log_changes": [asdict(c) for c in self.log_changes],
            "metric_anomalies": [asdict(m) for m in self.metric_anomalies],
            "gaps": [asdict(g) for g in self.gaps],
            "budget": [asdict(h) for h in self.budget],
            "exemplar_logs": {
                trace_id: [log_to_dict(r) for r in records]
                for trace_id, records in self.exemplar_logs.items()
            },
            "changes": [{**asdict(c.change), **_without(asdict(c), "change")} for c in self.changes],
            "similar": [asdict(s) for s in self.similar],
            "worst_traces": self.worst_traces,
            "bad_traces": self.bad_traces,
            "baseline_traces": self.baseline_traces,
            "missing_signals": [asdict(m) for m in self.missing],
            "input_gaps": [{**asdict(g), "skipped": g.skipped} for g in self.input_gaps],
            "grown_patterns": [
                {**asdict(g), "kind": g.kind.value, "examples": list(g.examples)} for g in self.grown_patterns
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """The report ``to_json`` wrote, typed again. Keys this reader does not know are
        ignored (``summary``, ``lift``, ``skipped`` are derived, a change's ``summary`` is
        the edge's; a newer writer may add more); a field added after the report was
        stored takes its default, so an incident's report from an older release still
        reads. Raises :class:`ReportFormatError` when a field holds the wrong type or a
        required one is missing, :class:`SchemaVersionError` for a report of a newer
        schema."""
        version = data.get("schema_version", REPORT_VERSION)
        if not isinstance(version, int) or version > REPORT_VERSION:
            raise SchemaVersionError(f"report schema version {version!r}; this reader knows {REPORT_VERSION}")
        try:
            return _reader().validate_python(_as_fields(data))
        except ValidationError as e:
            raise ReportFormatError(f"stored report does not read: {_first_error(e)}") from e


@cache
def _reader() -> TypeAdapter[Report]:
    """Built on first use: validating the nested dataclasses is pydantic's job, and its
    schema takes a few milliseconds to build that an analysis alone never needs."""
    return TypeAdapter(Report)


_CHANGE_KEYS = ("service", "kind", "time_ns", "version", "link", "description", "source", "release")


def _as_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON's layout turned back into the dataclasses': a change finding's change is
    flattened into it, and fields added since a report was stored get a value of its own
    (a metric's history peak is at least its median)."""
    fields = dict(data)
    if isinstance(fields.get("scope"), Mapping):
        fields["scope"] = _scope_fields(fields["scope"])
    if isinstance(fields.get("gaps"), list):
        fields["gaps"] = [_gap_fields(g) for g in fields["gaps"]]
    if isinstance(fields.get("input_gaps"), list):
        fields["input_gaps"] = [_input_gap_fields(g) for g in fields["input_gaps"]]
    if isinstance(fields.get("changes"), list):
        fields["changes"] = [_change_finding(c) for c in fields["changes"]]
    if isinstance(fields.get("metric_anomalies"), list):
        fields["metric_anomalies"] = [_metric_anomaly(m) for m in fields["metric_anomalies"]]
    if isinstance(fields.get("candidates"), list):
        fields["candidates"] = [_candidate_fields(c) for c in fields["candidates"]]
    if isinstance(fields.get("missing_signals"), list):
        fields["missing"] = fields["missing_signals"]
    elif isinstance(fields.get("missing"), list):
        fields["missing"] = [{"what": "", "said": m} if isinstance(m, str) else m for m in fields["missing"]]
    if isinstance(fields.get("similar"), list):
        fields["similar"] = [_similar_fields(s) for s in fields["similar"]]
    return fields


def _similar_fields(data: Any) -> Any:
    """A past incident written with what it shares (``same``) is worded by the edge again;
    an older one keeps its sentence."""
    if isinstance(data, Mapping) and data.get("same") is not None:
        return {**data, "why": ""}
    return data


def _candidate_fields(data: Any) -> Any:
    """Figures of a kind of finding this reader does not know (a newer release's) are left
    out: the evidence's sentence still says it."""
    if not isinstance(data, Mapping) or not isinstance(data.get("evidence"), list):
        return data
    return {**data, "evidence": [_known_figures(e) for e in data["evidence"]]}


def _known_figures(data: Any) -> Any:
    """Where the figures are known the sentence is the edge's to word again (it was
    written for older readers): the report reads back as the analysis returned it."""
    if not isinstance(data, Mapping) or not isinstance(data.get("figures"), Mapping):
        return data
    if data["figures"].get("finding") in KNOWN_FINDINGS:
        return {**data, "summary": ""}
    return {**data, "figures": None}


def _scope_fields(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Grounds this reader knows leave the reasons to the edge to word again; a ground of a
    kind it does not know (a newer release's) leaves them all to the stored sentences."""
    grounds = data.get("grounds")
    if not isinstance(grounds, list) or not grounds:
        return data
    if all(isinstance(g, Mapping) and g.get("ground") in KNOWN_GROUNDS for g in grounds):
        return {**data, "reasons": []}
    return {**data, "grounds": []}


def _gap_fields(data: Any) -> Any:
    """A gap written with its figures (``callee`` is written, if only as null) is worded
    by the edge again; an older one keeps its sentence."""
    if isinstance(data, Mapping) and "callee" in data:
        return {**data, "detail": ""}
    return data


_SKIP = re.compile(r"line (\d+): (.*)", re.DOTALL)


def _input_gap_fields(data: Any) -> Any:
    """Reasons written as sentences ("line 3: not JSON") by a release before they were
    kept apart."""
    if not isinstance(data, Mapping) or not isinstance(data.get("reasons"), list):
        return data
    return {**data, "reasons": [_skip(r) for r in data["reasons"]]}


def _skip(reason: Any) -> Any:
    if not isinstance(reason, str):
        return reason
    said = _SKIP.fullmatch(reason)
    return {"line": int(said[1]), "why": said[2]} if said else {"line": None, "why": reason}


def _change_finding(data: Any) -> Any:
    if not isinstance(data, Mapping):
        return data
    return {**data, "change": {k: data[k] for k in _CHANGE_KEYS if k in data}}


def _metric_anomaly(data: Any) -> Any:
    if not isinstance(data, Mapping) or "baseline_peak" in data:
        return data
    return {**data, "baseline_peak": data.get("baseline_median", 0.0)}


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "service": c.service,
        "instance": c.instance,
        "operation": c.operation,
        "score": c.score,
        "parts": c.parts,
        "evidence": [asdict(e) for e in c.evidence],
    }
