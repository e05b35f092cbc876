"""Traces and logs read from a team's own backends (Jaeger, Tempo, Elasticsearch,
OpenSearch, Loki), redacted as the collector redacts what it stores.

What the built-in store holds was redacted at ingest; what another backend holds was
written by whatever sent it there. An investigation keeps excerpts of it in the incident's
report (stored, posted to Slack, shown on pages), so it passes the same rules, with the
same key, before anything reads it: an e-mail in a log line, a statement's literals or a
URL's query values read from Elasticsearch are kept exactly as the collector would have
kept them, and a hashed user id equals the one the built-in store has for the same user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from bot.sources.base import LogSource, TraceSource
from bot.telemetry.assembly import session_of
from bot.telemetry.redact import Redactor
from correlators.model import LogRecord, Trace

S = TypeVar("S", TraceSource, LogSource)


class _Redacted(Generic[S]):
    """A source that another source's answers pass through, redacted, under its name."""

    def __init__(self, inner: S, redactor: Redactor) -> None:
        self.inner: S = inner
        self.name = inner.name
        self._redactor = redactor

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


class RedactedTraceSource(_Redacted[TraceSource]):
    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        return self._redacted(self.inner.get_traces(trace_ids))

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
        found = self.inner.find_traces(
            journey=journey, service=service, start_ns=start_ns, end_ns=end_ns, limit=limit, error=error
        )
        return self._redacted(found)

    def _redacted(self, traces: list[Trace]) -> list[Trace]:
        """In place: the sessions and users are read again from the redacted spans, so a
        hashed user id is what the trace carries."""
        for trace in traces:
            for span in trace.spans:
                self._redactor.redact_span(span)
            trace.session_id, trace.user_id = session_of(trace.spans)
        return traces


class RedactedLogSource(_Redacted[LogSource]):
    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        return self._redacted(self.inner.logs_for_traces(trace_ids, start_ns, end_ns, limit))

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        return self._redacted(self.inner.logs_for_services(services, start_ns, end_ns, limit))

    def _redacted(self, records: list[LogRecord]) -> list[LogRecord]:
        for record in records:
            self._redactor.redact_log(record)
        return records
