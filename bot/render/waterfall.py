"""A trace as a waterfall: one bar per span on a time axis, for Slack threads and ``/trace``.

Two steps, so that every surface draws the same picture:

* :func:`waterfall_rows` turns a :class:`~correlators.model.Trace` into a
  :class:`WaterfallLayout`, plain data with no drawing library in it. The tree, the skew
  correction, the self times, the error origin and the critical path all come from
  :mod:`correlators`, so the path highlighted here is the one the analysis blamed. The web
  page draws the same layout as HTML/SVG.
* :func:`render_png` draws a layout with matplotlib's Agg canvas. matplotlib is imported
  inside it, because it costs about half a second and most importers of this module (the
  API, the CLI) never draw.

Colour is the span's *own* time (not covered by its children) as a share of the trace:
a long parent that only waits on its children stays pale, and the colour lands on the span
where the time actually went, which is what an on-call engineer looks for first.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

from correlators.critical_path import critical_path
from correlators.model import Span, Trace
from correlators.traces import AssembledTrace, SpanNode, assemble, error_origin, self_times

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


# --- drawing: matplotlib, Agg ------------------------------------------------------------

DPI = 100
ROW_PX = 24
TOP_PX = 92
"""Title, legend and the upper time axis."""
BOTTOM_PX = 52
"""The lower time axis and its label."""
DURATION_PX = 84
INDENT_PX = 14.0
"""Indent per level; deep trees get less, so the labels keep most of their column."""
MIN_WIDTH_PX = 800
FONT = "DejaVu Sans"
"""Shipped inside matplotlib: no system font, no download, the same glyphs everywhere."""

COLOURS = {LatencyClass.COOL: "#c3c8d0", LatencyClass.WARM: "#f6b756", LatencyClass.HOT: "#e4572e"}
PATH_COLOUR = "#16213e"
PATH_BAND = "#e9eefa"
ERROR_COLOUR = "#b00020"
ORPHAN_BAND = "#f4f4f4"
TEXT = "#222222"
MUTED = "#6b6b6b"
_TEXT: dict[str, Any] = {"va": "center", "fontfamily": FONT, "clip_on": False}

Line: TypeAlias = "WaterfallRow | str"
"""A drawn line: a span row, or a line of text (the orphan heading, the footer)."""


def figure_height_px(layout: WaterfallLayout) -> int:
    """Pixel height of the PNG: fixed margins plus one line per row, heading and footer."""
    return TOP_PX + len(_lines(layout)) * ROW_PX + BOTTOM_PX


def render_png(trace: Trace, *, title: str | None = None, width_px: int = 1200, max_rows: int = 60) -> bytes:
    """The waterfall of ``trace`` as PNG bytes, ``width_px`` wide and as tall as its rows.

    Drawn on a bare Agg canvas (no pyplot, no global figure state), so it is safe to call
    from worker threads and never opens a window. The size depends only on the layout;
    ``max_rows`` is passed on to :func:`waterfall_rows`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width_px < MIN_WIDTH_PX:
        raise ValueError(f"width_px must be at least {MIN_WIDTH_PX}, not {width_px}")
    layout = waterfall_rows(trace, max_rows)
    lines = _lines(layout)
    deepest = max((r.depth for r in layout.rows), default=0)
    geo = _Geometry(width_px, figure_height_px(layout), len(lines), deepest)
    fig = Figure(figsize=(width_px / DPI, geo.height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(geo.axes_rect())
    _frame(ax, layout, geo)
    _boxes(ax, lines, layout, geo)
    _texts(ax, lines, layout, geo)
    _connectors(ax, lines, geo)
    _header(fig, layout, geo, title)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _lines(layout: WaterfallLayout) -> list[Line]:
    """Rows and text lines in drawing order: the tree, the orphan section, the footer."""
    out: list[Line] = list(layout.tree_rows)
    if layout.orphan_rows:
        out.append(ORPHAN_HEADING)
        out.extend(layout.orphan_rows)
    if layout.footer:
        out.append(layout.footer)
    return out


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Pixel sizes of the columns, and conversions into the bar axes' fractions."""

    width_px: int
    height_px: int
    lines: int
    deepest: int

    @property
    def label_px(self) -> int:
        return max(300, int(self.width_px * 0.36))

    @property
    def bars_px(self) -> int:
        return self.width_px - self.label_px - DURATION_PX - 12

    def axes_rect(self) -> tuple[float, float, float, float]:
        w, h = self.width_px, self.height_px
        return self.label_px / w, BOTTOM_PX / h, self.bars_px / w, self.lines * ROW_PX / h

    def x(self, px: float) -> float:
        """Pixels right (or, negative, left) of the bars' left edge, as an axes fraction."""
        return px / self.bars_px

    @property
    def step_px(self) -> float:
        """At most 40% of the label column for the indent, and at least 4 px a level."""
        return max(4.0, min(INDENT_PX, 0.4 * self.label_px / max(1, self.deepest)))

    def indent_px(self, depth: int) -> float:
        return 8 + min(depth * self.step_px, 0.5 * self.label_px)

    def indented(self, depth: int) -> bool:
        """Whether ``depth`` still gets its own indent (very deep rows share the last)."""
        return depth * self.step_px <= 0.5 * self.label_px

    def indent(self, depth: int) -> float:
        """Where a label at ``depth`` starts, as an axes fraction (left of the bars)."""
        return self.x(-self.label_px + self.indent_px(depth))

    def label_chars(self, depth: int) -> int:
        """Characters that fit the label column at 9 pt (DejaVu Sans, ~7 px a character)."""
        return max(8, int((self.label_px - 16 - self.indent_px(depth)) / 7))

    @property
    def title_chars(self) -> int:
        """Characters of the 12 pt bold title that fit the width (~8.6 px a character)."""
        return int((self.width_px - 20) / 8.6)


def _frame(ax: Axes, layout: WaterfallLayout, geo: _Geometry) -> None:
    ax.set_xlim(0, _span_ms(layout) * 1.01)
    ax.set_ylim(geo.lines - 0.5, -0.5)
    ax.set_yticks([])
    for side in ("left", "right"):
        ax.spines[side].set_visible(False)
    for side in ("top", "bottom"):
        ax.spines[side].set_color("#bbbbbb")
    ax.tick_params(axis="x", top=True, labeltop=True, labelsize=8.5, colors=MUTED, length=3)
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.grid(axis="x", color="#e4e4e4", linewidth=0.7)
    ax.set_axisbelow(True)
    ax.set_xlabel("ms since trace start", fontsize=9, color=MUTED, fontfamily=FONT)


def _span_ms(layout: WaterfallLayout) -> float:
    """The time axis' extent: a trace of 0 ms still gets a 1 ms axis."""
    return layout.duration_ms if layout.duration_ms > 0 else 1.0


def _rect(x0: float, x1: float, y: float, height: float) -> list[tuple[float, float]]:
    top, bottom = y - height / 2, y + height / 2
    return [(x0, top), (x0, bottom), (x1, bottom), (x1, top)]


def _boxes(ax: Axes, lines: Sequence[Line], layout: WaterfallLayout, geo: _Geometry) -> None:
    """Row bands, span bars and critical-path strips, as three collections (one artist
    each rather than one per span: drawing 60 rows stays well under a second)."""
    from matplotlib.collections import PolyCollection

    rows = [(y, r) for y, r in enumerate(lines) if isinstance(r, WaterfallRow)]
    least = _span_ms(layout) * 2 / geo.bars_px  # a 0 ms span still shows, 2 px wide
    left, right = geo.x(-geo.label_px + 4), 1 + geo.x(DURATION_PX)
    banded = [
        (y, PATH_BAND if r.on_critical_path else ORPHAN_BAND)
        for y, r in rows
        if r.on_critical_path or r.orphan
    ]
    bands = PolyCollection(
        [_rect(left, right, y, 1.0) for y, _ in banded],
        facecolors=[c for _, c in banded],
        edgecolors="none",
        zorder=0,
        transform=ax.get_yaxis_transform(),
    )
    bands.set_clip_on(False)
    bars = PolyCollection(
        [_rect(r.start_ms, max(r.end_ms, r.start_ms + least), y, 0.62) for y, r in rows],
        facecolors=[COLOURS[r.latency] for _, r in rows],
        edgecolors=[ERROR_COLOUR if r.is_error else "none" for _, r in rows],
        linewidths=[1.8 if r.is_error else 0.0 for _, r in rows],
        zorder=2,
    )
    strips = PolyCollection(
        [_rect(s, max(e, s + least), y, 0.22) for y, r in rows for s, e in r.critical],
        facecolors=PATH_COLOUR,
        edgecolors="none",
        zorder=3,
    )
    for collection in (bands, bars, strips):
        ax.add_collection(collection, autolim=False)


def _texts(ax: Axes, lines: Sequence[Line], layout: WaterfallLayout, geo: _Geometry) -> None:
    where = ax.get_yaxis_transform()
    duration_x = 1 + geo.x(DURATION_PX - 6)
    ax.annotate(
        "duration",
        (duration_x, 1),
        xycoords="axes fraction",
        xytext=(0, 6),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8.5,
        color=MUTED,
        fontfamily=FONT,
    )
    for y, line in enumerate(lines):
        if isinstance(line, str):
            ax.text(
                geo.indent(0), y, line, transform=where, fontsize=9, fontstyle="italic", color=MUTED, **_TEXT
            )
            continue
        colour = ERROR_COLOUR if line.is_error else TEXT
        ax.text(
            geo.indent(line.depth),
            y,
            _row_label(line, geo),
            transform=where,
            fontsize=9,
            color=colour,
            **_TEXT,
        )
        ax.text(
            duration_x,
            y,
            _fmt_ms(line.duration_ms),
            transform=where,
            ha="right",
            fontsize=8.5,
            color=colour,
            **_TEXT,
        )
        if line.error_origin:
            _origin_note(ax, y, line, layout)


def _row_label(row: WaterfallRow, geo: _Geometry) -> str:
    text = ("⚠ " if row.is_error else "") + row.label + (f" {REATTACHED_NOTE}" if row.reattached else "")
    return _clip(text, geo.label_chars(row.depth))


def _origin_note(ax: Axes, y: int, row: WaterfallRow, layout: WaterfallLayout) -> None:
    """'error origin' beside the bar: after its end, or before its start near the right edge."""
    after = row.end_ms < 0.7 * _span_ms(layout)
    x, dx, text = (
        (row.end_ms, 6, f"◀ {ERROR_ORIGIN_NOTE}") if after else (row.start_ms, -6, f"{ERROR_ORIGIN_NOTE} ▶")
    )
    ax.annotate(
        text,
        (x, y),
        xytext=(dx, 0),
        textcoords="offset points",
        ha="left" if after else "right",
        fontsize=8.5,
        color=ERROR_COLOUR,
        fontweight="bold",
        annotation_clip=False,
        zorder=4,
        **_TEXT,
    )


def _connectors(ax: Axes, lines: Sequence[Line], geo: _Geometry) -> None:
    """Tree guides in the label column: from each parent down and across to its children."""
    from matplotlib.collections import LineCollection

    index = {line.span_id: y for y, line in enumerate(lines) if isinstance(line, WaterfallRow)}
    guides: list[list[tuple[float, float]]] = []
    for y, line in enumerate(lines):
        if isinstance(line, str) or line.parent_id not in index or not geo.indented(line.depth):
            continue
        across = geo.indent(line.depth - 1) + geo.x(4)
        guides.append(
            [(across, index[line.parent_id] + 0.3), (across, y), (geo.indent(line.depth) - geo.x(2), y)]
        )
    collection = LineCollection(
        guides, colors="#c4c4c4", linewidths=0.8, zorder=1, transform=ax.get_yaxis_transform()
    )
    collection.set_clip_on(False)
    ax.add_collection(collection, autolim=False)


def _header(fig: Figure, layout: WaterfallLayout, geo: _Geometry, title: str | None) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.text(
        10 / geo.width_px,
        1 - 10 / geo.height_px,
        title_line(layout, title, geo.title_chars),
        va="top",
        fontsize=12,
        fontweight="bold",
        color=TEXT,
        fontfamily=FONT,
    )
    handles = [
        Line2D([], [], color=PATH_COLOUR, linewidth=4, label=LEGEND_CRITICAL),
        Patch(facecolor="white", edgecolor=ERROR_COLOUR, linewidth=1.8, label=LEGEND_ERROR),
        *(Patch(facecolor=COLOURS[c], label=text) for c, text in LEGEND_LATENCY.items()),
    ]
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(4 / geo.width_px, 1 - 34 / geo.height_px),
        ncol=len(handles),
        frameon=False,
        prop={"family": FONT, "size": 9},
        handlelength=1.8,
        columnspacing=1.6,
    )
