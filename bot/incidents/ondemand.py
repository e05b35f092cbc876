"""Investigations someone asked for by hand, kept with their report: the thread's "Full
report" link then opens that report, not the journey page (which shows only incidents)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.incidents.stored import read_report
from bot.render.report import report_json
from bot.store.state import InvestigationRow
from correlators.report import Report


@dataclass(frozen=True, slots=True)
class OnDemand:
    id: int
    journey: str
    asked_by: str | None
    start_s: float
    end_s: float
    report: Report


class OnDemandReports:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, journey: str, asked_by: str | None, start_s: float, end_s: float, report: Report) -> int:
        text = json.dumps(report_json(report))
        row = InvestigationRow(journey=journey, asked_by=asked_by, start_s=start_s, end_s=end_s, report=text)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
        return row.id

    def get(self, investigation_id: int) -> OnDemand | None:
        """None when there is no such investigation, or its report no longer reads."""
        with Session(self.engine) as session:
            row = session.get(InvestigationRow, investigation_id)
            if row is None:
                return None
            report = read_report(row.report, owner=f"investigation {row.id}")
            if report is None:
                return None
            return OnDemand(row.id, row.journey, row.asked_by, row.start_s, row.end_s, report)
