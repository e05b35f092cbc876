"""A flag's reach: which services went wrong on the requests it was on for."""

from __future__ import annotations

from correlators.attributes import AttributeFinding
from correlators.flags import flag_reach, odds_ratio
from correlators.model import AttrValue, SpanKind, Trace
from correlators.rank import Candidate
from correlators.scope import decide_scope
from correlators.topology import CallGraph
from correlators.traces import assemble
from correlators.wrong import judge, usual_self_times
from tests.spantree import TraceBuilder

FLAG = "feature_flag.new_pricing"


def request(
    n: int, *, flag_on: bool, failing: str | None = None, values: tuple[AttrValue, AttrValue] = ("on", "off")
) -> Trace:
    """web -> cart -> prices; the flag is evaluated (and recorded) on every span; the
    ``failing`` service throws on a flagged request, after calling what it calls."""
    b = TraceBuilder(f"{n:032x}")
    failed = [flag_on and service == failing for service in ("web", "cart", "prices")]
    web = b.span("web", "GET /", 0, 30, kind=SpanKind.SERVER, error=any(failed))
    cart = b.span("cart", "GET /cart", 5, 25, parent=web, kind=SpanKind.SERVER, error=any(failed[1:]))
    b.span("prices", "GET /prices", 10, 20, parent=cart, kind=SpanKind.SERVER, error=failed[2])
    for span in b.spans:
        span.attributes[FLAG] = values[0] if flag_on else values[1]
    return b.trace()


BASELINE = [request(i, flag_on=i % 4 == 0) for i in range(80)]


def finding(bad_share: float, calm_share: float, bad_count: int = 30) -> AttributeFinding:
    return AttributeFinding(FLAG, "on", None, bad_share, calm_share, bad_count, 100)


def reach_of(failing: tuple[str, ...]) -> tuple[str, str, str | None]:
    """The verdict for flagged requests failing in ``failing``, in turn: (kind, level, subject)."""
    during = [
        request(1000 + i, flag_on=i % 4 == 0, failing=failing[i // 4 % len(failing)]) for i in range(120)
    ]
    reach = flag_reach([finding(1.0, 0.25)], judge(during, usual_self_times(BASELINE, assemble), assemble))
    assert reach is not None
    scope = decide_scope(candidates=[Candidate("prices", 0.5)], graph=CallGraph(), rate=None, flag=reach)
    return scope.kind, scope.level, scope.subject


def test_a_flag_that_broke_two_services_is_the_flag() -> None:
    assert reach_of(("web", "prices")) == ("systemic", "feature_flag", f"{FLAG}=on")


def test_a_flag_that_broke_one_service_is_still_the_flag_the_on_call_turns_off() -> None:
    assert reach_of(("prices",)) == ("systemic", "feature_flag", f"{FLAG}=on")


def test_a_flag_behind_which_nothing_went_wrong_is_a_coincidence() -> None:
    """The flag's cohort is bad for another reason: prices fails on every request."""
    during = [request(1000 + i, flag_on=i % 4 == 0, failing=None) for i in range(120)]
    judged = judge(during, usual_self_times(BASELINE, assemble), assemble)
    assert flag_reach([finding(1.0, 0.25)], judged) is None


def test_a_flag_on_for_most_requests_anyway_is_judged_by_its_odds() -> None:
    """On for 64 % of healthy requests and 93 % of bad ones: a gap of 29 points, odds 7.6x."""
    assert round(odds_ratio(finding(0.93, 0.64)), 1) == 7.5
    assert round(odds_ratio(finding(0.5, 0.4)), 1) == 1.5


def test_a_flag_on_the_one_bad_trace_is_not_a_flag_rollout() -> None:
    during = [request(1000 + i, flag_on=i == 0, failing="prices") for i in range(120)]
    judged = judge(during, usual_self_times(BASELINE, assemble), assemble)
    assert flag_reach([finding(1.0, 0.46, bad_count=1)], judged) is None


def test_a_flag_recorded_as_a_boolean_is_found_by_the_value_the_finding_names() -> None:
    during = [
        request(1000 + i, flag_on=i % 4 == 0, failing="prices", values=(True, False)) for i in range(120)
    ]
    true = AttributeFinding(FLAG, "true", None, 1.0, 0.25, 30, 100)
    reach = flag_reach([true], judge(during, usual_self_times(BASELINE, assemble), assemble))
    assert reach is not None and list(reach.services) == ["prices"]


def test_a_flag_that_breaks_one_flagged_request_in_twelve_still_reaches_the_service() -> None:
    """The odds have already shown the flag matters to bad requests; behind it a service
    that fails 8 % of flagged requests and none of the others went wrong, though by fewer
    than the ten points asked of a zone or an instance."""
    during = [
        request(2000 + i, flag_on=i % 4 == 0, failing="prices" if i % 48 == 0 else None) for i in range(600)
    ]
    reach = flag_reach([finding(1.0, 0.25)], judge(during, usual_self_times(BASELINE, assemble), assemble))
    assert reach is not None
    assert set(reach.services) == {"prices"}
    inside, outside = reach.services["prices"]
    assert 0.08 <= inside <= 0.09 and outside == 0.0
