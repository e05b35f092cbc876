"""The slash command's subcommands: parse the text, answer with a message.

Kept apart from Bolt so each answer is a plain function of the bot's state (and tests
read them without Slack); ``bot.slack.app`` acks first, then calls these off the request.
A bad argument is a :class:`Usage` with a short reason, answered with the usage text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from bot.durations import format_duration, parse_duration
from bot.incidents.headline import onset
from bot.incidents.ondemand import OnDemandReports
from bot.investigate import Request
from bot.policy import Principal, readable
from bot.read_model import journey_json
from bot.slack import blocks
from bot.slack import messages as say
from bot.slack.blocks import SlackMessage, context, section
from bot.slack.mrkdwn import Quote
from bot.wiring import Bot, public_url
from correlators.critical_path import critical_path, time_by_operation
from correlators.model import Trace
from correlators.report import Report
from correlators.traces import assemble, error_origin

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_WINDOW_S = 24 * 3600
DEFAULT_WINDOW_S = 15 * 60
ERROR_SEVERITY = 17
clock = time.time
"""The time on-demand investigations end at (tests replay generated telemetry)."""


class Usage(ValueError):
    """A bad argument: answered privately with the reason and the usage text."""


@dataclass(frozen=True, slots=True)
class Parsed:
    name: str
    args: list[str]


def parse(text: str) -> Parsed:
    words = text.split()
    if not words:
        return Parsed("help", [])
    name = words[0].lower()
    if name not in ("trace", "journey", "incidents", "investigate", "help"):
        raise Usage(f"I don't know `{words[0]}`.")
    return Parsed(name, words[1:])


def check(bot: Bot, parsed: Parsed, who: Principal) -> None:
    """Raise :class:`Usage` for a bad argument, without doing the command's work."""
    if parsed.name == "trace":
        trace_args(parsed.args)
    elif parsed.name == "investigate":
        investigate_args(bot, parsed.args, who)
    elif parsed.name == "journey":
        journey_arg(bot, parsed.args, who)
    elif parsed.name == "incidents" and parsed.args:
        raise Usage("`incidents` takes no arguments.")


# --- trace --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceArgs:
    trace_id: str
    share: bool


def trace_args(args: list[str]) -> TraceArgs:
    if not args or len(args) > 2 or (len(args) == 2 and args[1].lower() != "share"):
        raise Usage("`trace` takes a trace id and optionally `share`.")
    trace_id = args[0].lower()
    if not TRACE_ID.match(trace_id):
        raise Usage(f"`{args[0]}` is not a trace id (32 hex characters).")
    return TraceArgs(trace_id, len(args) == 2)


def trace_message(bot: Bot, trace: Trace, quote: Quote) -> SlackMessage:
    """Critical path by operation, the error origin and the trace's error log lines; every
    name and line in it is telemetry, so through ``quote``."""
    tree = assemble(trace)
    segments = critical_path(tree)
    total = sum(s.duration_ns for s in segments) or 1
    by_operation = sorted(time_by_operation(segments).items(), key=lambda kv: -kv[1])[:6]
    lines = [
        say.critical_path_line(quote(service), quote(operation), ns / 1e6, ns / total)
        for (service, operation), ns in by_operation
    ]
    origin = error_origin(tree)
    root = trace.root
    head = say.trace_head(
        quote(trace.trace_id),
        quote(trace.journey) or None,
        trace.duration_ns / 1e6,
        len(trace.spans),
        quote.all(_services(trace)),
    )
    parts: list[Any] = [section(head), section(say.titled(say.CRITICAL_PATH, lines))]
    if origin is not None:
        parts.append(
            section(
                say.error_origin_line(quote(origin.service), quote(origin.name), quote(origin.status_message))
            )
        )
    elif root is not None and not trace.has_error:
        parts.append(section(say.NO_ERRORS))
    errors = [r for r in bot.store.logs_for_trace(trace.trace_id) if r.severity_number >= ERROR_SEVERITY][:5]
    if errors:
        parts.append(
            section(
                say.titled(
                    say.ERROR_LOG_LINES,
                    [say.error_log_line(quote(r.service), blocks.fit(quote(r.body), 200)) for r in errors],
                )
            )
        )
    url = f"{bot_url(bot)}/traces/{trace.trace_id}"
    parts.append(context(say.waterfall_link(url)))
    return SlackMessage(say.trace_title(trace.trace_id), blocks=blocks.to_dicts(parts, url))


def _services(trace: Trace) -> list[str]:
    languages = {s.service: s.language for s in trace.spans}
    return [f"{name} ({languages[name]})" if languages.get(name) else name for name in trace.services]


# --- journey, incidents ---------------------------------------------------------------------------


def journey_names(bot: Bot, who: Principal) -> list[str]:
    """The journeys ``who`` may see: one out of scope is named as one that does not exist."""
    return readable(who, (j.name for j in bot.config.journeys))


def journey_arg(bot: Bot, args: list[str], who: Principal) -> str | None:
    """The journey named, None for all of them, or :class:`Usage`."""
    names = journey_names(bot, who)
    if len(args) > 1:
        raise Usage("`journey` takes at most one journey name.")
    if args and args[0] not in names:
        raise Usage(say.journey_not_found(args[0], names))
    return args[0] if args else None


def journey_message(bot: Bot, args: list[str], who: Principal) -> SlackMessage:
    name = journey_arg(bot, args, who)
    if name is None:
        rows = [_journey_line(journey_json(bot, n)) for n in journey_names(bot, who)]
        text = say.titled(say.JOURNEYS, rows or [say.NONE_CONFIGURED])
        return SlackMessage(say.JOURNEYS, blocks=blocks.to_dicts([section(text)]))
    state = journey_json(bot, name)
    return SlackMessage(say.journey_title(name), blocks=blocks.to_dicts(_journey_blocks(bot, state)))


def _journey_line(state: dict[str, Any]) -> str:
    incident = state["open_incident"]
    budget = min(state["budget_left"].values(), default=1.0)
    return say.journey_line(
        state["name"],
        incident["id"] if incident else None,
        incident["severity"] if incident else None,
        say.budget_left_words(budget),
    )


def _journey_blocks(bot: Bot, state: dict[str, Any]) -> list[Any]:
    objectives = state["objectives"]
    latency = objectives["latency"] or {}
    head = say.journey_head(
        state["name"],
        state["owner"],
        objectives["availability"],
        (latency.get("target"), latency.get("threshold_ms")),
        format_duration(state["slo_window_s"]),
    )
    tiers = [
        say.tier_line(t["objective"], t["tier"], t["long_burn"], t["short_burn"], t["firing"])
        for t in state["tiers"]
    ]
    budget = (
        ", ".join(f"{k} {say.budget_left_words(v)}" for k, v in state["budget_left"].items())
        or say.NOT_EVALUATED
    )
    parts: list[Any] = [
        section(head),
        section(say.titled(say.BURN_BY_TIER, tiers or [say.NOT_EVALUATED])),
    ]
    parts.append(section(say.budget_left_line(say.window_words(state["slo_window_s"]), budget)))
    incident = state["open_incident"]
    if incident:
        url = f"{bot_url(bot)}/incidents/{incident['id']}"
        parts.append(
            section(say.open_incident_line(url, incident["id"], incident["severity"], incident["tier"]))
        )
    return parts


def incidents_message(bot: Bot, permalinks: dict[int, str], who: Principal) -> SlackMessage:
    found = bot.incidents.find(status="open", journeys=who.journeys, limit=20)
    if not found:
        return SlackMessage(say.NO_OPEN_INCIDENTS, blocks=blocks.to_dicts([section(say.NO_OPEN_INCIDENTS)]))
    lines = [
        say.open_incidents_line(
            f"{bot_url(bot)}/incidents/{incident['id']}",
            incident["id"],
            incident["journey"],
            incident["severity"],
            incident["tier"],
            incident["burn_rate"],
            incident["status"],
            permalinks.get(incident["id"]),
        )
        for incident in found
    ]
    return SlackMessage(
        say.OPEN_INCIDENTS, blocks=blocks.to_dicts([section(say.titled(say.OPEN_INCIDENTS, lines))])
    )


# --- investigate ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvestigateArgs:
    journey: str
    window_s: int


def investigate_args(bot: Bot, args: list[str], who: Principal) -> InvestigateArgs:
    names = journey_names(bot, who)
    if not args or len(args) > 2:
        raise Usage("`investigate` takes a journey and optionally a window such as `30m`.")
    if args[0] not in names:
        raise Usage(say.journey_not_found(args[0], names))
    window = DEFAULT_WINDOW_S
    if len(args) == 2:
        try:
            window = parse_duration(args[1])
        except ValueError:
            raise Usage(f"`{args[1]}` is not a window; use e.g. `15m` or `2h`.") from None
        if not 60 <= window <= MAX_WINDOW_S:
            raise Usage("the window must be between 1m and 24h.")
    return InvestigateArgs(args[0], window)


def investigate(bot: Bot, parsed: InvestigateArgs, asked_by: str | None = None) -> tuple[int, Report]:
    """Run an on-demand investigation now and keep it; returns its id (its page is
    ``/investigations/{id}``) and the report."""
    journey = bot.config.journey(parsed.journey)
    assert journey is not None
    objectives = [kind for kind in ("availability", "latency") if journey.objective(kind) is not None]
    now = clock()
    began = onset(bot.store, journey.name, objectives, now - parsed.window_s, now)
    objective = began.objective if began else objectives[0] if objectives else "availability"
    start_s = began.started_s if began else now - parsed.window_s
    report = bot.investigator.investigate(Request(journey, objective, start_s, now))
    kept = OnDemandReports(bot.store.engine).add(journey.name, asked_by, now - parsed.window_s, now, report)
    return kept, report


def bot_url(bot: Bot) -> str:
    return public_url(bot.settings)
