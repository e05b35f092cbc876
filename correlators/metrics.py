"""Robust anomaly scores of metric series: incident window against a healthy baseline.

Scores follow BARO's RobustScaler idea: centre on the baseline's median and scale by its
inter-quartile range, so one spike in the baseline does not hide the incident and a noisy
series does not look anomalous just for being noisy. A series that was flat in the baseline
(IQR 0) falls back to a small scale relative to its level, so a flat line that moves still
scores high, and a flat line at zero that stays at zero scores zero.

The baseline is the series' history up to the end of the baseline window, not only the
points inside it: metrics sampled each minute have one point in a one-minute window, and
one point has no spread to judge a move by.

Two kinds of move say nothing about one service, so :func:`rank_anomalies` takes them out:

- a series whose every value another service's series repeats is not that service's: a
  node's CPU or network exported once per pod on the node locates a node, not a pod (it
  is kept, without a service);
- a move that every series of the same metric made (all pods' latency up with the load)
  is the platform's or the traffic's: each series is scored by how far it moved beyond
  the median move of its peers.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from correlators.model import MetricPoint, MetricSeries

MAX_SCORE = 1000.0
"""Scores are capped: past this the size of the shift says nothing more."""
DEFAULT_THRESHOLD = 3.0
"""Robust z above which a point counts as anomalous."""
MIN_PEERS = 3
"""Series of one metric needed before a common move is taken out of each."""


@dataclass(frozen=True, slots=True)
class Window:
    start_ns: int
    end_ns: int

    def __contains__(self, time_ns: object) -> bool:
        return isinstance(time_ns, int) and self.start_ns <= time_ns < self.end_ns


@dataclass(frozen=True, slots=True)
class MetricAnomaly:
    """How far one series moved, which way, and since when."""

    name: str
    service: str | None
    labels: dict[str, str]
    score: float
    """Shift of the incident window's median, in baseline IQRs (absolute value, capped)."""
    direction: str
    """"up" or "down": metrics like throughput fall, latency and errors rise."""
    baseline_median: float
    incident_median: float
    change_start_ns: int | None
    """First anomalous point after which the series mostly stayed anomalous."""
    baseline_peak: float
    """The highest value of the history the incident is judged against."""

    def saturating(self, load_growth: float = 1.0) -> bool:
        """A resource (CPU, memory) now at more than twice the most its history shows, that
        history scaled up by how much more work the service was given (``load_growth``):
        a process pushed far past its usual load, not one that grew with its traffic or
        wobbled in its noise."""
        ceiling = 2 * max(self.baseline_peak, 0.0) * max(load_growth, 1.0)
        return is_resource(self.name) and self.incident_median > ceiling

    @property
    def signed_score(self) -> float:
        return self.score if self.direction == "up" else -self.score


RESOURCES = frozenset({"cpu", "memory", "mem"})
"""Words that make a metric a resource a process saturates, in any naming convention
(``container.cpu.usage``, ``process_cpu_seconds_total``, ``memory_usage``), rather than a
symptom of its calls (latency, rates, errors)."""
HOSTS = frozenset({"node", "host", "system", "machine"})
"""Words that make a resource the machine's (``node.cpu.usage_rate``,
``system.cpu.utilization``): shared by every pod on it, it locates a node, not a service."""


def is_resource(name: str) -> bool:
    """A process's own resource, by the words of its name."""
    return not _words(name).isdisjoint(RESOURCES) and not is_host(name)


def is_host(name: str) -> bool:
    """A series of the machine, whichever pod's labels it was exported with."""
    return not _words(name).isdisjoint(HOSTS)


def _words(name: str) -> set[str]:
    return set(re.split(r"[._\-/ ]+", name.lower()))


def robust_scale(values: Sequence[float]) -> tuple[float, float]:
    """(median, scale) of the baseline values; scale is the IQR with a floor."""
    if not values:
        raise ValueError("no baseline values")
    median = statistics.median(values)
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        iqr = q3 - q1
    else:
        iqr = 0.0
    floor = max(abs(median) * 0.05, 1e-3)
    return median, max(iqr, floor)


def score_series(
    series: MetricSeries,
    baseline: Window,
    incident: Window,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> MetricAnomaly | None:
    """The anomaly of one series, or None when a window has no points."""
    before = _history(series, baseline, incident)
    during = _incident_points(series, incident)
    if not before or not during:
        return None
    median, scale = robust_scale(before)
    scores = [(p.value - median) / scale for p in during]
    incident_median = statistics.median(p.value for p in during)
    # The score is the shift of the incident's median, not its peak: one spike in a noisy
    # series is not a fault, a level that moved and stayed is.
    shift = (incident_median - median) / scale
    return MetricAnomaly(
        name=series.name,
        service=series.service,
        labels=dict(series.labels),
        score=round(min(abs(shift), MAX_SCORE), 3),
        direction="up" if shift >= 0 else "down",
        baseline_median=median,
        incident_median=incident_median,
        change_start_ns=_change_start([p.time_ns for p in during], [abs(s) for s in scores], threshold),
        baseline_peak=max(before),
    )


def _history(series: MetricSeries, baseline: Window, incident: Window) -> list[float]:
    """The values the incident is judged against: the series' history up to the end of the
    baseline window; when it has none there (a sample each minute, a baseline window of
    less than a minute, or one taken from another hour), its history before the incident."""
    before = [p.value for p in series.points if p.time_ns < baseline.end_ns]
    return before or [p.value for p in series.points if p.time_ns < incident.start_ns]


def _incident_points(series: MetricSeries, incident: Window) -> list[MetricPoint]:
    """The points inside the window; when it is shorter than the series' sampling step
    and holds none, the first sample after its start, which covers it."""
    inside = [p for p in series.points if p.time_ns in incident]
    if inside or len(series.points) < 2:
        return inside
    times = [p.time_ns for p in series.points]
    step = statistics.median(b - a for a, b in pairwise(times))
    after = [p for p in series.points if incident.start_ns <= p.time_ns <= incident.end_ns + step]
    return after[:1]


def rank_anomalies(
    series: Iterable[MetricSeries],
    baseline: Window,
    incident: Window,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[MetricAnomaly]:
    """Series whose incident window is anomalous (score >= threshold), highest first."""
    given = list(series)
    shared = {id(s) for s in given if is_host(s.name)} | _shared_series(given)
    found = [
        (s, a) for s in given if (a := score_series(s, baseline, incident, threshold=threshold)) is not None
    ]
    scored = _beyond_peers([(a if id(s) not in shared else _unowned(a)) for s, a in found])
    anomalous = [a for a in scored if a.score >= threshold]
    return sorted(anomalous, key=lambda a: (-a.score, a.name, sorted(a.labels.items())))


def _shared_series(series: Sequence[MetricSeries]) -> set[int]:
    """Ids of series whose name and values another service's series repeats exactly."""
    owners: defaultdict[tuple[str, tuple[float, ...]], set[str | None]] = defaultdict(set)
    for s in series:
        if len(s.points) > 1:
            owners[_fingerprint(s)].add(s.service)
    return {id(s) for s in series if len(s.points) > 1 and len(owners[_fingerprint(s)]) > 1}


def _fingerprint(series: MetricSeries) -> tuple[str, tuple[float, ...]]:
    return series.name, tuple(p.value for p in series.points)


def _unowned(anomaly: MetricAnomaly) -> MetricAnomaly:
    return replace(anomaly, service=None)


def _beyond_peers(anomalies: Sequence[MetricAnomaly]) -> list[MetricAnomaly]:
    """Each service's series scored by its move beyond the median move of the same
    metric's other series (of services; shared series are left as they are)."""
    moves: defaultdict[str, list[float]] = defaultdict(list)
    for a in anomalies:
        if a.service is not None:
            moves[a.name].append(a.signed_score)
    out = []
    for a in anomalies:
        peers = moves[a.name]
        if a.service is None or len(peers) < MIN_PEERS:
            out.append(a)
            continue
        beyond = a.signed_score - statistics.median(peers)
        out.append(
            replace(a, score=round(min(abs(beyond), MAX_SCORE), 3), direction="up" if beyond >= 0 else "down")
        )
    return out


def _change_start(times: Sequence[int], scores: Sequence[float], threshold: float) -> int | None:
    """The earliest anomalous point from which at least half of the rest stay anomalous.

    A single early blip followed by normal points is not a change; a shift that persists
    is, even if a few later points dip back under the threshold.
    """
    above = [score >= threshold for score in scores]
    remaining_above = sum(above)
    for index, is_above in enumerate(above):
        rest = len(above) - index
        if is_above and remaining_above * 2 >= rest:
            return times[index]
        remaining_above -= is_above
    return None
