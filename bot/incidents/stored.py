"""Stored reports read back typed: the one place where the JSON text kept with an incident
or an on-demand investigation becomes a :class:`~correlators.report.Report`.

Everything past this boundary reads fields, never keys. A report that no longer reads
(a corrupt row, a newer release's schema) is logged and read as no report, so one bad row
never takes an incident's page, thread or group down with it.
"""

from __future__ import annotations

import json
import logging

from correlators.errors import ReportFormatError, SchemaVersionError
from correlators.report import Report

log = logging.getLogger("journeywatch.incidents")


def read_report(text: str | None, *, owner: str) -> Report | None:
    """``text`` as a typed report; None when there is none or it does not read
    (``owner`` names the row in the log: "incident 12")."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ReportFormatError(f"a report is a JSON object, not {type(data).__name__}")
        return Report.from_json(data)
    except (ValueError, ReportFormatError, SchemaVersionError) as exc:
        log.warning("the report of %s does not read, shown as none: %s", owner, exc)
        return None


def cited(report: Report) -> set[str]:
    """The trace ids a report points at: its worst traces and those whose logs it shows
    (the trace page links back to it; retention keeps them with the incident)."""
    return {*report.worst_traces, *report.exemplar_logs}
