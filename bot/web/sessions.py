"""What the session page shows: one user's (or session's) traces in time order, and the
journeys they walked through, as ``GET /api/sessions/{key}`` finds them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.collector.redact import Redactor
from bot.store import Store
from bot.store.store import TraceSummary


@dataclass(frozen=True, slots=True)
class SessionView:
    key: str
    traces: list[TraceSummary]

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


def read_session(store: Store, redactor: Redactor, key: str) -> SessionView:
    """Blocking. ``enduser.id`` is stored hashed and a person asks with the raw id, so
    both the key and its hash are looked up (as the API does)."""
    found: dict[str, TraceSummary] = {}
    for candidate in dict.fromkeys([key, redactor.hash_value(key)]):
        found.update((s.trace_id, s) for s in store.session(candidate))
    return SessionView(key, sorted(found.values(), key=lambda s: (s.start_ns, s.trace_id)))
