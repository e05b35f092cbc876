"""The incident lifecycle's decisions, one evaluation at a time."""

from __future__ import annotations

import pytest

from bot.incidents.lifecycle import Action, Firing, OpenIncident, decide


def firing(rank: int) -> Firing:
    return Firing("availability", f"tier-{rank}", rank, "page", 20.0, 0.5, 0.0)


@pytest.mark.parametrize(
    ("current", "now", "fires", "expected"),
    [
        (None, 100, None, Action.NONE),
        (None, 100, firing(1), Action.OPEN),
        (OpenIncident(1, 1, 100), 130, firing(1), Action.UPDATE),
        (OpenIncident(1, 1, 100), 130, firing(0), Action.ESCALATE),
        (OpenIncident(1, 1, 100), 130, firing(3), Action.EASE),
        (OpenIncident(1, 1, 100), 699, None, Action.QUIET),
        (OpenIncident(1, 1, 100), 700, None, Action.RESOLVE),
    ],
)
def test_decide(current: OpenIncident | None, now: float, fires: Firing | None, expected: Action) -> None:
    assert decide(current, fires, now, resolve_after_s=600) is expected
