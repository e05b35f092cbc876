"""A trace as a waterfall: one bar per span on a time axis, for Slack threads and ``/trace``.

Two steps, so that every surface draws the same picture:

* :func:`waterfall_rows` turns a :class:`~correlators.model.Trace` into a
  :class:`WaterfallLayout`, plain data with no drawing library in it. The tree, the skew
  correction, the self times, the error origin and the critical path all come from
  :mod:`correlators`, so the path highlighted here is the one the analysis blamed. The web
  page draws the same layout as HTML/SVG.
* :func:`render_png` draws a layout with Pillow, imported inside it: most importers of this
  module (the API, the CLI) never draw. Pillow rather than a plotting library because the
  bot's main process draws: matplotlib left about 50 MB of resident memory behind after the
  first picture, Pillow about 5 MB. Every position comes from one :class:`Geometry`, which
  the tests use too, to find a bar's pixels in the PNG.

Colour is the span's *own* time (not covered by its children) as a share of the trace:
a long parent that only waits on its children stays pale, and the colour lands on the span
where the time actually went, which is what an on-call engineer looks for first.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from correlators.critical_path import critical_path
from correlators.model import Span, Trace
from correlators.traces import AssembledTrace, SpanNode, assemble, error_origin, self_times

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from PIL.ImageFont import FreeTypeFont

MS = 1_000_000
WARM_SHARE = 0.05
HOT_SHARE = 0.20
"""Own time at or above these shares of the trace duration is warm, or hot."""


class LatencyClass(StrEnum):
    """How much of the trace a span spent in its own work (see the module docstring)."""

    COOL = "cool"
    WARM = "warm"
    HOT = "hot"


def latency_class(self_ms: float, trace_ms: float) -> LatencyClass:
    share = self_ms / trace_ms if trace_ms > 0 else 0.0
    if share >= HOT_SHARE:
        return LatencyClass.HOT
    return LatencyClass.WARM if share >= WARM_SHARE else LatencyClass.COOL


# --- the words on the picture (kept together so the wording is reviewed together) -------

LEGEND_LATENCY = {
    LatencyClass.COOL: f"own time < {WARM_SHARE:.0%} of trace",
    LatencyClass.WARM: f"{WARM_SHARE:.0%} to {HOT_SHARE:.0%}",
    LatencyClass.HOT: f"≥ {HOT_SHARE:.0%}",
}
LEGEND_CRITICAL = "critical path"
LEGEND_ERROR = "error"
ORPHAN_HEADING = "Orphans: parent span never arrived (broken context propagation)"
ERROR_ORIGIN_NOTE = "error origin"
REATTACHED_NOTE = "(reattached)"


def omitted_note(count: int) -> str:
    return f"… {_plural(count, 'more span')} not shown (kept: critical path, errors, longest)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def title_line(layout: WaterfallLayout, title: str | None, max_chars: int = 200) -> str:
    """The headline, then the figures; a long headline is cut so the figures always show."""
    head = title or f"Trace {layout.trace_id[:16]}" + (f" · {layout.journey}" if layout.journey else "")
    figures = (
        f"  —  critical path {_fmt_ms(layout.critical_path_ms)} of "
        f"{_fmt_ms(layout.duration_ms)} trace · {_plural(layout.span_count, 'span')}"
    )
    return _clip(head, max(12, max_chars - len(figures))) + figures


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


# --- layout: plain data ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One span as drawn. Times are ms from the trace start, after skew correction."""

    span_id: str
    parent_id: str | None
    """The span's parent in the assembled tree (after reattachment), if any."""
    depth: int
    service: str
    language: str | None
    operation: str
    label: str
    start_ms: float
    end_ms: float
    self_ms: float
    latency: LatencyClass
    on_critical_path: bool
    """The path runs through this span (its own time, or a descendant's, is on it)."""
    critical: tuple[tuple[float, float], ...]
    """The intervals of this span's own time on the critical path; a client span whose
    server child covers it is on the path with no interval of its own."""
    is_error: bool
    error_origin: bool
    orphan: bool
    """In the section apart: the span or an ancestor lost its parent and stayed loose."""
    reattached: bool
    """An orphan that :func:`~correlators.traces.assemble` gave its one safe parent."""

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class WaterfallLayout:
    """Everything a surface needs to draw one trace; no drawing library in it."""

    trace_id: str
    journey: str | None
    start_ns: int
    """Wall-clock start (ns since the epoch) that the rows' offsets count from."""
    duration_ms: float
    critical_path_ms: float
    span_count: int
    rows: tuple[WaterfallRow, ...]
    """The tree in depth-first order (children by start), then the orphan section."""
    omitted: int
    """Spans left out to stay within ``max_rows``."""

    @property
    def tree_rows(self) -> tuple[WaterfallRow, ...]:
        return tuple(r for r in self.rows if not r.orphan)

    @property
    def orphan_rows(self) -> tuple[WaterfallRow, ...]:
        return tuple(r for r in self.rows if r.orphan)

    @property
    def footer(self) -> str | None:
        return omitted_note(self.omitted) if self.omitted else None


def waterfall_rows(trace: Trace, max_rows: int = 60) -> WaterfallLayout:
    """Lay ``trace`` out as at most ``max_rows`` span rows.

    When there are more spans, the critical path is kept first (by its time on the path),
    then error spans, then loose orphans, then the longest spans; each kept span brings
    its ancestors, so the picture stays a tree. ``omitted`` says how many were left out.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, not {max_rows}")
    tree = assemble(trace)
    origin = min(n.start_ns for n in tree.by_id.values())
    duration_ns = max(n.end_ns for n in tree.by_id.values()) - origin
    segments: dict[str, list[tuple[int, int]]] = {}
    for seg in critical_path(tree):
        segments.setdefault(seg.span_id, []).append((seg.start_ns, seg.end_ns))
    on_path = _on_path(tree, segments)
    ordered = list(_depth_first(tree))
    kept = _select(ordered, tree, segments, on_path, max_rows)
    build = _RowBuilder(tree, origin, duration_ns, segments, on_path)
    rows = tuple(build.row(node) for node in ordered if node.span.span_id in kept)
    return WaterfallLayout(
        trace_id=trace.trace_id,
        journey=trace.journey,
        start_ns=origin,
        duration_ms=duration_ns / MS,
        critical_path_ms=sum(e - s for spans in segments.values() for s, e in spans) / MS,
        span_count=len(ordered),
        rows=rows,
        omitted=len(ordered) - len(rows),
    )


def _depth_first(tree: AssembledTrace) -> Iterator[SpanNode]:
    """Every node, the root's tree first, each loose top-level node's tree after it."""
    for top in tree.roots:
        yield from _walk(top)


def _walk(top: SpanNode) -> Iterator[SpanNode]:
    """``top`` and its subtree, depth first, children in start order; no recursion."""
    stack = [top]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _on_path(tree: AssembledTrace, segments: Mapping[str, object]) -> set[str]:
    """Spans with time on the path, and their ancestors (the path walked through them)."""
    marked: set[str] = set()
    for span_id in segments:
        node: SpanNode | None = tree.by_id[span_id]
        while node is not None and node.span.span_id not in marked:
            marked.add(node.span.span_id)
            node = node.parent
    return marked


def _select(
    ordered: Sequence[SpanNode],
    tree: AssembledTrace,
    segments: Mapping[str, list[tuple[int, int]]],
    on_path: set[str],
    max_rows: int,
) -> set[str]:
    if len(ordered) <= max_rows:
        return {n.span.span_id for n in ordered}

    def rank(node: SpanNode) -> tuple[int, int, int, str]:
        span_id = node.span.span_id
        if span_id in on_path:
            weight = sum(e - s for s, e in segments.get(span_id, ()))
            return 0, -weight, -node.duration_ns, span_id
        loose = node.parent is None and node is not tree.root
        tier = 1 if node.span.is_error else 2 if loose else 3
        return tier, -node.duration_ns, node.start_ns, span_id

    kept: set[str] = set()
    for node in sorted(ordered, key=rank):
        if len(kept) >= max_rows:
            break
        chain = _missing_ancestry(node, kept, max_rows - len(kept))
        kept.update(chain or ())
    return kept


def _missing_ancestry(node: SpanNode, kept: set[str], budget: int) -> list[str] | None:
    """The node and its ancestors not kept yet, or None if they need more than ``budget``.

    Bounded by the budget, so a 10,000-deep chain costs at most ``max_rows`` steps a node.
    """
    chain: list[str] = []
    current: SpanNode | None = node
    while current is not None and current.span.span_id not in kept:
        if len(chain) == budget:
            return None
        chain.append(current.span.span_id)
        current = current.parent
    return chain


class _RowBuilder:
    """What every row needs from the whole tree, computed once."""

    def __init__(
        self,
        tree: AssembledTrace,
        origin_ns: int,
        duration_ns: int,
        segments: Mapping[str, list[tuple[int, int]]],
        on_path: set[str],
    ) -> None:
        self.origin_ns = origin_ns
        self.duration_ms = duration_ns / MS
        self.segments = segments
        self.on_path = on_path
        self.own = self_times(tree)
        origin_span = error_origin(tree)
        self.origin_id = origin_span.span_id if origin_span else None
        self.loose = {n.span.span_id for top in tree.roots[1:] for n in _walk(top)}

    def ms(self, ns: int) -> float:
        return (ns - self.origin_ns) / MS

    def row(self, node: SpanNode) -> WaterfallRow:
        span = node.span
        self_ms = self.own[span.span_id] / MS
        return WaterfallRow(
            span_id=span.span_id,
            parent_id=node.parent.span.span_id if node.parent else None,
            depth=node.depth,
            service=span.service,
            language=span.language,
            operation=span.name,
            label=_label(span),
            start_ms=self.ms(node.start_ns),
            end_ms=self.ms(node.end_ns),
            self_ms=self_ms,
            latency=latency_class(self_ms, self.duration_ms),
            on_critical_path=span.span_id in self.on_path,
            critical=tuple((self.ms(s), self.ms(e)) for s, e in self.segments.get(span.span_id, ())),
            is_error=span.is_error,
            error_origin=span.span_id == self.origin_id,
            orphan=span.span_id in self.loose,
            reattached=node.attached,
        )


def _label(span: Span) -> str:
    service = f"{span.service} ({span.language})" if span.language else span.service
    return f"{service}  {span.name}"


# --- drawing: Pillow ----------------------------------------------------------------------

ROW_PX = 24
TOP_PX = 92
"""Title, legend and the upper time axis."""
BOTTOM_PX = 52
"""The lower time axis and its label."""
DURATION_PX = 84
INDENT_PX = 14.0
"""Indent per level; deep trees get less, so the labels keep most of their column."""
MIN_WIDTH_PX = 800
BAR_SHARE = 0.62
"""A span bar's height as a share of its row; the critical-path strip inside it is thinner."""
STRIP_SHARE = 0.22
LEAST_BAR_PX = 2
"""A 0 ms span (or path interval) still shows, this wide."""
ERROR_EDGE_PX = 2
AXIS_HEADROOM = 1.01
"""The time axis runs 1% past the trace's end, so the last bar does not touch the frame."""
TICK_SPACING_PX = 80
"""At least this far between time-axis ticks."""
TITLE_GAP_PX = 18
LEGEND_MID_PX = 52
PNG_COMPRESSION = 3
"""zlib level: the encoding is most of a render's time, and 3 takes 40% less of it than the
default 6 for a file 3% larger (60 rows: about 45 against 80 ms, 180 against 174 KB)."""

TITLE_PX, FIGURES_PX, LABEL_PX, SMALL_PX = 18, 15, 14, 13
"""Font sizes (em, in pixels) of the built-in font, Aileron: ships inside Pillow, so no
system font and no download, and the same glyphs in the slim container as on a laptop."""
GLYPH_FALLBACKS = str.maketrans({"≥": ">=", "—": "-"})
"""Characters of the picture's words that the built-in font has no glyph for (it would draw
a box), spelt in ASCII. It has no ⚠ or ◀ either: the error mark and the origin's arrow are
drawn as shapes."""

COLOURS = {LatencyClass.COOL: "#c3c8d0", LatencyClass.WARM: "#f6b756", LatencyClass.HOT: "#e4572e"}
PATH_COLOUR = "#16213e"
PATH_BAND = "#e9eefa"
ERROR_COLOUR = "#b00020"
ORPHAN_BAND = "#f4f4f4"
TEXT = "#222222"
MUTED = "#6b6b6b"
GRID = "#e4e4e4"
FRAME = "#bbbbbb"
GUIDE = "#c4c4c4"

Line: TypeAlias = "WaterfallRow | str"
"""A drawn line: a span row, or a line of text (the orphan heading, the footer)."""
Box: TypeAlias = tuple[int, int, int, int]
"""Left, top, right, bottom in pixels, right and bottom exclusive."""


def figure_height_px(layout: WaterfallLayout) -> int:
    """Pixel height of the PNG: fixed margins plus one line per row, heading and footer."""
    return TOP_PX + len(drawn_lines(layout)) * ROW_PX + BOTTOM_PX


def render_png(trace: Trace, *, title: str | None = None, width_px: int = 1200, max_rows: int = 60) -> bytes:
    """The waterfall of ``trace`` as PNG bytes, ``width_px`` wide and as tall as its rows.

    Each call draws on an image and fonts of its own (no shared state), so it is safe to
    call from worker threads. The size depends only on the layout; ``max_rows`` is passed
    on to :func:`waterfall_rows`. Pillow is imported here, not at the top: the API and the
    CLI import this module and rarely draw.
    """
    from PIL import Image

    if width_px < MIN_WIDTH_PX:
        raise ValueError(f"width_px must be at least {MIN_WIDTH_PX}, not {width_px}")
    layout = waterfall_rows(trace, max_rows)
    lines = drawn_lines(layout)
    geo = Geometry.of(layout, width_px)
    image = Image.new("RGB", (geo.width_px, geo.height_px), "white")
    pen = _Pen(image)
    _backdrop(pen, lines, geo)
    _connectors(pen, lines, geo)
    _bars(pen, lines, geo)
    _texts(pen, lines, geo)
    _axis(pen, geo)
    _header(pen, layout, geo, title)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=PNG_COMPRESSION)
    return out.getvalue()


def drawn_lines(layout: WaterfallLayout) -> list[Line]:
    """Rows and text lines in drawing order: the tree, the orphan section, the footer."""
    out: list[Line] = list(layout.tree_rows)
    if layout.orphan_rows:
        out.append(ORPHAN_HEADING)
        out.extend(layout.orphan_rows)
    if layout.footer:
        out.append(layout.footer)
    return out


def _span_ms(layout: WaterfallLayout) -> float:
    """The time axis' extent: a trace of 0 ms still gets a 1 ms axis."""
    return layout.duration_ms if layout.duration_ms > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where everything goes, in pixels from the image's top left corner.

    Three columns (labels, bars, durations) over one band of ``ROW_PX`` per line. Kept in
    one place so the renderer and its tests ask the same object where a bar is.
    """

    width_px: int
    lines: int
    deepest: int
    span_ms: float

    @classmethod
    def of(cls, layout: WaterfallLayout, width_px: int = 1200) -> Geometry:
        deepest = max((r.depth for r in layout.rows), default=0)
        return cls(width_px, len(drawn_lines(layout)), deepest, _span_ms(layout))

    @property
    def height_px(self) -> int:
        return TOP_PX + self.lines * ROW_PX + BOTTOM_PX

    @property
    def label_px(self) -> int:
        return max(300, int(self.width_px * 0.36))

    @property
    def bars_px(self) -> int:
        return self.width_px - self.label_px - DURATION_PX - 12

    @property
    def bars_right(self) -> int:
        return self.label_px + self.bars_px

    @property
    def duration_right(self) -> int:
        """Where the right-aligned durations end."""
        return self.bars_right + DURATION_PX - 6

    @property
    def rows_bottom(self) -> int:
        return TOP_PX + self.lines * ROW_PX

    def x(self, ms: float) -> float:
        """The time axis: ms since the trace start to pixels."""
        return self.label_px + ms / (self.span_ms * AXIS_HEADROOM) * self.bars_px

    def mid(self, line: int) -> float:
        """The vertical middle of line ``line`` (0 is the first row)."""
        return TOP_PX + (line + 0.5) * ROW_PX

    def band(self, line: int) -> Box:
        """The whole line, across all three columns (the critical-path and orphan shading)."""
        top = TOP_PX + line * ROW_PX
        return 4, top, self.bars_right + DURATION_PX, top + ROW_PX

    def bar(self, line: int, start_ms: float, end_ms: float, share: float = BAR_SHARE) -> Box:
        """A bar from ``start_ms`` to ``end_ms`` on ``line``, ``share`` of the row high."""
        left = round(self.x(start_ms))
        right = max(round(self.x(end_ms)), left + LEAST_BAR_PX)
        half = share * ROW_PX / 2
        return left, round(self.mid(line) - half), right, round(self.mid(line) + half)

    def strip(self, line: int, start_ms: float, end_ms: float) -> Box:
        """A critical-path interval: a thin dark strip through the middle of the bar."""
        return self.bar(line, start_ms, end_ms, STRIP_SHARE)

    @property
    def step_px(self) -> float:
        """At most 40% of the label column for the indent, and at least 4 px a level."""
        return max(4.0, min(INDENT_PX, 0.4 * self.label_px / max(1, self.deepest)))

    def indent(self, depth: int) -> float:
        """Where a label at ``depth`` starts; very deep rows share the last indent."""
        return 8 + min(depth * self.step_px, 0.5 * self.label_px)

    def indented(self, depth: int) -> bool:
        """Whether ``depth`` still gets its own indent (and so a connector)."""
        return depth * self.step_px <= 0.5 * self.label_px

    @property
    def tick_step(self) -> float:
        """The time between ticks: a round number of ms (1, 2, 2.5 or 5 times a power of
        ten), as small as keeps the ticks ``TICK_SPACING_PX`` apart."""
        least = self.span_ms * AXIS_HEADROOM / max(2, self.bars_px // TICK_SPACING_PX)
        power = 10.0 ** math.floor(math.log10(least))
        return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= least * (1 - 1e-9))

    def ticks(self) -> list[float]:
        """The tick times, from 0 to the axis' end."""
        step = self.tick_step
        return [i * step for i in range(math.floor(self.span_ms * AXIS_HEADROOM / step + 1e-9) + 1)]


class _Pen:
    """An ``ImageDraw`` with the picture's fonts: text placed by an anchor, cut to a width."""

    def __init__(self, image: PILImage) -> None:
        from PIL import ImageDraw, ImageFont

        self.draw = ImageDraw.Draw(image)
        self.fonts: dict[int, FreeTypeFont] = {}
        for size in (TITLE_PX, FIGURES_PX, LABEL_PX, SMALL_PX):
            font = ImageFont.load_default(size=size)
            if not isinstance(font, ImageFont.FreeTypeFont):
                raise RuntimeError("the waterfall needs Pillow built with FreeType")
            self.fonts[size] = font

    def width(self, text: str, size: int) -> float:
        return self.fonts[size].getlength(text.translate(GLYPH_FALLBACKS))

    def text(
        self, xy: tuple[float, float], text: str, size: int, fill: str, anchor: str = "lm", bold: bool = False
    ) -> None:
        """``anchor`` as Pillow's: ``lm`` is left and vertical middle. The built-in font has
        no bold, so bold is the text drawn twice, half a pixel apart."""
        text = text.translate(GLYPH_FALLBACKS)
        for dx in (0.0, 0.5) if bold else (0.0,):
            self.draw.text((xy[0] + dx, xy[1]), text, fill=fill, font=self.fonts[size], anchor=anchor)

    def box(self, box: Box, fill: str | None, outline: str | None = None, width: int = 0) -> None:
        left, top, right, bottom = box
        self.draw.rectangle((left, top, right - 1, bottom - 1), fill=fill, outline=outline, width=width)


def _backdrop(pen: _Pen, lines: Sequence[Line], geo: Geometry) -> None:
    """Shading behind the critical path's rows and the orphans', then the time grid."""
    for y, line in enumerate(lines):
        if isinstance(line, WaterfallRow) and (line.on_critical_path or line.orphan):
            pen.box(geo.band(y), PATH_BAND if line.on_critical_path else ORPHAN_BAND)
    for tick in geo.ticks():
        x = round(geo.x(tick))
        pen.draw.line((x, TOP_PX, x, geo.rows_bottom), fill=GRID)


def _connectors(pen: _Pen, lines: Sequence[Line], geo: Geometry) -> None:
    """Tree guides in the label column: from each parent down and across to its children."""
    index = {line.span_id: y for y, line in enumerate(lines) if isinstance(line, WaterfallRow)}
    for y, line in enumerate(lines):
        if isinstance(line, str) or line.parent_id not in index or not geo.indented(line.depth):
            continue
        across = round(geo.indent(line.depth - 1) + 4)
        top = round(geo.mid(index[line.parent_id]) + 0.3 * ROW_PX)
        mid = round(geo.mid(y))
        pen.draw.line(((across, top), (across, mid), (round(geo.indent(line.depth)) - 3, mid)), fill=GUIDE)


def _bars(pen: _Pen, lines: Sequence[Line], geo: Geometry) -> None:
    """One bar a span, coloured by its own time and edged in red when it failed; the
    critical path's intervals as dark strips on top."""
    for y, row in enumerate(lines):
        if isinstance(row, str):
            continue
        edge = (ERROR_COLOUR, ERROR_EDGE_PX) if row.is_error else (None, 0)
        pen.box(geo.bar(y, row.start_ms, row.end_ms), COLOURS[row.latency], *edge)
        for start, end in row.critical:
            pen.box(geo.strip(y, start, end), PATH_COLOUR)


def _texts(pen: _Pen, lines: Sequence[Line], geo: Geometry) -> None:
    """Labels (indented by depth), durations, the error origin note, and the text lines."""
    for y, line in enumerate(lines):
        if isinstance(line, str):
            pen.text((geo.indent(0), geo.mid(y)), line, LABEL_PX, MUTED)
            continue
        colour = ERROR_COLOUR if line.is_error else TEXT
        _row_label(pen, y, line, geo)
        pen.text((geo.duration_right, geo.mid(y)), _fmt_ms(line.duration_ms), SMALL_PX, colour, "rm")
        if line.error_origin:
            _origin_note(pen, y, line, geo)


def _row_label(pen: _Pen, y: int, row: WaterfallRow, geo: Geometry) -> None:
    """The label at its indent, after an error mark for a failed span, cut to its column."""
    x, mid = geo.indent(row.depth), geo.mid(y)
    if row.is_error:
        _error_mark(pen, x, mid)
        x += 16
    text = row.label + (f" {REATTACHED_NOTE}" if row.reattached else "")
    room = geo.label_px - 8 - x
    chars = _most(len(text), lambda n: pen.width(_clip(text, n), LABEL_PX) <= room)
    pen.text((x, mid), _clip(text, chars), LABEL_PX, ERROR_COLOUR if row.is_error else TEXT)


def _most(limit: int, fits: Callable[[int], bool]) -> int:
    """The largest ``n`` up to ``limit`` for which ``fits(n)`` (at least 1): text is cut by
    its measured width, not by a guess at an average character's."""
    if fits(limit):
        return limit  # most texts fit whole: one measurement, no search
    low, high = 1, limit
    while low < high:
        n = (low + high + 1) // 2
        low, high = (n, high) if fits(n) else (low, n - 1)
    return low


def _error_mark(pen: _Pen, x: float, mid: float) -> None:
    """A red badge with a white '!' before a failed span's label: it finds the errors when
    the eye runs down the labels, as the bars' red edges do along the time axis."""
    left, top = round(x), round(mid) - 6
    pen.draw.rounded_rectangle((left, top, left + 11, top + 11), radius=3, fill=ERROR_COLOUR)
    pen.text((left + 6, mid + 0.5), "!", SMALL_PX, "white", "mm", bold=True)


def _origin_note(pen: _Pen, y: int, row: WaterfallRow, geo: Geometry) -> None:
    """'error origin' beside the bar, pointing at it: after its end, or before its start
    when the bar ends near the right edge."""
    mid = geo.mid(y)
    if row.end_ms < 0.7 * geo.span_ms:
        tip = geo.bar(y, row.start_ms, row.end_ms)[2] + 4
        pen.draw.polygon(((tip, mid), (tip + 7, mid - 5), (tip + 7, mid + 5)), fill=ERROR_COLOUR)
        pen.text((tip + 11, mid), ERROR_ORIGIN_NOTE, SMALL_PX, ERROR_COLOUR, "lm", bold=True)
    else:
        tip = geo.bar(y, row.start_ms, row.end_ms)[0] - 5
        pen.draw.polygon(((tip, mid), (tip - 7, mid - 5), (tip - 7, mid + 5)), fill=ERROR_COLOUR)
        pen.text((tip - 11, mid), ERROR_ORIGIN_NOTE, SMALL_PX, ERROR_COLOUR, "rm", bold=True)


def _axis(pen: _Pen, geo: Geometry) -> None:
    """The time axis above and below the rows: frame lines, ticks, labels, the unit."""
    for y, outward, anchor in ((TOP_PX - 1, -1, "md"), (geo.rows_bottom, 1, "ma")):
        pen.draw.line((geo.label_px, y, geo.bars_right, y), fill=FRAME)
        for tick in geo.ticks():
            x = round(geo.x(tick))
            pen.draw.line((x, y, x, y + 3 * outward), fill=FRAME)
            pen.text((x, y + 6 * outward), _fmt_tick(tick, geo.tick_step), SMALL_PX, MUTED, anchor)
    pen.text((geo.duration_right, TOP_PX - 7), "duration", SMALL_PX, MUTED, "rd")
    centre = (geo.label_px + geo.bars_right) / 2
    pen.text((centre, geo.rows_bottom + 26), "ms since trace start", SMALL_PX, MUTED, "ma")


def _fmt_tick(ms: float, step: float) -> str:
    """As many decimals as the tick step needs, and no more (0, 2.5, 5.0 or 0, 100, 200)."""
    decimals = next((d for d in range(7) if abs(round(step * 10**d) - step * 10**d) < 1e-6), 6)
    return f"{ms:,.{decimals}f}"


def _header(pen: _Pen, layout: WaterfallLayout, geo: Geometry, title: str | None) -> None:
    """The title line (the headline dark and bold, the figures after it muted), the legend."""
    full = title_line(layout, title)
    chars = _most(len(full), lambda n: _title_width(pen, title_line(layout, title, n)) <= geo.width_px - 20)
    head, figures = _title_parts(title_line(layout, title, chars))
    pen.text((10, 21), head, TITLE_PX, TEXT, bold=True)
    pen.text((10 + pen.width(head, TITLE_PX) + TITLE_GAP_PX, 21), figures, FIGURES_PX, MUTED)
    _legend(pen)


def _title_parts(line: str) -> tuple[str, str]:
    """The headline and the figures of a :func:`title_line` (its last dash parts them)."""
    head, _, figures = line.rpartition("  —  ")
    return head, figures


def _title_width(pen: _Pen, line: str) -> float:
    head, figures = _title_parts(line)
    return pen.width(head, TITLE_PX) + TITLE_GAP_PX + pen.width(figures, FIGURES_PX)


def _legend(pen: _Pen) -> None:
    """A swatch and its words per mark, in a row under the title."""
    marks = [
        (LEGEND_CRITICAL, PATH_COLOUR, None, 5),
        (LEGEND_ERROR, "white", ERROR_COLOUR, 12),
        *((words, COLOURS[latency], None, 12) for latency, words in LEGEND_LATENCY.items()),
    ]
    mid, x = LEGEND_MID_PX, 10
    for words, fill, edge, height in marks:
        top = mid - height // 2
        pen.box((x, top, x + 20, top + height), fill, edge, ERROR_EDGE_PX if edge else 0)
        pen.text((x + 27, mid), words, LABEL_PX, TEXT)
        x += 27 + round(pen.width(words, LABEL_PX)) + 24
