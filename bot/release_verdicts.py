"""A release's or a change's verdict as the database keeps it (JSON) and as an
incident's change carries it (``ReleaseJudged``): shared by ``bot.releases`` and
``bot.changes``."""

from __future__ import annotations

import json
import logging

from pydantic import TypeAdapter
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.store.state import ChangeRow, ReleaseRow
from correlators.changes import ReleaseJudged
from correlators.regression import ReleaseVerdict

log = logging.getLogger("journeywatch.releases")

_VERDICT = TypeAdapter(ReleaseVerdict)


def verdict_to_json(verdict: ReleaseVerdict) -> str:
    """JSON with infinities kept (a percentile that grew from 0 ms)."""
    return json.dumps(_VERDICT.dump_python(verdict, mode="python"), default=str)


def verdict_from_json(text: str | None) -> ReleaseVerdict | None:
    """None for no verdict, or one that does not read (written by a later release)."""
    if not text:
        return None
    try:
        return _VERDICT.validate_python(json.loads(text))
    except ValueError:
        log.warning("a stored release verdict did not read; shown without it")
        return None


def judged_of(outcome: str, verdict: ReleaseVerdict | None) -> ReleaseJudged:
    """The verdict as an incident's change carries it: the outcome and the first thing
    that got worse."""
    worse = verdict.regressions[0] if verdict is not None and verdict.regressions else None
    if worse is None:
        return ReleaseJudged(outcome)
    size = worse.size if worse.slower else None
    return ReleaseJudged(
        outcome,
        worse.operation,
        size.quantile if size else None,
        size.change if size else None,
        worse.new_rate if worse.fails_more else None,
        worse.old_rate if worse.fails_more else None,
    )


def store_verdict(
    engine: Engine,
    row_type: type[ReleaseRow] | type[ChangeRow],
    row_id: int,
    verdict: ReleaseVerdict,
    *,
    settled: bool,
    at: float,
) -> None:
    """A release's or a posted change's latest verdict on its row."""
    with Session(engine) as session, session.begin():
        row = session.get(row_type, row_id)
        if isinstance(row, ReleaseRow | ChangeRow):
            row.outcome = verdict.outcome.value
            row.verdict = verdict_to_json(verdict)
            row.judged_at = at
            row.settled = settled
