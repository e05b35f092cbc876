"""Incidents: when to open, escalate and resolve one (``lifecycle``), and where they live
(``repository``, the bot's database), with their timelines."""
