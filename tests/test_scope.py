"""Localized or systemic: a reach is claimed only on enough bad traces."""

from __future__ import annotations

from correlators.rank import Candidate
from correlators.scope import decide_scope
from correlators.topology import CallGraph
from correlators.traffic import RateChange
from correlators.zones import ZoneSkew


def test_a_zone_that_several_services_point_at_is_the_verdict() -> None:
    skew = ZoneSkew("eu-1a", {s: (0.4, 0.02) for s in ("web", "catalog", "search")}, eligible=5)
    scope = decide_scope(candidates=[Candidate("cart", 0.4)], graph=CallGraph(), rate=None, skew=skew)
    assert (scope.kind, scope.level, scope.subject) == ("systemic", "zone", "eu-1a")
    assert "3 of the 5 services" in scope.reasons[0]


def test_a_surge_counted_in_requests_is_traffic() -> None:
    scope = decide_scope(
        candidates=[Candidate("cart", 0.4)], graph=CallGraph(), rate=RateChange(3.0, "metrics")
    )
    assert (scope.kind, scope.level) == ("systemic", "traffic")
    assert "3.0x their baseline requests" in scope.reasons[0]
