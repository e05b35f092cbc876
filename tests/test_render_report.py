"""The edges word the findings: each kind of evidence, scope ground, change and gap reads as
it did when the correlators wrote the sentence, the correlators build none, and a report
stored before figures existed says what it said then. The one-line summary names a
systemic verdict's cause, and an instance only when the instance is the finding."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.render.report import (
    LEVEL_WORDS,
    change_words,
    evidence_words,
    gap_words,
    ground_words,
    report_json,
    report_text,
    scope_reasons,
    summary,
)
from correlators.analyze import analyze
from correlators.changes import Change, ChangeFinding
from correlators.findings import (
    ChangedBefore,
    CriticalPathGrowth,
    ErrorLines,
    ErrorOrigins,
    Figures,
    LineStopped,
    MetricMove,
    NamedBehind,
    OverRepresented,
    PathEnds,
    SlowFromOneCaller,
)
from correlators.grounds import (
    CallsUnanswered,
    EdgesSlower,
    EdgeTimes,
    EveryInstance,
    FlagOn,
    Ground,
    InstanceWentWrong,
    NewVersionsWentWrong,
    NothingStoodOut,
    OnlyOneRelease,
    ServiceRates,
    Surge,
    TopDependency,
    VersionRates,
    WrongWithFlag,
)
from correlators.rank import Candidate, Evidence
from correlators.report import Report
from correlators.scope import Scope
from tests.scenarios import generate

S = 1_000_000_000


@pytest.mark.parametrize(
    ("kind", "subject", "figures", "words"),
    [
        (
            "critical_path",
            "cart",
            CriticalPathGrowth("GET /cart", 23.216, 9.72, 32.938, 0.966),
            "cart GET /cart: +23 ms on the critical path (10 -> 33 ms, 97% of the added time)",
        ),
        (
            "critical_path",
            "auth",
            SlowFromOneCaller("auth-1", "sqlite:shop", 0.81),
            "calls from auth-1 to sqlite:shop are slow (81% of the added time); calls from other "
            "instances are not",
        ),
        ("error_origin", "cart", ErrorOrigins(24, 26), "errors of 24 of 26 failed traces originated in cart"),
        (
            "metric",
            "pricing",
            MetricMove("cpu", "pricing-c", "up", 0.0123, 0.97, 41.04),
            "cpu on pricing-c went up (0.0123 -> 0.97, score 41.0)",
        ),
        (
            "metric",
            "pricing",
            MetricMove("rps", None, "down", 12.0, 3.0, 8.0),
            "rps went down (12 -> 3, score 8.0)",
        ),
        (
            "attribute",
            "catalog",
            OverRepresented("service.instance", "catalog-2", 0.9, 0.333),
            "service.instance=catalog-2 served 90% of the bad traces that reached catalog, "
            "against 33% of the healthy ones",
        ),
        (
            "log_template",
            "payments",
            ErrorLines("new", 40, None, "Request to provider failed", "provider"),
            "payments logs a new error (40 lines) (relaying the errors of provider): "
            "Request to provider failed",
        ),
        (
            "log_template",
            "auth",
            ErrorLines("surging", 90, 4.5, "token refresh failed", None),
            "auth logs a 4.5x more frequent error (90 lines): token refresh failed",
        ),
        (
            "log_template",
            "provider",
            NamedBehind("web", 30, "cart", "api", "call to api failed: cart failed"),
            "web's new error (30 lines) names cart behind api, whose failures started in provider: "
            "call to api failed: cart failed",
        ),
        (
            "log_template",
            "redis",
            NamedBehind("web", 20, "redis", "api", "connect to redis failed"),
            "web's new error (20 lines) names redis behind api: connect to redis failed",
        ),
        (
            "path",
            "catalog",
            PathEnds("web", "GET /product", "catalog Get", 0.7, 0.05),
            "70% of web GET /product spans end right after calling catalog Get (usually 5%)",
        ),
        (
            "path",
            "web",
            PathEnds("web", "GET /product", None, 0.7, 0.0),
            "70% of web GET /product spans now call nothing (usually 0%)",
        ),
        (
            "path",
            "pricing",
            LineStopped("quote", 98, 100, 40, "applying discount rules"),
            "pricing quote wrote a line on 98 of its 100 calls and on none of its 40 calls since: "
            "applying discount rules",
        ),
        (
            "change",
            "catalog",
            ChangedBefore("deploy", "2.0.0", 0.4, 1),
            "deploy of catalog 2.0.0, 0 min before the burn (suspect #1)",
        ),
    ],
)
def test_each_kind_is_worded_from_its_figures(kind: str, subject: str, figures: Figures, words: str) -> None:
    assert evidence_words(Evidence(kind, "", 0.5, subject, figures)) == words


def test_evidence_without_figures_says_what_the_analysis_wrote() -> None:
    assert evidence_words(Evidence("path", "70% of web GET /product spans now call nothing", 0.4)) == (
        "70% of web GET /product spans now call nothing"
    )


@pytest.mark.parametrize("kind", ["instance_cpu", "deploy_exception", "shared_db_slow", "instance_network"])
def test_the_analysis_returns_figures_and_the_edges_the_words(kind: str) -> None:
    deploy = Change("cart", "deploy", 0, "1.5.0", source="spans")
    scenario = generate(kind, 1)
    report = analyze(scenario.analysis_input([replace(deploy, time_ns=scenario.incident[0] - 60 * S)]))
    evidence = [e for c in report.candidates for e in c.evidence]
    assert evidence and all(e.summary == "" and e.figures is not None and e.subject for e in evidence)
    assert report.scope.reasons == [] and report.scope.grounds
    assert all(g.detail == "" for g in report.gaps)

    written = report_json(report)
    said = [e["summary"] for c in written["candidates"] for e in c["evidence"]]
    assert said == [evidence_words(e) for e in evidence] and all(said)
    assert written["summary"] == summary(report)
    assert written["scope"]["reasons"] == scope_reasons(report.scope) and all(written["scope"]["reasons"])
    assert [c["summary"] for c in written["changes"]] == [change_words(c) for c in report.changes]
    assert [g["detail"] for g in written["gaps"]] == [gap_words(g) for g in report.gaps]
    text = report_text(report)
    assert text.startswith(summary(report)) and f"       {said[0]}" in text
    assert all(f"  - {r}" in text for r in scope_reasons(report.scope))


@pytest.mark.parametrize(
    ("ground", "words"),
    [
        (
            Surge(2.5, "kept_traces"),
            "the journey's entry services got 2.5x their baseline kept traces per second",
        ),
        (
            EdgesSlower(9, 11, [EdgeTimes("web", "cart", 2.0, 41.0)]),
            "calls got slower outside their callee on 9 of 11 service edges, from many callers to many "
            "callees (the network between services, not any one service): web -> cart 2 -> 41 ms",
        ),
        (
            CallsUnanswered(40, 52, "requests", 4, 5),
            "40 of 52 failed requests started in a call nothing answered, from 4 callers to 5 callees, "
            "none of them most of it (the network between services, not any one service)",
        ),
        (
            CallsUnanswered(70, 70, "log_lines", 4, 5),
            "70 of 70 new error lines started in a call nothing answered, from 4 callers to 5 callees, "
            "none of them most of it (the network between services, not any one service)",
        ),
        (
            NewVersionsWentWrong([VersionRates("cart", "1.5.0", 0.45, 0.0)]),
            "spans that went wrong on versions the baseline never ran: "
            "cart 1.5.0 45% against 0% on the old one",
        ),
        (OnlyOneRelease("cart"), "only cart's release went wrong"),
        (
            FlagOn("feature_flag.new_pricing", "on", 0.9, 0.1),
            "feature_flag.new_pricing=on is on in 90% of bad requests against 10% of healthy ones",
        ),
        (
            WrongWithFlag([ServiceRates("catalog", 0.4, 0.01)]),
            "spans that went wrong with it on, against without: catalog 40% against 1%",
        ),
        (
            TopDependency("sqlite:shop", ["auth", "catalog"]),
            "sqlite:shop is the top candidate and is shared by auth, catalog",
        ),
        (TopDependency("redis", ["cart"]), "redis is the top candidate and only cart calls it"),
        (
            InstanceWentWrong("catalog-2", 0.6, 0.02, 2),
            "60% of catalog-2's spans went wrong themselves, against 2% of its 2 siblings'",
        ),
        (EveryInstance("cart"), "cart is the top candidate on all its instances"),
        (NothingStoodOut(), "no candidate stood out"),
    ],
)
def test_each_ground_is_worded_from_its_figures(ground: Ground, words: str) -> None:
    assert ground_words(ground) == words


def test_a_scope_stored_before_grounds_says_its_reasons() -> None:
    old = Scope("localized", "service", 0.7, ["cart is the top candidate on all its instances"], "cart")
    assert scope_reasons(old) == ["cart is the top candidate on all its instances"]


def test_a_change_is_timed_against_the_burn_and_ranked() -> None:
    deploy = Change("catalog", "deploy", 0, "2.0.0")
    assert (
        change_words(ChangeFinding(deploy, 3.2, 1))
        == "deploy of catalog 2.0.0, 3 min before the burn (suspect #1)"
    )
    flag = Change("web", "flag", 0)
    assert change_words(ChangeFinding(flag, -2.0, None)) == "flag of web, 2 min into the burn"
    evidence = Evidence("change", "", 0.0, "catalog", ChangedBefore("deploy", "2.0.0", 3.2, 1))
    assert evidence_words(evidence) == "deploy of catalog 2.0.0, 3 min before the burn (suspect #1)"


def report_with(scope: Scope, candidates: list[Candidate]) -> Report:
    return Report("checkout", scope, candidates, [], [], [], [], [], 10, 100)


GROWTH = Evidence(
    "critical_path", "", 0.9, "sqlite:shop", CriticalPathGrowth("SELECT", 700.0, 5.0, 705.0, 0.9)
)
CART = Evidence("error_origin", "", 0.9, "cart", ErrorOrigins(9, 10))


@pytest.mark.parametrize(
    ("scope", "top", "line"),
    [
        (
            Scope("systemic", "shared_dependency", 0.75, subject="sqlite:shop"),
            Candidate("sqlite:shop", 0.9, "sqlite-1", evidence=[GROWTH]),
            "Systemic fault (shared dependency): sqlite:shop; sqlite:shop SELECT: +700 ms on the critical "
            "path (5 -> 705 ms, 90% of the added time)",
        ),
        (
            Scope("systemic", "feature_flag", 0.75, subject="feature_flag.new_pricing=on"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Systemic fault (feature flag): feature_flag.new_pricing=on; most affected cart: errors of 9 of "
            "10 failed traces originated in cart",
        ),
        (
            Scope("systemic", "release", 0.8, subject="2.0.0"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Systemic fault (release): 2.0.0; most affected cart: errors of 9 of 10 failed traces "
            "originated in cart",
        ),
        (
            Scope("systemic", "zone", 0.8, subject="eu-1a"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Systemic fault (zone): eu-1a; most affected cart: errors of 9 of 10 failed traces "
            "originated in cart",
        ),
        (
            Scope("systemic", "traffic", 0.8, subject="traffic"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Systemic fault (traffic surge); most affected cart: errors of 9 of 10 failed traces "
            "originated in cart",
        ),
        (
            Scope("localized", "service", 0.8, subject="cart"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Localized fault (service); most likely cart: errors of 9 of 10 failed traces originated in cart",
        ),
        (
            Scope("localized", "instance", 0.75, subject="cart-2"),
            Candidate("cart", 0.9, "cart-2", evidence=[CART]),
            "Localized fault (instance); most likely cart (cart-2): errors of 9 of 10 failed traces "
            "originated in cart",
        ),
    ],
)
def test_the_summary_names_the_cause_and_an_instance_only_when_it_is_the_finding(
    scope: Scope, top: Candidate, line: str
) -> None:
    assert summary(report_with(scope, [top])) == line


def test_a_systemic_verdict_leads_with_evidence_not_about_one_instance() -> None:
    on_one = Evidence("metric", "", 0.9, "cart", MetricMove("error_rate", "cart-2", "up", 0.0, 0.2, 90.0))
    zone = Scope("systemic", "zone", 0.8, subject="eu-1a")
    assert summary(report_with(zone, [Candidate("cart", 0.9, "cart-2", evidence=[on_one, CART])])) == (
        "Systemic fault (zone): eu-1a; most affected cart: errors of 9 of 10 failed traces originated in cart"
    )
    assert summary(report_with(zone, [Candidate("cart", 0.9, "cart-2", evidence=[on_one])])) == (
        "Systemic fault (zone): eu-1a; most affected cart: no detail"
    )


@pytest.mark.parametrize(
    "kind", ["shared_db_slow", "zone_loss", "release_multi", "flag_across", "traffic_surge"]
)
def test_generated_systemic_verdicts_name_their_cause_and_no_instance(kind: str) -> None:
    report = analyze(generate(kind, 2).analysis_input())
    scope = report.scope
    assert scope.kind == "systemic" and scope.subject
    line = summary(report)
    assert line.startswith(f"Systemic fault ({LEVEL_WORDS[scope.level]})")
    assert scope.level == "traffic" or scope.subject in line
    instances = {c.instance for c in report.candidates if c.instance}
    assert instances and not any(instance in line for instance in instances)


def test_a_systemic_verdict_without_a_suspect_still_names_its_cause() -> None:
    zone = Scope("systemic", "zone", 0.8, subject="eu-1a")
    assert summary(report_with(zone, [])) == "Systemic fault (zone): eu-1a; no single suspect stood out."
    nothing = Scope("localized", "unknown", 0.0)
    assert summary(report_with(nothing, [])) == "No root cause stood out (localized)."
