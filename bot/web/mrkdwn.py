"""Slack's mrkdwn as safe HTML, for showing kept Block Kit messages on the incident page.

The texts quote user data (log lines, attribute values), so everything is escaped first
and only the few constructs Slack knows are turned back into markup: ``*bold*``,
``_italic_``, ``~strike~``, `` `code` ``, fenced blocks, ``> quotes``, ``<url|label>``
links (http, https and mailto only: a log line holding ``<javascript:…|x>`` stays text),
user and channel mentions, and the few emoji codes journeywatch uses.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

EMOJI = {
    "rotating_light": "🚨",
    "warning": "⚠️",
    "white_check_mark": "✅",
    "mag": "🔍",
    "x": "❌",
    "fire": "🔥",
    "hourglass": "⏳",
    "bell": "🔔",
    "no_bell": "🔕",
    "eyes": "👀",
    "tada": "🎉",
}
_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_TOKEN = re.compile(r"`(?P<code>[^`\n]+)`|<(?P<target>[^<>\n|]+)(?:\|(?P<label>[^<>\n]*))?>")
_EMPHASIS = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "del"),
]
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+):")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def mrkdwn(source: str) -> Markup:
    """``source`` (mrkdwn, as sent to Slack) as HTML that is safe to put in a page."""
    parts: list[str] = []
    position = 0
    for fence in _FENCE.finditer(source):
        parts.append(_paragraph(source[position : fence.start()]))
        parts.append(f'<pre class="mrkdwn-pre">{escape(_unslack(fence.group(1).strip(chr(10))))}</pre>')
        position = fence.end()
    parts.append(_paragraph(source[position:]))
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped


def plain(source: str) -> Markup:
    """A ``plain_text`` object: escaped, emoji codes shown, line breaks kept."""
    return Markup("<br>".join(_emoji(str(escape(_unslack(line)))) for line in source.split("\n")))  # noqa: S704


def _paragraph(source: str) -> str:
    """Lines of inline mrkdwn; runs of ``>`` lines become one quote."""
    out: list[str] = []
    quote: list[str] = []
    for line in source.split("\n"):
        if line.startswith("> ") or line == ">":
            quote.append(_inline(line[2:]))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote = []
        out.append(_inline(line))
    if quote:
        out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
    return "<br>".join(out).replace("</blockquote><br>", "</blockquote>")


def _inline(line: str) -> str:
    parts: list[str] = []
    position = 0
    for token in _TOKEN.finditer(line):
        parts.append(_styled(line[position : token.start()]))
        if token.group("code") is not None:
            parts.append(f"<code>{escape(_unslack(token.group('code')))}</code>")
        else:
            parts.append(_link(token.group("target"), token.group("label")))
        position = token.end()
    parts.append(_styled(line[position:]))
    return "".join(parts)


def _link(target: str, label: str | None) -> str:
    if target.startswith(_SAFE_SCHEMES):
        shown = _styled(label) if label else str(escape(_unslack(target)))
        return f'<a href="{escape(_unslack(target))}" rel="noopener noreferrer">{shown}</a>'
    if target.startswith("@"):
        return f'<span class="mention">@{escape(label or target[1:])}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{escape(label or target[1:])}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{escape((label or target[1:]).split("^")[0])}</span>'
    return str(escape(f"<{_unslack(target)}" + (f"|{_unslack(label)}" if label is not None else "") + ">"))


def _styled(fragment: str) -> str:
    """Escape, then bold / italic / strike (their marks survive escaping unchanged)."""
    out = str(escape(_unslack(fragment)))
    for pattern, tag in _EMPHASIS:
        out = pattern.sub(rf"<{tag}>\1</{tag}>", out)
    return _emoji(out)


def _emoji(escaped: str) -> str:
    return _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped)


def _unslack(fragment: str) -> str:
    """Slack's three escapes (``&lt;`` for a literal ``<``) back to characters; any other
    entity is text, as Slack shows it."""
    if "&" not in fragment:
        return fragment
    return fragment.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
