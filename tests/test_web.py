"""The web pages in a real browser (Playwright driving Debian's chromium) against the app
served by uvicorn on a free loopback port: the bot is built as the server builds it, fed
generated telemetry, evaluated, and investigated, then the pages are read as a person
reads them. Screenshots land in tests/artifacts/ for a person to look at.

One bot and one server for the module (the scenario and its investigation are the slow
part); each test gets a fresh browser context, so cookies never carry over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from bot.config import AppConfig, Runbook
from bot.journey_advice import rank
from bot.render.fixes import ms_words
from bot.render.waterfall import COLOURS, ERROR_COLOUR, PATH_BAND, PATH_COLOUR
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.web.journeys import journey_view
from bot.web.mrkdwn import mrkdwn
from bot.wiring import Bot
from correlators.model import LogRecord, SpanEvent, SpanKind, Trace
from tests.scenarios import generate
from tests.spantree import TraceBuilder
from tests.stored import S, shop_config, store_telemetry

if TYPE_CHECKING:  # imported by the browser fixture, which says how to install it if missing
    from playwright.sync_api import Page


TOKEN = "pages-s3cret"
ARTIFACTS = Path(__file__).parent / "artifacts"
BASE_NS = 1_700_020_000 * S
MS = 1_000_000
XSS = '<img src=x onerror="window.pwned = 1">'


@dataclasses.dataclass
class Site:
    bot: Bot
    url: str
    incident_id: int


def web_config() -> AppConfig:
    runbooks = [
        Runbook(title="Cart service runbook", url="https://runbooks.example/cart", service="cart"),
        Runbook(title="Shared database", url="https://runbooks.example/db", fault="shared_dependency"),
    ]
    return shop_config().model_copy(update={"runbooks": runbooks})


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, live_server: Callable[[Any], AbstractContextManager[str]]
) -> Iterator[Site]:
    """cart's release throws on checkout; evaluated four quiet minutes before the burn
    (for the sparklines), then at its end, in local mode (no Slack tokens); then Alice
    acknowledges the incident and Bob says the root cause was right."""
    folder = tmp_path_factory.mktemp("web")
    settings = Settings(database_url=f"sqlite:///{folder}/jw.db", api_token=SecretStr(TOKEN))
    settings.collector.writer_process = False
    bot = build_bot(settings, web_config())
    scenario = generate("deploy_exception", 3)
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    start_s, end_s = scenario.incident[0] / S, scenario.incident[1] / S
    for minutes in (4, 3, 2, 1):
        bot.watcher.evaluate_all(start_s - 60 * minutes)
    [opened] = bot.watcher.evaluate_all(end_s)
    for future in bot.watcher.pending:
        future.result(timeout=60)
    bot.incidents.set_status(opened.incident_id, "acknowledged", "U0ALICE", end_s + 60)
    bot.incidents.record_verdict(opened.incident_id, "U0BOB", "right", end_s + 120)
    app = create_app(bot)
    with live_server(app) as url:
        yield Site(bot, url, opened.incident_id)
    bot.watcher.close()
    bot.investigator.close()
    bot.store.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page whose requests carry the token as a bearer header, as a script's would."""
    return new_page(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})


def labels(page: Page, selector: str) -> list[str]:
    found: list[str] = page.locator(selector).evaluate_all("rows => rows.map(r => r.dataset.label)")
    return found


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web_{name}.png"), full_page=True)


# --- a known trace, by hand -------------------------------------------------------------


def checkout_trace() -> Trace:
    """Cart and pricing in parallel, pricing's compute the slow part, then a failing
    charge; inventory's spans lost their parent (a proxy dropped the context) and fit no
    client, so they stay apart."""
    b = TraceBuilder("5e" * 16)
    root = b.span("frontend", "GET /checkout", 0, 100, kind=SpanKind.SERVER)
    b.call(root, "cart", "GET /cart", 10, 40)
    _, pricing = b.call(root, "pricing", "POST /quote", 10, 60)
    compute = b.span("pricing", "compute", 20, 50, parent=pricing)
    compute.attributes["customer.note"] = XSS  # user data: must show as text
    _, charge = b.call(root, "payments", "POST /charge", 65, 95, error=True)
    loose = b.span("inventory", "POST /reserve", 2, 8, parent="f" * 16, kind=SpanKind.SERVER)
    b.span("inventory", "SELECT stock", 3, 6, parent=loose)
    charge.events = (SpanEvent("exception", 90 * MS, {"exception.type": "CardDeclined"}),)
    languages = {"frontend": "nodejs", "pricing": "java", "payments": "go", "cart": "python"}
    spans = [
        dataclasses.replace(
            s, start_ns=s.start_ns + BASE_NS, end_ns=s.end_ns + BASE_NS, language=languages.get(s.service)
        )
        for s in b.spans
    ]
    for span in spans:
        span.events = tuple(dataclasses.replace(e, time_ns=e.time_ns + BASE_NS) for e in span.events)
    return Trace(b.trace_id, spans, journey="checkout", session_id="sess-7")


def login_trace() -> Trace:
    b = TraceBuilder("1f" * 16)
    b.span("auth", "POST /login", 0, 30, kind=SpanKind.SERVER)
    spans = [
        dataclasses.replace(s, start_ns=s.start_ns + BASE_NS - 60 * S, end_ns=s.end_ns + BASE_NS - 60 * S)
        for s in b.spans
    ]
    return Trace(b.trace_id, spans, journey="login", session_id="sess-7")


def test_the_trace_page_draws_the_critical_path_errors_and_orphans(site: Site, page: Page) -> None:
    trace = checkout_trace()
    charge = next(s for s in trace.spans if s.name == "POST /charge")
    failure = LogRecord(
        charge.end_ns - MS, "payments", f"charge refused {XSS}", "ERROR", 17, trace.trace_id, charge.span_id
    )
    site.bot.store.write_traces([trace, login_trace()])
    site.bot.store.write_logs([failure])

    page.goto(f"{site.url}/traces/{trace.trace_id}")
    assert labels(page, "#tree details.span-row.critical") == [
        "frontend (nodejs)  GET /checkout",
        "frontend (nodejs)  call pricing",
        "pricing (java)  POST /quote",
        "pricing (java)  compute",
        "frontend (nodejs)  call payments",
        "payments (go)  POST /charge",
    ]
    assert labels(page, "#tree details.span-row:not(.critical)") == [
        "frontend (nodejs)  call cart",
        "cart (python)  GET /cart",
    ]
    assert labels(page, "#orphans details.span-row") == [
        "inventory  POST /reserve",
        "inventory  SELECT stock",
    ]
    assert labels(page, "details.span-row.error") == [
        "frontend (nodejs)  call payments",
        "payments (go)  POST /charge",
    ]
    assert labels(page, "details.span-row.origin") == ["payments (go)  POST /charge"]
    assert "error origin" in page.locator("details.span-row.origin .wf-origin").inner_text()
    assert page.locator("details.span-row.lat-hot").count() >= 1

    compute = page.locator("details[data-label='pricing (java)  compute']")
    assert not compute.locator(".span-details").is_visible()
    compute.locator("summary").click()
    assert compute.locator(".kv td").first.inner_text() == XSS  # shown as text, not run
    page.locator("#logs a[data-open-span]").click()  # the log's span opens
    assert page.locator(f"#span-{charge.span_id} .span-details").inner_text().count("CardDeclined") == 1
    assert XSS in page.locator("#logs .log-body").inner_text()
    assert page.evaluate("window.pwned") is None
    shot(page, "trace")

    png = page.request.get(f"{site.url}/traces/{trace.trace_id}.png")
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    assert png.body().startswith(b"\x89PNG")

    page.goto(f"{site.url}/sessions/sess-7")
    assert page.locator(".journey-path li").all_inner_texts() == ["login", "checkout"]
    assert page.locator("#session-traces tbody tr").count() == 2


def test_the_incident_page_shows_the_verdict_suspects_timeline_and_kept_slack(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/incidents/{site.incident_id}")
    verdict = page.locator("#verdict")
    assert (verdict.get_attribute("data-kind"), verdict.get_attribute("data-level")) == (
        "localized",
        "service",
    )
    assert "only cart's release went wrong" in verdict.inner_text()
    top = page.locator("#candidates .candidate").first
    assert top.get_attribute("data-service") == "cart"
    assert "NullPointerException" in top.inner_text()
    events = page.locator("#timeline li.event")
    kinds = events.evaluate_all("items => items.map(i => i.dataset.kind)")
    assert kinds == ["opened", "investigated", "hypothesis", "acknowledged", "verdict"]
    assert "Hypothesis: cart (service), confidence " in events.nth(2).inner_text()
    assert [a.inner_text() for a in events.locator(".actor.person").all()] == ["U0ALICE", "U0BOB"]
    assert "Verdict on the root cause: Right" in events.last.inner_text()
    assert page.locator("#runbooks a").all_inner_texts() == ["Cart service runbook"]
    assert "GET /cart" in page.locator("#budget").inner_text()
    assert "1.5.0" in page.locator("#changes").inner_text()

    slack = page.locator("#slack")
    assert slack.locator(".sk-message").evaluate_all("ms => ms.map(m => m.dataset.kind)")[:2] == [
        "parent",
        "thread",
    ]
    bar = slack.locator(".sk-attachment").first.evaluate("a => getComputedStyle(a).borderLeftColor")
    assert bar == "rgb(224, 30, 90)"  # the page colour of the parent's attachment
    buttons = slack.locator(".sk-button")
    assert "Acknowledge" in buttons.all_inner_texts()
    assert all(b.is_disabled() for b in buttons.all())
    assert slack.locator("strong", has_text="1. cart").count() == 1  # mrkdwn *bold*
    assert slack.locator("a", has_text="Full report").get_attribute("href", timeout=1000)
    picture = slack.locator(".sk-file img")  # the waterfall PNG, drawn when scrolled to
    picture.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    shot(page, "incident")

    page.locator("#worst-traces a").first.click()  # the worst exemplar, as the report names it
    assert page.locator("#tree details.span-row.critical").count() > 1
    assert page.locator("details.span-row.error").count() >= 1
    shot(page, "trace_worst")


def test_the_journeys_page_shows_checkout_firing_with_its_incident(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/")
    assert page.url == f"{site.url}/journeys"
    statuses = page.locator("article.journey").evaluate_all(
        "cards => cards.map(c => [c.dataset.journey, c.dataset.status])"
    )
    assert statuses == [["checkout", "firing"], ["login", "ok"], ["search", "ok"]]
    checkout = page.locator("#journey-checkout")
    assert checkout.locator(".card-head .badge").inner_text() == "firing"
    burst = checkout.locator("tr[data-objective='availability'][data-tier='page-burst']")
    assert "firing" in (burst.get_attribute("class", timeout=1000) or "").split()
    points = burst.locator("svg.spark polyline").get_attribute("points", timeout=1000) or ""
    assert len(points.split()) == 5  # four quiet evaluations and the burning one
    shot(page, "journeys")

    checkout.locator(".open-incident a").click()
    assert page.url == f"{site.url}/incidents/{site.incident_id}"
    page.goto(f"{site.url}/incidents?status=open")
    assert page.locator("table.incidents tbody tr").count() == 1
    shot(page, "incidents")


def test_pages_want_the_token_by_header_query_or_cookie(site: Site, new_page: Callable[..., Page]) -> None:
    bare = new_page()
    for path in (
        "/journeys",
        f"/incidents/{site.incident_id}",
        f"/traces/{'5e' * 16}.png",
        "/journeys?token=nope",
    ):
        answer = bare.goto(f"{site.url}{path}")
        assert answer is not None and answer.status == 401, path
    assert "A token is needed" in bare.locator("h1").inner_text()
    wrong = new_page(extra_http_headers={"Authorization": "Bearer nope"})
    answer = wrong.goto(f"{site.url}/journeys")
    assert answer is not None and answer.status == 401

    answer = bare.goto(f"{site.url}/incidents?status=open&token={TOKEN}")
    assert answer is not None and answer.status == 200
    assert bare.url == f"{site.url}/incidents?status=open"  # the token left the address
    [cookie] = bare.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert TOKEN not in cookie["value"]
    answer = bare.goto(f"{site.url}/journeys")  # the cookie alone now
    assert answer is not None and answer.status == 200
    screenshot_refusal = new_page()
    screenshot_refusal.goto(f"{site.url}/journeys")
    shot(screenshot_refusal, "refused")


def test_unknown_things_get_a_404_page(site: Site, page: Page) -> None:
    for path in (
        "/traces/" + "0" * 32,
        "/traces/not-hex",
        "/incidents/999",
        "/incidents/" + "9" * 30,
        "/journeys/nope",
    ):
        answer = page.request.get(f"{site.url}{path}")
        assert answer.status == 404, path
        assert "Not found" in answer.text()
    headers = page.request.get(f"{site.url}/journeys").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_mrkdwn_links_only_to_the_web_and_escapes_the_rest() -> None:
    html = str(mrkdwn("*1. cart* <https://jw.example/i/1|Incident #1> <javascript:alert(1)|x> `<b>` <@U1>"))
    assert html.startswith('<strong>1. cart</strong> <a href="https://jw.example/i/1"')
    assert "&lt;javascript:alert(1)|x&gt;" in html and 'href="javascript' not in html
    assert "<code>&lt;b&gt;</code>" in html and '<span class="mention">@U1</span>' in html


def test_the_stylesheet_uses_the_waterfall_pictures_colours() -> None:
    """The page and the PNG in Slack should look alike; the colours live in two places."""
    css = (Path(__file__).parents[1] / "bot" / "web" / "static" / "web.css").read_text().lower()
    for colour in (*COLOURS.values(), PATH_COLOUR, PATH_BAND, ERROR_COLOUR):
        assert colour.lower() in css, colour


def test_the_journey_page_ranks_what_would_win_its_time_back(site: Site, page: Page) -> None:
    """Checkout's frontend makes its calls one after another: the page ranks that with its
    p95 and p50 contribution, as the analysis of the same kept traces does, and its
    example traces open."""
    journey = site.bot.config.journey("checkout")
    assert journey is not None
    evaluated = journey_view(site.bot, "checkout").evaluated_at
    assert evaluated is not None
    end_ns = int(evaluated * S)
    expected = rank(site.bot.sources.traces, journey, end_ns - 24 * 3600 * S, end_ns, 1000)
    assert expected.advice and expected.requests > 50

    page.goto(f"{site.url}/journeys/checkout")
    advice = page.locator("#advice")
    assert f"across {expected.requests} kept requests" in advice.locator(".lede").inner_text()
    rows = advice.locator("tbody tr")
    assert rows.count() == len(expected.advice)
    top, first = rows.first, expected.advice[0]
    assert top.get_attribute("data-kind") == first.kind.value == "consecutive_calls"
    assert "make the calls concurrently" in top.inner_text()
    assert top.locator("td.p95").inner_text() == f"{ms_words(first.p95_gain_ns)}"
    assert top.locator("td.p50").inner_text() == f"{ms_words(first.p50_gain_ns)}"
    assert first.p95_gain_ns > 0 and first.p50_gain_ns > 0
    assert top.locator("a.example").count() == len(first.examples) > 0
    shot(page, "journey_advice")
    top.locator("a.example").first.click()
    page.wait_for_url(f"{site.url}/traces/{first.examples[0]}")
    page.locator("#tree details.span-row").first.wait_for()
