"""Log templates: what the services started saying, or say much more, during an incident.

Log lines are mined into templates with Drain3 (numbers, ids, addresses and durations
masked first, so "timeout after 512 ms" and "timeout after 730 ms" are one template).
Templates are counted per service in the baseline and the incident window and compared as
rates, because the two windows rarely have the same length: a template is *new* when the
baseline never had it, *surging* when its rate grew by at least ``surge_factor``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from correlators.model import LogRecord

logging.getLogger("drain3").setLevel(logging.WARNING)

_MASKS = (
    (r"\b[0-9a-fA-F]{16,}\b", "HEX"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "UUID"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "IP"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|s|us|µs|ns)?(?![\w.])", "NUM"),
)
ERROR_SEVERITY = 17
"""OTel severity number of ERROR; WARN is 13."""


@dataclass(slots=True)
class TemplateChange:
    """One template of one service that is new or surging in the incident window."""

    service: str
    template: str
    kind: str
    """"new" or "surging"."""
    baseline_count: int
    incident_count: int
    rate_ratio: float | None
    """Incident rate over baseline rate; None for new templates."""
    max_severity: int
    sample: str
    trace_ids: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.max_severity >= ERROR_SEVERITY


def new_miner() -> TemplateMiner:
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = 0.5
    config.masking_instructions = [MaskingInstruction(regex, mask) for regex, mask in _MASKS]
    return TemplateMiner(config=config)


class Mined(NamedTuple):
    """Each window's records with their template ids, and the templates by id."""

    before: list[tuple[LogRecord, int]]
    during: list[tuple[LogRecord, int]]
    templates: dict[int, str]


def mine_templates(baseline: Sequence[LogRecord], incident: Sequence[LogRecord]) -> Mined:
    """Both windows through one miner (baseline first) so a template has one id in both;
    mined once per analysis for every comparison that reads templates."""
    miner = new_miner()
    before = [(record, int(miner.add_log_message(record.body)["cluster_id"])) for record in baseline]
    during = [(record, int(miner.add_log_message(record.body)["cluster_id"])) for record in incident]
    return Mined(before, during, {c.cluster_id: str(c.get_template()) for c in miner.drain.clusters})


def compare_templates(
    baseline: Sequence[LogRecord],
    incident: Sequence[LogRecord],
    *,
    baseline_seconds: float,
    incident_seconds: float,
    surge_factor: float = 3.0,
    min_count: int = 3,
    mined: Mined | None = None,
) -> list[TemplateChange]:
    """New and surging templates per service, most telling first: error-level templates
    before others, then by how many lines they account for. ``mined``: the windows'
    templates when the caller has them already."""
    if baseline_seconds <= 0 or incident_seconds <= 0:
        raise ValueError("window lengths must be positive")
    before_ids, during_ids, templates = mined or mine_templates(baseline, incident)
    before = _count(before_ids)
    during = _count(during_ids)
    changes = []
    for key, stats in during.items():
        old = before.get(key)
        change = _change(key, stats, old, templates, baseline_seconds, incident_seconds, surge_factor)
        if change is not None and change.incident_count >= min_count:
            changes.append(change)
    return sorted(changes, key=lambda c: (not c.is_error, -c.incident_count, c.service, c.template))


def logs_by_trace(logs: Iterable[LogRecord], trace_ids: Iterable[str]) -> dict[str, list[LogRecord]]:
    """The logs of the given traces, in time order, keyed by trace id."""
    wanted = set(trace_ids)
    found: dict[str, list[LogRecord]] = defaultdict(list)
    for record in logs:
        if record.trace_id in wanted:
            found[record.trace_id].append(record)
    return {trace_id: sorted(records, key=lambda r: r.time_ns) for trace_id, records in found.items()}


@dataclass(slots=True)
class _Stats:
    count: int = 0
    max_severity: int = 0
    sample: str = ""
    trace_ids: Counter[str] = field(default_factory=Counter)


def _count(records: Sequence[tuple[LogRecord, int]]) -> dict[tuple[str, int], _Stats]:
    counts: dict[tuple[str, int], _Stats] = defaultdict(_Stats)
    for record, template in records:
        stats = counts[(record.service, template)]
        stats.count += 1
        if record.severity_number > stats.max_severity or not stats.sample:
            stats.sample = record.body
        stats.max_severity = max(stats.max_severity, record.severity_number)
        if record.trace_id:
            stats.trace_ids[record.trace_id] += 1
    return counts


def _change(
    key: tuple[str, int],
    stats: _Stats,
    old: _Stats | None,
    templates: dict[int, str],
    baseline_seconds: float,
    incident_seconds: float,
    surge_factor: float,
) -> TemplateChange | None:
    service, cluster_id = key
    template = templates.get(cluster_id, "")
    traces = [trace_id for trace_id, _ in stats.trace_ids.most_common(5)]
    if old is None or old.count == 0:
        return TemplateChange(
            service, template, "new", 0, stats.count, None, stats.max_severity, stats.sample, traces
        )
    ratio = (stats.count / incident_seconds) / (old.count / baseline_seconds)
    if ratio < surge_factor:
        return None
    return TemplateChange(
        service,
        template,
        "surging",
        old.count,
        stats.count,
        round(ratio, 2),
        max(stats.max_severity, old.max_severity),
        stats.sample,
        traces,
    )
