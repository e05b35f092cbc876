"""What the bot asks of each signal's backend: one small Protocol per signal.

The built-in store, Prometheus, Elasticsearch/OpenSearch, Jaeger and Tempo each implement
the ones for the signals they hold; configuration (``sources:`` in journeys.yaml) decides
which one answers, and the investigation only ever sees these types and the model's own
data (``Trace``, ``LogRecord``, ``MetricSeries``). Every method may raise
:class:`~correlators.errors.DataSourceError` naming the source and the query; callers that
must fail soft (the investigation) catch it and say in the report which signal is missing.

Times are integer nanoseconds since the epoch for telemetry, whole seconds for SLI
windows (their buckets are whole seconds). Windows are half-open: ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from correlators.model import LogRecord, MetricSeries, Trace

ObjectiveKind = Literal["availability", "latency"]


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Events of one journey's SLI in one window: ``bad`` are errors (availability) or
    requests over the latency threshold (latency)."""

    total: float
    bad: float


@dataclass(frozen=True, slots=True)
class SliQuery:
    """One journey objective as a source needs to count it."""

    journey: str
    objective: ObjectiveKind
    latency_threshold_ms: float | None = None


@runtime_checkable
class SliSource(Protocol):
    """Counts of good and bad journey events; burn rates are computed from these."""

    name: str

    def counts(self, query: SliQuery, end_s: int, windows_s: Sequence[int]) -> dict[int, EventCounts]:
        """Counts for each window length, each window ending at ``end_s``. One call per
        evaluation, so a source can fetch once and answer every window."""
        ...


@dataclass(frozen=True, slots=True)
class Exemplar:
    trace_id: str
    time_ns: int
    value: float | None = None
    """The observed value (a latency in seconds for histogram exemplars), when known."""


@runtime_checkable
class ExemplarSource(Protocol):
    """Trace ids of a journey's bad requests: the traces an investigation starts from."""

    name: str

    def exemplars(self, query: SliQuery, start_ns: int, end_ns: int, limit: int) -> list[Exemplar]: ...


@runtime_checkable
class TraceJourneys(Protocol):
    """A trace source that can say cheaply which journey each trace belongs to (the
    built-in store): investigations then drop other journeys' log lines."""

    def journeys_of(self, trace_ids: Sequence[str]) -> dict[str, str | None]:
        """The journey of each trace it has; ids it does not have are left out."""
        ...


@runtime_checkable
class TraceSource(Protocol):
    name: str

    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """The traces that exist, in any order; ids it does not have are left out."""
        ...

    def find_traces(
        self,
        *,
        journey: str | None,
        service: str | None,
        start_ns: int,
        end_ns: int,
        limit: int,
        error: bool | None = None,
    ) -> list[Trace]:
        """Whole traces starting in the window, newest first: the baseline sample and the
        bad traces beyond the exemplars. ``service`` is the root (entry) service for
        backends that search by it (Jaeger); the built-in store reads the journey."""
        ...


@runtime_checkable
class LogSource(Protocol):
    name: str

    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Logs written inside these traces, oldest first."""
        ...

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Logs of these services in the window, oldest first; past ``limit`` a source
        returns an even sample across the window rather than its first lines."""
        ...


@runtime_checkable
class MetricSource(Protocol):
    name: str

    def service_metrics(
        self, services: Sequence[str], start_ns: int, end_ns: int, step_s: int
    ) -> list[MetricSeries]:
        """RED (rate, errors, duration) and saturation series of these services, one
        series per service (and instance where the backend has it), points every
        ``step_s`` seconds."""
        ...
