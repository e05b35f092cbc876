"""Build traces by hand for tests: times in milliseconds, ids assigned in order."""

from __future__ import annotations

from correlators.model import Span, SpanKind, StatusCode, Trace

MS = 1_000_000


class TraceBuilder:
    def __init__(self, trace_id: str = "ab" * 16) -> None:
        self.trace_id = trace_id
        self.spans: list[Span] = []

    def span(
        self,
        service: str,
        name: str,
        start_ms: float,
        end_ms: float,
        *,
        parent: Span | str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        error: bool = False,
        **attributes: object,
    ) -> Span:
        parent_id = parent.span_id if isinstance(parent, Span) else parent
        span = Span(
            self.trace_id,
            f"{len(self.spans) + 1:016x}",
            parent_id,
            service,
            name,
            int(start_ms * MS),
            int(end_ms * MS),
            kind=kind,
            status=StatusCode.ERROR if error else StatusCode.UNSET,
            attributes=dict(attributes),  # type: ignore[arg-type]
        )
        self.spans.append(span)
        return span

    def call(
        self,
        parent: Span,
        service: str,
        name: str,
        start_ms: float,
        end_ms: float,
        *,
        server_start_ms: float | None = None,
        server_end_ms: float | None = None,
        error: bool = False,
    ) -> tuple[Span, Span]:
        """A client span in the parent's service and the server span it caused."""
        client = self.span(
            parent.service,
            f"call {service}",
            start_ms,
            end_ms,
            parent=parent,
            kind=SpanKind.CLIENT,
            error=error,
        )
        server = self.span(
            service,
            name,
            server_start_ms if server_start_ms is not None else start_ms,
            server_end_ms if server_end_ms is not None else end_ms,
            parent=client,
            kind=SpanKind.SERVER,
            error=error,
        )
        return client, server

    def unanswered(self, parent: Span, callee: str, start_ms: float, end_ms: float) -> Span:
        """A failed client span to ``callee`` that no span of the callee answered: an
        uninstrumented dependency, or a call the network lost."""
        return self.span(
            parent.service,
            f"call {callee}",
            start_ms,
            end_ms,
            parent=parent,
            kind=SpanKind.CLIENT,
            error=True,
            **{"peer.service": callee},
        )

    def trace(self) -> Trace:
        return Trace(self.trace_id, list(self.spans))
