"""What the edges (Slack, the web page, the command line) show: reports, trace pictures.

Each surface imports the module it draws with (``bot.render.report``,
``bot.render.waterfall``) and nothing more: `journeywatch analyze` words a report and never
lays out a picture, so the package itself imports nothing.
"""
