"""Pictures of telemetry for the edges (Slack, the web page): plain layouts, then drawing.

The layout (:func:`waterfall_rows`) is plain data any surface can draw; :func:`render_png`
draws it with Pillow, imported only when a picture is actually made.
"""

from bot.render.waterfall import (
    LatencyClass,
    WaterfallLayout,
    WaterfallRow,
    figure_height_px,
    render_png,
    waterfall_rows,
)

__all__ = [
    "LatencyClass",
    "WaterfallLayout",
    "WaterfallRow",
    "figure_height_px",
    "render_png",
    "waterfall_rows",
]
