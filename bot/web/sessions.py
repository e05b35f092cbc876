"""What the session page shows: one user's (or session's) traces in time order, and the
journeys they walked through, as ``GET /api/sessions/{key}`` finds them.

Each trace is judged against its journey's objectives: a 1,738 ms checkout is not "ok"
against an 800 ms objective, however cleanly it ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import AppConfig
from bot.policy import Principal, may_read
from bot.store import Store
from bot.store.store import TraceSummary
from bot.telemetry.redact import Redactor


@dataclass(frozen=True, slots=True)
class SessionView:
    key: str
    traces: list[TraceSummary]
    thresholds_ms: dict[str, float] = field(default_factory=dict)
    """Journey -> its latency objective's threshold."""

    def outcome(self, summary: TraceSummary) -> str:
        """ "failed", "slow" (over its journey's latency threshold) or "ok"."""
        if summary.error:
            return "failed"
        threshold = self.thresholds_ms.get(summary.journey or "")
        if threshold is not None and summary.duration_ns > threshold * 1e6:
            return "slow"
        return "ok"

    def threshold(self, summary: TraceSummary) -> float | None:
        return self.thresholds_ms.get(summary.journey or "")

    @property
    def path(self) -> list[str]:
        """The journeys in the order walked, a repeat of the same journey shown once."""
        walked: list[str] = []
        for summary in self.traces:
            name = summary.journey or "(no journey)"
            if not walked or walked[-1] != name:
                walked.append(name)
        return walked

    @property
    def failed(self) -> int:
        return sum(1 for s in self.traces if s.error)

    @property
    def slow(self) -> int:
        return sum(1 for s in self.traces if self.outcome(s) == "slow")


def read_session(
    store: Store, redactor: Redactor, key: str, config: AppConfig, reader: Principal
) -> SessionView:
    """Blocking. ``enduser.id`` is stored hashed and a person asks with the raw id, so
    both the key and its hash are looked up (as the API does). Only the traces in the
    reader's scope are shown."""
    found: dict[str, TraceSummary] = {}
    for candidate in dict.fromkeys([key, redactor.hash_value(key)]):
        found.update((s.trace_id, s) for s in store.session(candidate) if may_read(reader, s.journey))
    thresholds = {
        j.name: j.objectives.latency.threshold_ms for j in config.journeys if j.objectives.latency is not None
    }
    return SessionView(key, sorted(found.values(), key=lambda s: (s.start_ns, s.trace_id)), thresholds)
