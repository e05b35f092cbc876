"""The bot's main loop, one evaluation at a time: every journey's SLOs, then what that
means for its incident, then an investigation for each incident that just opened or
escalated, and again for each open incident whose last investigation is
``watcher.reinvestigate_every`` old (the living thread, ``bot.incidents.hypothesis``).

It runs on the scheduler leader only (``bot.scheduling``); everything it decides is in
the database before anyone is told, so a restart or a new leader resumes from there
without paging again. Listeners (Slack, the console) hear of each change after it is
stored.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from bot.config import AppConfig, Journey
from bot.incidents.lifecycle import Action, Firing, decide
from bot.incidents.repository import OPEN_STATUSES, Applied, IncidentRepository
from bot.investigate import Investigator
from bot.slo.evaluate import JourneyStatus, evaluate_journey
from bot.slo.state import JourneyStates
from bot.sources import Sources
from bot.sources.base import ObjectiveKind, SliQuery, SliSource
from correlators.errors import JourneywatchError

log = logging.getLogger("journeywatch.watcher")


class IncidentListener(Protocol):
    def incident_changed(self, change: Applied) -> None: ...


class Watcher:
    def __init__(
        self,
        config: AppConfig,
        sources: Sources,
        incidents: IncidentRepository,
        states: JourneyStates,
        investigator: Investigator | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sources = sources
        self.incidents = incidents
        self.states = states
        self.investigator = investigator
        self.clock = clock
        self.listeners: list[IncidentListener] = []
        self._investigations = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="jw-investigate"
        )
        self.pending: list[concurrent.futures.Future[None]] = []
        self._queued: dict[int, concurrent.futures.Future[None]] = {}
        """Each incident's latest investigation asked for (waiting, running or done)."""
        self._lock = threading.Lock()

    def close(self) -> None:
        """Queued investigations are dropped; a running one finishes first (it holds
        database connections that must not outlive the store)."""
        self._investigations.shutdown(wait=True, cancel_futures=True)

    def evaluate_all(self, now_s: float | None = None) -> list[Applied]:
        """One evaluation of every journey with objectives; a journey whose source fails
        is skipped this round (and logged), the others still evaluate."""
        now = self.clock() if now_s is None else now_s
        changes = []
        for journey in self.config.journeys:
            if journey.objective("availability") is None and journey.objective("latency") is None:
                continue
            try:
                change = self.evaluate(journey, now)
            except JourneywatchError as exc:
                log.warning("journey %s not evaluated: %s", journey.name, exc)
                continue
            if change is not None:
                changes.append(change)
        self.reinvestigate_due(now)
        return changes

    def evaluate(self, journey: Journey, now_s: float) -> Applied | None:
        source = self.sources.sli_for(journey.sli.source)
        status = evaluate_journey(journey, source, int(now_s), self.config.watcher.current_window)
        self.states.save(status)
        firing = firing_of(journey, status, now_s, self.config.watcher.min_incident_window)
        current = self.incidents.open_state(journey.name)
        action = decide(current, firing, now_s, self.config.watcher.resolve_after)
        spent = None
        if action is Action.OPEN and firing is not None:
            firing = dataclasses.replace(firing, burn_start_s=self._onset(journey, firing, now_s))
            spent = spent_since(journey, source, status, firing.objective, firing.burn_start_s, now_s)
        elif current is not None and action is not Action.NONE:
            spent = spent_since(journey, source, status, current.objective, current.burn_start, now_s)
        applied = self.incidents.apply(journey.name, action, firing, now_s, budget_spent=spent)
        if applied is not None:
            self._tell(applied)
            if applied.action is Action.OPEN:
                self.investigate_later(applied.incident_id)
            elif applied.action is Action.ESCALATE:
                self.investigate_later(applied.incident_id, open_only=True)
        return applied

    def _onset(self, journey: Journey, firing: Firing, now_s: float) -> float:
        """When the burn began, for the incident window: just before the last evaluation
        that saw the shortest window quiet (under 1x), if there is one since the firing
        tier's window began; otherwise that window's start. The baseline then ends where
        the burn began instead of a whole tier window earlier."""
        shortest = min(journey.tiers(), key=lambda t: t.short_window_s)
        quiet = [
            at
            for at, objective, burns in self.states.history(journey.name, firing.burn_start_s)
            if objective == firing.objective and at < now_s and burns.get(shortest.name, [0, 0])[1] < 1.0
        ]
        if not quiet:
            return firing.burn_start_s
        return max(firing.burn_start_s, max(quiet) - shortest.short_window_s)

    def reinvestigate_due(self, now_s: float) -> list[int]:
        """Investigate again each open incident last investigated ``reinvestigate_every``
        ago or more; returns their ids. One waiting or running investigation per incident
        at most, so a slow source delays the next one instead of piling them up."""
        if self.investigator is None:
            return []
        old = self.incidents.due_for_investigation(now_s - self.config.watcher.reinvestigate_every)
        with self._lock:
            due = [i for i in old if i not in self._queued or self._queued[i].done()]
            for incident_id in due:
                self._submit(incident_id, open_only=True)
        return due

    def investigate_later(
        self, incident_id: int, *, open_only: bool = False
    ) -> concurrent.futures.Future[None] | None:
        """Investigations run one at a time off the evaluation thread, so a slow source
        never delays the next evaluation. An incident waiting for one gets no second (the
        waiting one reads the newer evidence anyway); one whose investigation is running
        gets one more after it, since it was asked for evidence the running one may not
        read (an escalation, a person). ``open_only``: the schedule's and escalation's,
        skipped if the incident resolved meanwhile."""
        if self.investigator is None:
            return None
        with self._lock:
            latest = self._queued.get(incident_id)
            if latest is not None and not latest.done() and not latest.running():
                return latest
            return self._submit(incident_id, open_only)

    def _submit(self, incident_id: int, open_only: bool) -> concurrent.futures.Future[None]:
        future = self._investigations.submit(self._investigate, incident_id, open_only)
        self._queued = {i: f for i, f in self._queued.items() if not f.done()} | {incident_id: future}
        self.pending = [f for f in self.pending if not f.done()] + [future]
        return future

    def _investigate(self, incident_id: int, open_only: bool = False) -> None:
        investigator = self.investigator
        assert investigator is not None
        if open_only and not self._still_open(incident_id):
            return
        try:
            report = investigator.investigate_incident(incident_id)
        except Exception:  # the loop must outlive any one investigation
            log.exception("investigation of incident %s failed", incident_id)
            return
        if report is not None:
            row = self.incidents.row(incident_id)
            self._tell(
                Applied(incident_id, Action.INVESTIGATED, row.journey if row else report.journey or "")
            )

    def _still_open(self, incident_id: int) -> bool:
        row = self.incidents.row(incident_id)
        return row is not None and row.status in OPEN_STATUSES

    def _tell(self, change: Applied) -> None:
        for listener in self.listeners:
            try:
                listener.incident_changed(change)
            except Exception:
                log.exception("listener %r failed on %s", listener, change)


def spent_since(
    journey: Journey, source: SliSource, status: JourneyStatus, objective: str, since_s: float, now_s: float
) -> float | None:
    """The bad events of ``objective`` since ``since_s`` (the burn's start) as a share of
    the SLO window's budget: what the incident has cost."""
    budget = next((o.budget for o in status.objectives if o.objective == objective), None)
    length = int(now_s) - int(since_s)
    if budget is None or length <= 0:
        return None
    latency = journey.objectives.latency
    query = SliQuery(journey.name, budget_kind(objective), latency.threshold_ms if latency else None)
    return budget.share(source.counts(query, int(now_s), [length])[length].bad)


def budget_kind(objective: str) -> ObjectiveKind:
    return "latency" if objective == "latency" else "availability"


def firing_of(journey: Journey, status: JourneyStatus, now_s: float, min_window_s: int) -> Firing | None:
    fastest = status.fastest()
    if fastest is None:
        return None
    objective, state = fastest
    ranks = {t.name: i for i, t in enumerate(journey.tiers())}
    return Firing(
        objective=objective.objective,
        tier=state.tier.name,
        tier_rank=ranks[state.tier.name],
        severity=state.tier.severity,
        burn_rate=state.long_burn,
        budget_left=objective.budget_left,
        burn_start_s=now_s - max(state.tier.short_window_s, min_window_s),
    )
