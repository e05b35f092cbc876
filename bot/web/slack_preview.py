"""The Slack messages kept in local mode, as the incident page shows them.

Kept payloads are what would have gone to ``chat.postMessage``: fallback text, blocks,
and attachments with a colour bar. Each block becomes a small view (texts already turned
into safe HTML by :mod:`bot.web.mrkdwn`) that the template draws; buttons are drawn but
disabled, since pressing them means nothing outside Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from bot.slack.outbox import Kept
from bot.web.mrkdwn import mrkdwn, plain

_COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
_PICTURE = re.compile(r":picture:([0-9a-f]{32})$")
DEFAULT_BAR = "#dddddd"


@dataclass(frozen=True, slots=True)
class ButtonView:
    label: Markup
    style: str | None


@dataclass(frozen=True, slots=True)
class BlockView:
    type: str
    text: Markup | None = None
    fields: tuple[Markup, ...] = ()
    elements: tuple[Markup, ...] = ()
    buttons: tuple[ButtonView, ...] = ()


@dataclass(frozen=True, slots=True)
class AttachmentView:
    colour: str
    blocks: tuple[BlockView, ...]


@dataclass(frozen=True, slots=True)
class FileView:
    title: str
    comment: Markup | None
    trace_id: str | None
    """Set when the file is a trace waterfall, which the page can show from /traces/{id}.png."""


@dataclass(frozen=True, slots=True)
class MessageView:
    kind: str
    channel: str
    created_at: float
    blocks: tuple[BlockView, ...]
    attachments: tuple[AttachmentView, ...]
    file: FileView | None

    @property
    def in_thread(self) -> bool:
        return self.kind != "parent"


def messages(kept: Iterable[Kept]) -> list[MessageView]:
    """Parents first, each followed by the thread; in the order they were kept."""
    views = [message(k) for k in kept]
    return [v for v in views if not v.in_thread] + [v for v in views if v.in_thread]


def message(kept: Kept) -> MessageView:
    payload = kept.payload
    if kept.kind == "file":
        return MessageView(kept.kind, kept.channel, kept.created_at, (), (), _file(kept.key, payload))
    blocks = tuple(block(b) for b in payload.get("blocks") or ())
    attachments = tuple(_attachment(a) for a in payload.get("attachments") or ())
    if not blocks and not attachments:
        blocks = (BlockView("section", text=mrkdwn(str(payload.get("text") or ""))),)
    return MessageView(kept.kind, kept.channel, kept.created_at, blocks, attachments, None)


def block(data: Mapping[str, Any]) -> BlockView:
    kind = str(data.get("type", ""))
    if kind == "section":
        accessory = data.get("accessory") or {}
        buttons = (_button(accessory),) if accessory.get("type") == "button" else ()
        return BlockView(
            kind,
            text=_text(data.get("text")),
            fields=tuple(t for t in map(_text, data.get("fields") or ()) if t is not None),
            buttons=buttons,
        )
    if kind == "context":
        return BlockView(kind, elements=tuple(_context_element(e) for e in data.get("elements") or ()))
    if kind == "actions":
        return BlockView(kind, buttons=tuple(_button(e) for e in data.get("elements") or ()))
    if kind == "header":
        return BlockView(kind, text=_text(data.get("text")))
    if kind == "divider":
        return BlockView(kind)
    return BlockView("unknown", text=plain(f"[{kind or 'unknown'} block]"))


def _attachment(data: Mapping[str, Any]) -> AttachmentView:
    colour = str(data.get("color") or "")
    blocks: Sequence[Mapping[str, Any]] = data.get("blocks") or ()
    shown = tuple(block(b) for b in blocks) or (
        BlockView("section", text=mrkdwn(str(data.get("text") or data.get("fallback") or ""))),
    )
    return AttachmentView(colour if _COLOUR.match(colour) else DEFAULT_BAR, shown)


def _file(key: str, payload: Mapping[str, Any]) -> FileView:
    found = _PICTURE.search(key)
    comment = payload.get("comment")
    return FileView(
        title=str(payload.get("title") or payload.get("filename") or "file"),
        comment=mrkdwn(str(comment)) if comment else None,
        trace_id=found.group(1) if found else None,
    )


def _text(data: Any) -> Markup | None:
    if not isinstance(data, Mapping) or "text" not in data:
        return None
    content = str(data["text"])
    return mrkdwn(content) if data.get("type") == "mrkdwn" else plain(content)


def _context_element(data: Mapping[str, Any]) -> Markup:
    if data.get("type") == "image":
        return plain(f"[{data.get('alt_text') or 'image'}]")
    return _text(data) or Markup()


def _button(data: Mapping[str, Any]) -> ButtonView:
    label = _text(data.get("text")) or Markup()
    style = data.get("style")
    return ButtonView(label, style if style in ("primary", "danger") else None)
