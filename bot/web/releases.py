"""The releases page's rows: each service's versions, newest first, with the verdict in
words (``bot.render.releases``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.releases import Release
from bot.render.releases import outcome_words, verdict_lines


@dataclass(frozen=True, slots=True)
class ReleaseRowView:
    version: str
    previous: str | None
    first_seen: float
    outcome: str
    """The outcome's value, a CSS class too."""
    words: str
    lines: list[str]
    """What got worse, one line each; empty for a release that did not regress."""
    traces: int
    """Traces of the new version the verdict rests on."""
    journeys: list[str]


def release_journeys(release: Release) -> list[str]:
    """The journeys whose critical path the release's compared operations lie on."""
    if release.verdict is None:
        return []
    return sorted({j for o in release.verdict.operations for j in o.journeys})


def release_rows(releases: list[Release]) -> dict[str, list[ReleaseRowView]]:
    """Service -> its releases, newest first; services by name."""
    by_service: dict[str, list[ReleaseRowView]] = {}
    for r in sorted(releases, key=lambda r: (r.service, -r.first_seen, -r.id)):
        verdict = r.verdict
        by_service.setdefault(r.service, []).append(
            ReleaseRowView(
                r.version,
                r.previous,
                r.first_seen,
                r.outcome,
                outcome_words(r.outcome),
                verdict_lines(verdict) if verdict is not None else [],
                verdict.new_traces if verdict is not None else 0,
                release_journeys(r),
            )
        )
    return by_service
