"""The trace waterfall: the layout, exactly, on hand-built traces; the PNG, by its size and
by the colours of its pixels.

The layout is asserted as indented text (``*`` on the critical path, ``!`` an error), so a
test reads like the picture. The pixels are looked up where the renderer's own
:class:`~bot.render.waterfall.Geometry` says a bar is, so no coordinate is written here. One
generated scenario trace is drawn to ``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageColor

from bot.render.waterfall import (
    BOTTOM_PX,
    COLOURS,
    ERROR_COLOUR,
    ORPHAN_BAND,
    ORPHAN_HEADING,
    PATH_BAND,
    PATH_COLOUR,
    ROW_PX,
    TOP_PX,
    Geometry,
    LatencyClass,
    WaterfallLayout,
    WaterfallRow,
    drawn_lines,
    figure_height_px,
    render_png,
    waterfall_rows,
)
from correlators.model import SpanKind, Trace
from tests.scenarios import generate
from tests.spantree import TraceBuilder

ARTIFACTS = Path(__file__).parent / "artifacts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def outline(layout: WaterfallLayout) -> str:
    lines: list[str] = []
    for row in layout.rows:
        if row.orphan and "-- orphans" not in lines:
            lines.append("-- orphans")
        marks = "".join(
            mark
            for flag, mark in (
                (row.on_critical_path, " *"),
                (row.is_error, " !"),
                (row.error_origin, " (origin)"),
                (row.reattached, " (reattached)"),
            )
            if flag
        )
        lines.append(f"{'  ' * row.depth}{row.service}: {row.operation}{marks}")
    if layout.footer:
        lines.append(layout.footer)
    return "\n".join(lines)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always follows the signature."""
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def checkout() -> Trace:
    """Cart and pricing in parallel, then payments: pricing's compute sets the latency."""
    b = TraceBuilder()
    root = b.span("frontend", "GET /checkout", 0, 100, kind=SpanKind.SERVER)
    b.call(root, "cart", "GET /cart", 10, 40)
    _, pricing = b.call(root, "pricing", "POST /quote", 10, 60)
    b.span("pricing", "compute", 20, 50, parent=pricing)
    b.call(root, "payments", "POST /charge", 65, 95)
    return b.trace()


def test_the_critical_path_is_the_one_the_analysis_walks() -> None:
    layout = waterfall_rows(checkout())
    assert outline(layout) == "\n".join(
        [
            "frontend: GET /checkout *",
            "  frontend: call cart",
            "    cart: GET /cart",
            "  frontend: call pricing *",
            "    pricing: POST /quote *",
            "      pricing: compute *",
            "  frontend: call payments *",
            "    payments: POST /charge *",
        ]
    )
    own_path = {r.operation: r.critical for r in layout.rows}
    assert own_path["GET /checkout"] == ((0, 10), (60, 65), (95, 100))
    assert own_path["POST /quote"] == ((10, 20), (50, 60))
    assert own_path["call pricing"] == ()  # on the path, its time all its server's
    assert (layout.critical_path_ms, layout.duration_ms, layout.omitted) == (100, 100, 0)


def test_rows_carry_depth_times_and_a_label_with_the_language() -> None:
    trace = checkout()
    for span in trace.spans:
        span.language = {"frontend": "nodejs", "pricing": "java"}.get(span.service)
    rows = {r.operation: r for r in waterfall_rows(trace).rows}
    compute = rows["compute"]
    assert (compute.depth, compute.start_ms, compute.end_ms, compute.duration_ms) == (3, 20, 50, 30)
    assert compute.label == "pricing (java)  compute"
    assert rows["GET /cart"].label == "cart  GET /cart"  # no language reported
    assert rows["call pricing"].parent_id == rows["GET /checkout"].span_id


def test_latency_class_is_own_time_as_a_share_of_the_trace() -> None:
    b = TraceBuilder()
    root = b.span("api", "GET /", 0, 200)
    b.span("api", "query", 10, 60, parent=root)  # 50 of 200 ms: 25 %
    b.span("api", "cache", 60, 70, parent=root)  # 5 %
    b.span("api", "log", 70, 72, parent=root)  # 1 %
    rows = {r.operation: r for r in waterfall_rows(b.trace()).rows}
    assert {op: r.latency for op, r in rows.items()} == {
        "GET /": LatencyClass.HOT,  # 138 ms of its own: slow before and after its calls
        "query": LatencyClass.HOT,
        "cache": LatencyClass.WARM,
        "log": LatencyClass.COOL,
    }
    assert rows["GET /"].self_ms == 138


def test_errors_are_flagged_and_the_origin_is_the_deepest_of_the_chain() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "POST /checkout", 0, 100, kind=SpanKind.SERVER, error=True)
    _, checkout = b.call(root, "checkout", "POST /checkout", 5, 95, error=True)
    b.call(checkout, "cart", "GET /cart", 10, 20, error=True)  # handled: checkout carried on
    _, payments = b.call(checkout, "payments", "POST /charge", 30, 90, error=True)
    b.span("payments", "INSERT charge", 40, 80, parent=payments, error=True)
    layout = waterfall_rows(b.trace())
    assert outline(layout) == "\n".join(
        [
            "frontend: POST /checkout * !",
            "  frontend: call checkout * !",
            "    checkout: POST /checkout * !",
            "      checkout: call cart * !",
            "        cart: GET /cart * !",
            "      checkout: call payments * !",
            "        payments: POST /charge * !",
            "          payments: INSERT charge * ! (origin)",
        ]
    )
    assert [r.operation for r in layout.rows if r.error_origin] == ["INSERT charge"]
    assert all(r.is_error for r in layout.rows)


def with_orphans() -> Trace:
    """Two clients fit the inventory orphan equally, so it stays apart; shipping's fits one."""
    b = TraceBuilder()
    root = b.span("checkout", "POST /checkout", 0, 100, kind=SpanKind.SERVER)
    b.span("checkout", "call a", 10, 50, parent=root, kind=SpanKind.CLIENT)
    b.span("checkout", "call b", 10, 50, parent=root, kind=SpanKind.CLIENT)
    b.span("checkout", "call shipping", 60, 90, parent=root, kind=SpanKind.CLIENT)
    loose = b.span("inventory", "POST /reserve", 12, 48, parent="f" * 16, kind=SpanKind.SERVER)
    b.span("inventory", "SELECT stock", 20, 30, parent=loose)
    b.span("shipping", "POST /ship", 62, 88, parent="e" * 16, kind=SpanKind.SERVER)
    return b.trace()


def test_orphans_are_shown_apart_and_reattached_ones_stay_in_the_tree() -> None:
    layout = waterfall_rows(with_orphans())
    assert outline(layout) == "\n".join(
        [
            "checkout: POST /checkout *",
            "  checkout: call a",
            "  checkout: call b *",  # ties with call a; the later one is taken
            "  checkout: call shipping *",
            "    shipping: POST /ship * (reattached)",
            "-- orphans",
            "inventory: POST /reserve",
            "  inventory: SELECT stock",
        ]
    )
    assert [r.operation for r in layout.orphan_rows] == ["POST /reserve", "SELECT stock"]
    assert len(layout.tree_rows) == 5


def truncated_checkout() -> Trace:
    """Pricing on the critical path; cart in parallel with 40 short calls and one error."""
    b = TraceBuilder()
    root = b.span("frontend", "POST /checkout", 0, 100, kind=SpanKind.SERVER)
    _, pricing = b.call(root, "pricing", "POST /quote", 30, 90)
    b.span("pricing", "compute", 40, 80, parent=pricing)
    _, cart = b.call(root, "cart", "GET /cart", 30, 60)
    for i in range(40):
        b.span("cart", f"get item {i}", 31 + i * 0.5, 31.4 + i * 0.5, parent=cart)
    b.span("cart", "load promotions", 35, 45, parent=cart)
    b.span("cart", "redis GET", 58, 58.2, parent=cart, error=True)
    return b.trace()


def test_truncation_keeps_the_critical_path_then_errors_then_the_longest() -> None:
    layout = waterfall_rows(truncated_checkout(), max_rows=8)
    assert outline(layout) == "\n".join(
        [
            "frontend: POST /checkout *",
            "  frontend: call pricing *",
            "    pricing: POST /quote *",
            "      pricing: compute *",
            "  frontend: call cart",
            "    cart: GET /cart",
            "      cart: load promotions",
            "      cart: redis GET ! (origin)",
            "… 40 more spans not shown (kept: critical path, errors, longest)",
        ]
    )
    assert (layout.span_count, len(layout.rows), layout.omitted) == (48, 8, 40)


def test_a_ten_thousand_deep_critical_path_is_cut_to_its_top_quickly() -> None:
    deep = TraceBuilder()
    parent = deep.span("svc", "op 0", 0, 20_000)
    for i in range(1, 10_000):
        parent = deep.span("svc", f"op {i}", i, 20_000 - i, parent=parent)
    began = time.perf_counter()
    layout = waterfall_rows(deep.trace())
    # linear work takes ~0.5 s on the slowest 2-core VM seen, under the whole suite's load;
    # anything quadratic in the depth would take minutes
    assert time.perf_counter() - began < 3.0
    assert [r.depth for r in layout.rows] == list(range(60))
    assert all(r.on_critical_path for r in layout.rows) and layout.omitted == 9_940


def test_render_png_is_a_png_as_tall_as_its_rows() -> None:
    small = waterfall_rows(checkout())
    png = render_png(checkout(), title="checkout")
    assert png_size(png) == (1200, figure_height_px(small))
    assert figure_height_px(small) == TOP_PX + 8 * ROW_PX + BOTTOM_PX
    # the orphan heading and the footer are lines too
    assert png_size(render_png(with_orphans(), width_px=900)) == (900, TOP_PX + (7 + 1) * ROW_PX + BOTTOM_PX)
    assert png_size(render_png(truncated_checkout(), max_rows=8))[1] == TOP_PX + (8 + 1) * ROW_PX + BOTTOM_PX
    assert render_png(checkout(), title="checkout") == png  # deterministic, bytes and all


def test_sizes_that_cannot_be_drawn_are_refused() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        waterfall_rows(checkout(), max_rows=0)
    with pytest.raises(ValueError, match="width_px"):
        render_png(checkout(), width_px=400)


def test_render_png_of_sixty_rows_is_fast() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "GET /search", 0, 300, kind=SpanKind.SERVER)
    for i in range(59):
        b.span(f"svc{i % 7}", f"GET /items/{i}", i * 4, i * 4 + 40, parent=root, error=i % 13 == 0)
    trace = b.trace()
    render_png(trace)  # warm: fonts loaded, caches filled
    began = time.perf_counter()
    png = render_png(trace)
    elapsed = time.perf_counter() - began
    assert png_size(png)[1] == TOP_PX + 60 * ROW_PX + BOTTOM_PX
    assert elapsed < 1.0, f"60-row waterfall took {elapsed:.2f} s"


def test_importing_the_module_imports_no_drawing_library() -> None:
    """The API and the CLI import it and rarely draw; Pillow waits for the first picture."""
    code = (
        "import sys, bot.render; "
        "assert not {'PIL', 'matplotlib'} & set(sys.modules), 'imported a drawing library'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


class Picture:
    """A rendered PNG, opened, with the layout and geometry it was drawn from."""

    def __init__(self, trace: Trace, width_px: int = 1200, max_rows: int = 60) -> None:
        self.layout = waterfall_rows(trace, max_rows)
        self.geometry = Geometry.of(self.layout, width_px)
        png = render_png(trace, width_px=width_px, max_rows=max_rows)
        self.image = Image.open(io.BytesIO(png)).convert("RGB")

    def row(self, operation: str) -> tuple[int, WaterfallRow]:
        """The drawn line of the one row with this operation, and the row."""
        (found,) = (
            (y, line)
            for y, line in enumerate(drawn_lines(self.layout))
            if isinstance(line, WaterfallRow) and line.operation == operation
        )
        return found

    def colour(self, x: float, y: float) -> str:
        r, g, b = self.image.getpixel((round(x), round(y)))
        return f"#{r:02x}{g:02x}{b:02x}"

    def centre(self, box: tuple[int, int, int, int]) -> str:
        left, top, right, bottom = box
        return self.colour((left + right - 1) / 2, (top + bottom - 1) / 2)

    def band(self, line: int) -> str:
        """The shading of a line, in the gap between the labels and the bars."""
        return self.colour(self.geometry.label_px - 4, self.geometry.mid(line))


def rgb(colour: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*ImageColor.getrgb(colour))


def test_the_critical_path_is_drawn_as_dark_strips_over_bars_coloured_by_own_time() -> None:
    picture = Picture(checkout())
    geo = picture.geometry
    y, compute = picture.row("compute")
    assert compute.critical == ((20, 50),) and compute.latency is LatencyClass.HOT
    assert picture.centre(geo.strip(y, 20, 50)) == rgb(PATH_COLOUR)
    left, top, right, _ = geo.bar(y, compute.start_ms, compute.end_ms)
    assert picture.colour((left + right) / 2, top + 1) == rgb(COLOURS[LatencyClass.HOT])  # above the strip
    assert picture.band(y) == rgb(PATH_BAND)
    # the root is on the path only for its own time: strips at its ends, bare bar in the middle
    y, root = picture.row("GET /checkout")
    assert picture.centre(geo.strip(y, 0, 10)) == rgb(PATH_COLOUR)
    assert picture.centre(geo.strip(y, 40, 45)) == rgb(COLOURS[root.latency])
    # off the path: no strip, no shading
    y, cart = picture.row("GET /cart")
    assert not cart.on_critical_path
    assert picture.centre(geo.bar(y, cart.start_ms, cart.end_ms)) == rgb(COLOURS[cart.latency])
    assert picture.band(y) == rgb("white")


def test_error_spans_are_edged_in_red_and_the_origin_is_pointed_at() -> None:
    picture = Picture(truncated_checkout(), max_rows=8)
    geo = picture.geometry
    y, redis = picture.row("redis GET")
    assert redis.is_error and redis.error_origin
    left, top, right, bottom = geo.bar(y, redis.start_ms, redis.end_ms)
    assert picture.colour(left, top) == picture.colour(right - 1, bottom - 1) == rgb(ERROR_COLOUR)
    # the note beside it: red ink right of the bar, on its line, where no other bar is
    note = picture.image.crop((right + 2, round(geo.mid(y)) - 6, right + 100, round(geo.mid(y)) + 6))
    counts = {colour: n for n, colour in note.getcolors(note.width * note.height) or ()}
    assert counts.get(ImageColor.getrgb(ERROR_COLOUR), 0) > 30
    # a span that did not fail has no edge: its bar's corner is its latency colour
    y, promotions = picture.row("load promotions")
    left, top, _, _ = geo.bar(y, promotions.start_ms, promotions.end_ms)
    assert picture.colour(left, top) == rgb(COLOURS[promotions.latency])


def test_orphans_are_drawn_apart_on_their_own_shading() -> None:
    picture = Picture(with_orphans(), width_px=900)
    lines = drawn_lines(picture.layout)
    y, reserve = picture.row("POST /reserve")
    assert lines.index(ORPHAN_HEADING) == len(picture.layout.tree_rows) == y - 1
    assert picture.band(y) == rgb(ORPHAN_BAND)
    assert picture.centre(picture.geometry.bar(y, reserve.start_ms, reserve.end_ms)) == rgb(
        COLOURS[reserve.latency]
    )


def test_the_picture_grows_one_row_height_a_line() -> None:
    sizes = {}
    for rows in (1, 8, 30, 60):
        b = TraceBuilder()
        root = b.span("api", "GET /", 0, 100)
        for i in range(rows - 1):
            b.span("api", f"step {i}", i, i + 1, parent=root)
        picture = Picture(b.trace())
        assert picture.image.size == (1200, picture.geometry.height_px)
        sizes[rows] = picture.image.size[1]
    assert sizes == {n: TOP_PX + n * ROW_PX + BOTTOM_PX for n in (1, 8, 30, 60)}


def broken_checkout_from_scenario() -> Trace:
    """The largest failing checkout of a cache outage, with the client span that called
    orders lost, as when a proxy drops it: orders shows up as an orphan."""
    scenario = generate("cache_down", 5, traces_per_minute=4)
    trace = max(
        (t for t in scenario.traces if t.journey == "checkout" and t.has_error),
        key=lambda t: (len(t.spans), t.trace_id),
    )
    lost = next(s for s in trace.spans if s.name == "call orders")
    spans = [
        dataclasses.replace(s, orphan=True) if s.parent_span_id == lost.span_id else s
        for s in trace.spans
        if s is not lost
    ]
    return dataclasses.replace(trace, spans=spans)


def test_a_generated_scenario_renders_to_an_artifact_to_look_at() -> None:
    trace = broken_checkout_from_scenario()
    layout = waterfall_rows(trace)
    assert layout.orphan_rows and layout.orphan_rows[0].operation == "POST /orders"
    assert [r.service for r in layout.rows if r.error_origin] == ["cart"]
    assert {r.language for r in layout.rows} >= {"nodejs", "python", "java", "go"}
    png = render_png(trace, title="checkout during a cache outage")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "waterfall_scenario.png"
    path.write_bytes(png)
    with Image.open(path) as pixels:
        assert pixels.size == (1200, figure_height_px(layout))
