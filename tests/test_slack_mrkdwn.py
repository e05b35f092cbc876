"""Our mrkdwn: telemetry escaped by default, our own links and mentions kept, cuts that
never leave half an escape or half a link."""

from __future__ import annotations

from bot.incidents.grouping import Cause, Verdict
from bot.incidents.groups import Group, Mate
from bot.slack import messages as say
from bot.slack.blocks import fit, group_line
from bot.slack.mrkdwn import Mrkdwn, Quote, escape, link, mention


def test_escape_makes_markup_text_once() -> None:
    assert escape("a & <!here> > b") == "a &amp; &lt;!here&gt; &gt; b"
    assert escape(escape("<x>")) == "&lt;x&gt;"  # already mrkdwn: not escaped twice


def test_sentences_escape_what_they_are_given_unless_it_is_already_mrkdwn() -> None:
    line = say.error_log_line("cart", "GET /users/<int:user_id> & <!channel>")
    assert line == "• cart: `GET /users/&lt;int:user_id&gt; &amp; &lt;!channel&gt;`"
    assert isinstance(line, Mrkdwn)
    ours = say.runbook_line("DB <slow> & co", "https://runbooks.example/db?a=1&b=2")
    assert ours == "• <https://runbooks.example/db?a=1&amp;b=2|DB &lt;slow&gt; &amp; co>"


def test_links_and_mentions_are_ours_only() -> None:
    assert link("https://x.example/a|b>c", "t") == "<https://x.example/a%7Cb&gt;c|t>"
    assert mention("U0ALICE") == "<@U0ALICE>"
    assert mention("U1> <!channel") == "U1&gt; &lt;!channel"
    assert say.acknowledged_by("U0ALICE") == "Acknowledged by <@U0ALICE>."


def test_a_quote_redacts_telemetry_before_escaping_it() -> None:
    quote = Quote(lambda text: text.replace("secret", "[x]"))
    assert quote("<secret>") == "&lt;[x]&gt;"
    assert quote(None) == "" and Quote()("a<b") == "a&lt;b"


def test_a_cut_never_splits_an_escape_or_a_link() -> None:
    text = escape("x" * 10 + "<<<<")  # x…x&lt;&lt;&lt;&lt;
    for limit in range(len(say.TRUNCATED) + 1, 30):
        cut = fit(text, limit)
        assert len(cut) <= limit
        assert "&" not in cut.replace("&lt;", "").replace("&amp;", "")
    linked = Mrkdwn("see " + link("https://jw.example/incidents/1", "the incident") + " now")
    for limit in range(20, len(linked)):
        cut = fit(linked, limit, "https://jw.example/incidents/1")
        assert cut.count("<") == cut.count(">"), cut


def test_a_group_line_quotes_the_telemetry_it_names() -> None:
    """The shared cause and the verdicts come from spans: a dependency named
    ``db <!channel> & co`` is text in the parent, and the redaction rules see it."""
    subject = "db <!channel> & secret"
    cause = Cause("shared_dependency", subject, subject)
    primary = Mate(1, "checkout", "open", Verdict("systemic", "shared_dependency", subject, subject))
    member = Mate(2, "login", "open", Verdict("localized", "service", "auth <@U1>", "auth <@U1>"))
    group = Group(cause, primary, [member])
    quote = Quote(lambda text: text.replace("secret", "[x]"))
    line = group_line(group, 2, lambda m: f"https://jw.example/incidents/{m.id}", quote)
    assert line == (
        ":link: *Same cause as <https://jw.example/incidents/1|checkout #1>*: systemic (shared dependency) "
        "db &lt;!channel&gt; &amp; [x]. "
        "This journey's own analysis said localized (service) auth &lt;@U1&gt;."
    )
