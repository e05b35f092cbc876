"""Retention in tiers, every tier aged from arrival: the scheduler's ``retention`` job.

One run, in this order: pin the traces young incidents cite (so the purge spares them),
cut incidents whose pin has ended down to summaries, delete and thin the telemetry
(``bot.store.expiry``), delete resolved incidents, investigations and changes past their
own period, the burn history and the audit trail past its own; then count what each tier
holds, for ``/healthz``.
Each step commits on its own: one that fails is logged and the others still run, since a
purge that stopped at the first error would let every other tier grow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.audit import AuditTrail
from bot.changes import ChangeLog
from bot.incidents.expiry import IncidentExpiry
from bot.releases import ReleaseLog
from bot.settings import RetentionSettings
from bot.slo.state import JourneyStates
from bot.store import Store
from bot.store.expiry import Expiry, MetricTier

log = logging.getLogger("journeywatch.retention")

HOUR_S = 3600
DAY_S = 24 * HOUR_S
S_NS = 1_000_000_000
MERGED_WIDTHS_S = (300, 3600)
"""The widths span metrics are merged into as they age: 5 minutes, then an hour."""


@dataclass(slots=True)
class RetentionRun:
    """What the last run did and what each tier held after it (rows)."""

    at_s: float
    deleted: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


class Retention:
    def __init__(
        self,
        settings: RetentionSettings,
        store: Store,
        incidents: IncidentExpiry,
        changes: ChangeLog,
        states: JourneyStates,
        *,
        audit: AuditTrail | None = None,
        releases: ReleaseLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.incidents = incidents
        self.changes = changes
        self.states = states
        self.audit = audit
        """The audit trail, aged by its own period (``audit_hours``) from when rows were written."""
        self.releases = releases
        """Service versions and their verdicts, kept as long as the changes they explain."""
        self.clock = clock
        self.last: RetentionRun | None = None
        """The latest run, shown on ``/healthz``; None before the first."""

    def expiry(self, now_s: float) -> Expiry:
        """The telemetry cut-offs at ``now_s``."""
        r = self.settings
        now_ns = int(now_s * S_NS)
        cited_s = r.cited_traces_days * DAY_S
        return Expiry(
            now_ns=now_ns,
            traces_before_ns=now_ns - int(r.traces_hours * HOUR_S * S_NS),
            logs_before_ns=now_ns - int(r.logs_hours * HOUR_S * S_NS),
            points_before_ns=now_ns - int(r.metric_points_hours * HOUR_S * S_NS),
            resources_before_ns=now_ns - int(max(r.traces_hours * HOUR_S, cited_s) * S_NS),
            metrics_before_s=int(now_s - r.span_metrics_hours * HOUR_S),
            metric_tiers=(
                MetricTier(MERGED_WIDTHS_S[0], int(now_s - r.span_metrics_raw_hours * HOUR_S)),
                MetricTier(MERGED_WIDTHS_S[1], int(now_s - r.span_metrics_5m_hours * HOUR_S)),
            ),
        )

    def run(self) -> RetentionRun:
        now_s = self.clock()
        r = self.settings
        cited_s = r.cited_traces_days * DAY_S
        run = RetentionRun(at_s=now_s)
        steps: list[tuple[str, Callable[[], dict[str, int]]]] = [
            ("pin", lambda: self._pin(now_s, cited_s)),
            ("summarize", lambda: self.incidents.reduce(now_s - cited_s, now_s)),
            ("telemetry", lambda: self.store.purge(self.expiry(now_s))),
            ("incidents", lambda: self.incidents.purge(now_s - r.incidents_days * DAY_S)),
            ("changes", lambda: {"changes": self.changes.purge(now_s - r.changes_days * DAY_S)}),
            ("releases", lambda: self._releases(now_s - r.changes_days * DAY_S)),
            ("burn_history", lambda: self._burn_history(now_s)),
            ("audit", self._audit),
            ("sizes", lambda: self._sizes(now_s)),
        ]
        for name, step in steps:
            try:
                done = step()
            except Exception:  # each tier on its own: see the module's docstring
                log.exception("retention: %s failed", name)
                run.failed.append(name)
                continue
            if name == "sizes":
                run.sizes = done
            else:
                run.deleted.update(done)
        self.last = run
        log.info("retention: %s", run.deleted)
        return run

    def _pin(self, now_s: float, cited_s: float) -> dict[str, int]:
        citations = self.incidents.citations(now_s - cited_s, now_s)
        until = {trace_id: int((since_s + cited_s) * S_NS) for trace_id, since_s in citations.items()}
        return {"traces_pinned": self.store.pin_traces(until)}

    def _releases(self, before_s: float) -> dict[str, int]:
        return {"releases": self.releases.purge(before_s)} if self.releases is not None else {}

    def _burn_history(self, now_s: float) -> dict[str, int]:
        return {"burn_history": self.states.purge(now_s - self.settings.burn_history_hours * HOUR_S)}

    def _audit(self) -> dict[str, int]:
        return {"audit_log": self.audit.expire()} if self.audit is not None else {}

    def _sizes(self, now_s: float) -> dict[str, int]:
        return {
            **self.store.tier_sizes(int(now_s * S_NS)),
            **self.incidents.sizes(),
            "changes": self.changes.count(),
        }
