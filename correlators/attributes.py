"""Which attributes are over-represented in bad traces, against the healthy baseline.

Each trace is reduced to the set of attribute values it touched: span attributes (feature
flags as OpenFeature's ``feature_flag.*``, user cohort, route …) at trace level, and the
per-service facts a release or an infrastructure fault hides behind (version, instance,
zone, region) qualified by their service, because "cart 1.4.3" means something and
"version 1.4.3" does not. Values that identify a single request (ids, URLs, timestamps)
are left out by cardinality, not by a list of names, so unknown id attributes go too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from correlators.model import Span, Trace

MAX_DISTINCT_VALUES = 30
"""An attribute with more distinct values than this across all traces is an identifier."""

_IGNORED_PREFIXES = ("telemetry.", "otel.", "process.", "thread.", "code.", "exception.")
_IGNORED_KEYS = frozenset(
    {
        # what a failure says about itself: over-represented in failed traces by definition
        "error",
        "error.type",
        "error.message",
        "http.status_code",
        "http.response.status_code",
        "rpc.grpc.status_code",
        "rpc.connect_rpc.error_code",
        "db.response.status_code",
        # which endpoint a call went to
        "server.port",
        "client.port",
        "network.peer.port",
        "network.local.port",
        "net.peer.port",
        "net.host.port",
        "net.sock.peer.port",
        "net.sock.host.port",
    }
)
"""A failure's own marks (status codes, ``error.type``, ``exception.*``) are in the failed
traces because they failed: "status 500 is over-represented in failed requests" says
nothing. Ports say which endpoint a call went to, which the service facts already say: a
bad service's port is over-represented exactly when the service is, and reads as noise."""


@dataclass(frozen=True, slots=True)
class AttributeFinding:
    """An attribute value and how often it appears in bad traces versus baseline traces."""

    key: str
    value: str
    service: str | None
    """Set for per-service facts (version, instance, zone, region)."""
    bad_share: float
    baseline_share: float
    bad_count: int
    baseline_count: int

    @property
    def lift(self) -> float:
        """How many times likelier the value is in a bad trace (baseline floored)."""
        return self.bad_share / max(self.baseline_share, 0.01)


Fact = tuple[str, str, str | None]


def trace_facts(trace: Trace) -> set[Fact]:
    """The (key, value, service) facts a trace touched, each once."""
    facts: set[Fact] = set()
    for span in trace.spans:
        facts.update(_span_facts(span))
    return facts


def over_represented(
    bad: Sequence[Trace],
    baseline: Sequence[Trace],
    *,
    min_bad_share: float = 0.3,
    min_difference: float = 0.2,
    limit: int = 10,
) -> list[AttributeFinding]:
    """Attribute values common in bad traces and clearly rarer in the baseline, ranked.

    Ranked by the difference of the two shares (how much of the bad population the value
    explains), then by lift. Values present in nearly every trace of both populations
    (the same region for everyone) never make the list.
    """
    if not bad:
        return []
    bad_counts = _count([trace_facts(t) for t in bad])
    base_shares, base_counts = _stratified_baseline(bad, baseline)
    identifiers = _identifier_keys(bad_counts + base_counts)
    findings = []
    for fact, count in bad_counts.items():
        if (fact[0], fact[2]) in identifiers:
            continue
        finding = _finding(fact, count, len(bad), base_shares.get(fact, 0.0), base_counts[fact])
        if finding.bad_share >= min_bad_share and (
            finding.bad_share - finding.baseline_share >= min_difference
        ):
            findings.append(finding)
    findings.sort(key=lambda f: (-(f.bad_share - f.baseline_share), -f.lift, f.key, f.value, f.service or ""))
    return findings[:limit]


def _span_facts(span: Span) -> Iterable[Fact]:
    service_facts = (
        ("service.version", span.service_version),
        ("service.instance", span.instance),
        ("cloud.availability_zone", span.zone),
        ("cloud.region", span.region),
    )
    for key, fact in service_facts:
        if fact:
            yield key, fact, span.service
    for key, value in span.attributes.items():
        if (
            value is None
            or isinstance(value, list | dict)  # maps were lists of pairs until model schema 2
            or key in _IGNORED_KEYS
            or key.startswith(_IGNORED_PREFIXES)
        ):
            continue
        yield key, attribute_text(value), None


def attribute_text(value: object) -> str:
    """An attribute value as findings name it: booleans as JSON writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _count(populations: Sequence[set[Fact]]) -> Counter[Fact]:
    counts: Counter[Fact] = Counter()
    for facts in populations:
        counts.update(facts)
    return counts


def _identifier_keys(counts: Counter[Fact]) -> set[tuple[str, str | None]]:
    distinct: Counter[tuple[str, str | None]] = Counter((key, service) for key, _, service in counts)
    return {key for key, n in distinct.items() if n > MAX_DISTINCT_VALUES}


def _stratified_baseline(
    bad: Sequence[Trace], baseline: Sequence[Trace]
) -> tuple[dict[Fact, float], Counter[Fact]]:
    """Baseline shares weighted by the journeys of the bad traces, so that a value tied
    to one journey (a service only checkout calls) is not "over-represented" merely
    because the bad traces are mostly of that journey."""
    weights = Counter(t.journey for t in bad)
    shares: defaultdict[Fact, float] = defaultdict(float)
    counts: Counter[Fact] = Counter()
    for journey, n_bad in weights.items():
        same = [trace_facts(t) for t in baseline if t.journey == journey]
        journey_counts = _count(same)
        counts.update(journey_counts)
        for fact, n in journey_counts.items():
            shares[fact] += (n_bad / len(bad)) * (n / len(same))
    return dict(shares), counts


def _finding(fact: Fact, bad: int, bad_total: int, base_share: float, base: int) -> AttributeFinding:
    key, value, service = fact
    return AttributeFinding(
        key=key,
        value=value,
        service=service,
        bad_share=round(bad / bad_total, 4),
        baseline_share=round(base_share, 4),
        bad_count=bad,
        baseline_count=base,
    )
