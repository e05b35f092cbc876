"""What a reader skipped in one input file.

Reading telemetry files is forgiving (a line that is not JSON, a truncated last line, a
record with an impossible time are skipped and the rest is analysed) because real exports
have such flaws and one of them must not cost the whole analysis. It stays honest by
saying so: each file's skips travel with the report, and the edges word them.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_REASONS = 5
"""Distinct reasons kept per file; enough to find the fault, short enough to read."""


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a reader skipped something, and the line it was first seen on (None for a
    reason read from a report written before lines were kept apart)."""

    line: int | None
    why: str


@dataclass(frozen=True, slots=True)
class InputGap:
    file: str
    skipped_lines: int
    """Whole lines dropped: not JSON, truncated, or not a request of the expected kind."""
    skipped_records: int
    """Spans, log records or data points dropped from lines whose other records were kept."""
    reasons: list[Skip]
    """The first few distinct reasons, each with the line it was first seen on."""

    @property
    def skipped(self) -> int:
        return self.skipped_lines + self.skipped_records
