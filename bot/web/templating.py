"""The Jinja2 environment of the pages: autoescaped always, since span attributes, log
lines and incident summaries are user data, and strict about undefined names, so a typo in
a template fails the page test instead of rendering an empty cell.

Filters format numbers and times the same way on every page.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.render.advice import advice_words, gain_words
from bot.render.fixes import ms_words
from bot.render.report import (
    change_words,
    evidence_words,
    gap_words,
    grown_words,
    missing_words,
    scope_reasons,
    similar_words,
    summary,
)
from bot.slack.messages import budget_left_words, format_duration
from bot.web import text

SECURITY_HEADERS = {
    # No script but our own file; inline style attributes carry the waterfall's geometry.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@functools.cache
def environment() -> jinja2.Environment:
    """Built once, on first use (templates are loaded and compiled lazily by Jinja2)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        when_s=when_s,
        when_ns=when_ns,
        ms=ms,
        pct=pct,
        num=num,
        duration=lambda seconds: format_duration(seconds or 0),
        href=href,
        budget=budget,
        evidence=evidence_words,
        reasons=scope_reasons,
        change=change_words,
        gap=gap_words,
        grown=grown_words,
        advice=advice_words,
        gain=gain_words,
        ns=ms_words,
        missing=missing_words,
        similar=similar_words,
        verdict=summary,
    )
    env.globals["text"] = text
    return env


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template; every page gets ``root`` (the app's mount path) for its links."""
    html = environment().get_template(name).render(root=request.scope.get("root_path", ""), **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def href(url: object) -> str:
    """``url`` when it is an http(s) link, else "": links in reports come from people
    (a change posted to the API), and a ``javascript:`` one must not become clickable."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""


def when(iso: str | None) -> str:
    """An ISO time from the incident JSON (``2023-11-15T01:28:20.12Z``) as people read it."""
    if not iso:
        return "—"
    return iso.replace("T", " ").split(".")[0].removesuffix("Z") + " UTC"


def when_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def when_ns(ns: int | None) -> str:
    if ns is None:
        return "—"
    stamp = dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d} UTC"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value:.2f} ms"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def pct(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}%}"


def budget(left: float | None) -> str:
    """Budget left, in the words Slack uses: "12 % left", "exhausted"."""
    if left is None:
        return "—"
    return budget_left_words(left)


def num(value: float | None) -> str:
    """Three significant figures, the precision the analysis' numbers deserve."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"
