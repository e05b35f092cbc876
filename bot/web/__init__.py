"""The bot's web pages: server-rendered HTML (Jinja2, autoescaped), one stylesheet, a few
lines of script, no build step and nothing fetched from the network.

The pages are one more renderer of the neutral forms, beside Slack and the CLI: they read
the incident and journey JSON the API serves, the report JSON of ``correlators.report``
and the waterfall layout of ``bot.render.waterfall``.

* :mod:`bot.web.routes`: the routes (:func:`web_routes`), thin handlers
* :mod:`bot.web.auth`: the token guard (header, ``?token=`` once, then a cookie)
* :mod:`bot.web.journeys`, :mod:`~bot.web.incidents`, :mod:`~bot.web.traces`,
  :mod:`~bot.web.sessions`: what each page shows, as plain data
* :mod:`bot.web.sparkline`, :mod:`~bot.web.mrkdwn`, :mod:`~bot.web.slack_preview`:
  burn sparklines, Slack mrkdwn as safe HTML, kept Block Kit messages
* :mod:`bot.web.templating` and :mod:`~bot.web.text`: the Jinja2 environment and filters;
  every sentence the pages say
"""

from bot.web.routes import web_routes

__all__ = ["web_routes"]
