"""The bot's track record: the share of each verdict per journey, from verdict counts."""

from __future__ import annotations

from typing import Any


def accuracy_table(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One row per journey (and one for all of them): how many verdicts, and the share
    that said right, right or one hop off, right area, wrong."""
    rows = []
    total: dict[str, int] = {}
    for journey in sorted(counts):
        rows.append(_row(journey, counts[journey]))
        for verdict, n in counts[journey].items():
            total[verdict] = total.get(verdict, 0) + n
    if len(counts) > 1:
        rows.append(_row("all", total))
    return rows


def _row(journey: str, counts: dict[str, int]) -> dict[str, Any]:
    n = sum(counts.values())

    def share(*verdicts: str) -> float:
        return sum(counts.get(v, 0) for v in verdicts) / n if n else 0.0

    return {
        "journey": journey,
        "verdicts": n,
        "right": share("right"),
        "within_one_hop": share("right", "one_hop"),
        "area": share("area"),
        "wrong": share("wrong"),
    }
