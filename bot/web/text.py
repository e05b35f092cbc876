"""Every sentence the web pages say, in one place, so the wording is reviewed together
(``bot.slack.messages`` does the same for Slack; the verdict labels and durations are
shared with it, so a page and a Slack message never name the same thing differently).

Plain functions of plain values; the page structure lives in the templates.
"""

from __future__ import annotations

from typing import Any

from bot.incidents.grouping import Cause, Verdict
from bot.incidents.hypothesis import HYPOTHESIS_EVENT, Posted, Shift
from bot.render import waterfall as _picture
from bot.render.report import FIXES_TITLE as FIXES_TITLE  # the incident page says it as the thread does
from bot.render.report import LEVEL_WORDS
from bot.slack.messages import VERDICTS, budget_share_words, format_duration, hypothesis_name

# The waterfall's words, as the PNG in Slack says them.
LEGEND_CRITICAL = _picture.LEGEND_CRITICAL
LEGEND_ERROR = _picture.LEGEND_ERROR
LEGEND_LATENCY = _picture.LEGEND_LATENCY
ORPHAN_HEADING = _picture.ORPHAN_HEADING

PRODUCT = "journeywatch"
BOT_ACTOR = "journeywatch"

REFUSED_TITLE = "A token is needed"
REFUSED_WHY = (
    "These pages show traces and incidents, so this journeywatch wants its API token "
    "or an access key (made with `journeywatch keys create --role viewer`)."
)
REFUSED_HOW = (
    (
        "Open the page once with",
        "?token=<token>",
        "added to its address; the browser then keeps it in a cookie.",
    ),
    ("Or send the header", "Authorization: Bearer <token>", "with each request, as a script would."),
)
REFUSED_WRONG = "The token given was not the right one, or its key has expired or been revoked."
REFUSED_SENDS_ONLY = "The key given sends telemetry and reads nothing: pages want an access key."

SLACK_THREAD = "Slack thread"
SAME_CAUSE_AS = "Same cause as"
SAME_CAUSE_IN = "Same cause in"
GROUPED_MARK = "same cause as"
EVIDENCE_FOR = "Evidence for"
NOT_FOUND_TITLE = "Not found"
STORE_FAILED_TITLE = "The store did not answer"
STORE_FAILED = "Reading from the telemetry store failed; the log of journeywatch has the query."

NO_EVALUATION = "not evaluated yet"
NO_REPORT = "Not investigated yet."
NO_CANDIDATES = "No root cause stood out."
NO_INCIDENTS = "No incidents."
NO_LOGS = "No logs carry this trace's id."
NO_TRACES_IN_SESSION = "No kept traces for this session or user."
LOCAL_SLACK_NOTE = (
    "Slack is not configured (no SLACK_BOT_TOKEN), so these messages were kept here instead of posted. "
    "This is how they would look in Slack."
)
ADVICE_TITLE = "Where the time goes and what would win it back"
NO_ADVICE = "No pattern found in these traces: nothing to win back."
ADVICE_UNREAD = "The traces could not be read just now; the ranking is left out."
SPARKLINE_NOTE = "long-window burn rate, log scale; the dashed line is the tier's threshold"
RELEASES_TITLE = "Releases"
RELEASES_WHY = (
    "Each service version seen in spans, against the version before it on the operations "
    "that lie on a journey's critical path: latency (p50, p95, with intervals), failures "
    "and patterns new in the version."
)
NO_RELEASES = "No service versions seen yet."
QUARANTINE_TITLE = "Quarantine"
QUARANTINE_WHY = (
    "Items the database refused to store. The writer split their batches until it found them, "
    "stored everything else, and kept these here (redacted, cut) with the database's reason."
)
QUARANTINE_ROWS = "rows"
NO_QUARANTINE = "Nothing quarantined: the database has taken every row."
AUDIT_TITLE = "Audit trail"
AUDIT_WHY = (
    "Who read which trace, session or incident, who acknowledged, resolved, muted or graded, "
    "who made, revoked or rotated ingest keys, and what journeywatch posted to Slack. "
    "Ids and names only; a session's key is shown as its hash."
)
AUDIT_ADMIN_ONLY_TITLE = "This page is for admins"
AUDIT_ADMIN_ONLY = (
    "The audit trail is an admin page: it opens with the API token (JOURNEYWATCH_API_TOKEN) "
    "or an admin access key (`journeywatch keys create --role admin`), never on open pages. "
    "On the bot's machine, read it with `journeywatch audit-log --since 7d`."
)
NO_AUDIT = "Nothing recorded in this period."
STATUS_FILTERS = {"": "All", "open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def advice_note(requests: int, p50: str, p95: str, start: str, end: str) -> str:
    return (
        f"Ranked by what each fix wins back at p95 across {requests} kept requests from {start} to {end} "
        f"(p50 {p50}, p95 {p95}); kept traces over-represent slow and failed ones."
    )


def not_found(what: str) -> str:
    return f"There is no {what}."


def quarantine_count(total: int, shown: int) -> str:
    return f"{total} kept, the newest {shown} shown." if total > shown else f"{total} kept."


def on_demand_window(start: str, end: str, asked_by: str | None) -> str:
    """The head of an on-demand investigation's page."""
    return f"Asked for by hand{f' by {asked_by}' if asked_by else ''}, over {start} to {end}."


def slower_than(threshold_ms: float | None) -> str:
    return f"slower than its journey's {threshold_ms:g} ms objective" if threshold_ms is not None else ""


def journey_status(firing: bool, evaluated: bool) -> str:
    if not evaluated:
        return NO_EVALUATION
    return "firing" if firing else "ok"


def availability_objective(target: float) -> str:
    return f"availability {target:.2%}".replace(".00%", "%")


def latency_objective(threshold_ms: float, target: float) -> str:
    return f"{target:.0%} of requests under {threshold_ms:g} ms"


def hypothesis_line(posted: Posted) -> str:
    """A hypothesis the thread was told of, as the timeline lists it."""
    now, was = posted.now, posted.was
    name = hypothesis_name(now.suspect, now.level, now.subject)
    if posted.shift is Shift.CHANGED and was is not None:
        return f"Hypothesis changed: {name}, was {hypothesis_name(was.suspect, was.level, was.subject)}"
    if posted.shift in (Shift.STRENGTHENED, Shift.WEAKENED) and was is not None:
        return f"Hypothesis {posted.shift}: {name}, confidence {was.confidence} % → {now.confidence} %"
    return f"Hypothesis: {name}, confidence {now.confidence} %"


def timeline_line(kind: str, detail: dict[str, Any]) -> str:
    """One timeline event as a sentence; who did it is shown beside it."""
    burning = f"burning at {detail['burn_rate']}x" if "burn_rate" in detail else ""
    if kind == "opened":
        return (
            f"Opened on {detail.get('tier')} ({detail.get('objective')}, {detail.get('severity')}), {burning}"
        )
    if kind in ("escalated", "eased"):
        verb = "Escalated" if kind == "escalated" else "Eased"
        change = f"from {detail.get('from_tier')} to {detail.get('tier')}"
        return f"{verb} {change} ({detail.get('severity')}), {burning}"
    if kind == "investigated":
        return f"Investigated in {detail.get('took_s', '?')} s"
    if kind == "resolved":
        spent = detail.get("budget_spent")
        after = format_duration(detail.get("duration_s") or 0)
        return f"Resolved after {after}" + (
            f", {budget_share_words(spent)} of the error budget spent" if spent is not None else ""
        )
    if kind == "verdict":
        verdict = detail.get("verdict", "")
        return f"Verdict on the root cause: {VERDICTS.get(verdict, verdict)}"
    if kind == "slack_thread":
        return "Posted to Slack"
    if kind in ("grouped", "ungrouped"):
        return grouping_line(kind, detail)
    if kind == HYPOTHESIS_EVENT:
        return hypothesis_line(Posted.of_detail(detail))
    if kind == "muted":
        return f"Muted until {detail.get('until')}"
    return kind.replace("_", " ").capitalize()


def verdict_words(kind: str, level: str, subject: str | None) -> str:
    """A verdict or a shared cause, as Slack says it: "systemic (shared dependency) sqlite:shop"."""
    return f"{kind} ({LEVEL_WORDS.get(level, level)})" + (f" {subject}" if subject else "")


def cause_words(cause: Cause) -> str:
    return verdict_words(cause.kind, cause.level, cause.subject)


def own_analysis(verdict: Verdict) -> str:
    said = verdict_words(verdict.kind, verdict.level, verdict.subject or verdict.suspect)
    return f"This journey's own analysis said {said}."


def grouping_line(kind: str, detail: dict[str, Any]) -> str:
    """A ``grouped`` or ``ungrouped`` event (``bot.incidents.groups``)."""
    other = f"{detail.get('journey')} #{detail.get('with')}"
    cause = cause_words(Cause.from_json(detail["cause"])) if detail.get("cause") else "the cause"
    if kind == "grouped":
        if detail.get("role") == "primary":
            return f"{other} has the same cause ({cause}): grouped under this incident"
        return f"Grouped with {other}, the first incident of this cause: {cause}"
    own = Verdict.from_json(detail["own"]) if detail.get("own") else None
    now = (
        f"; this incident's verdict is now {verdict_words(own.kind, own.level, own.subject or own.suspect)}"
        if own
        else ""
    )
    return f"No longer grouped with {other}: {cause} is not the cause of both any more{now}"


def audit_count(count: int, shown: int, since: str) -> str:
    more = f", the newest {shown} shown" if count >= shown else ""
    return f"{count} entries in the last {since}{more}."
