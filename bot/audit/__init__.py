"""The audit trail: who read and did what, and what the bot posted where.

``trail`` keeps it (``audit_log``, append-only, its own retention); ``listing`` words an
entry for the CLI (`journeywatch audit-log`) and the admin page.
"""

from bot.audit.trail import AuditRecord, AuditTrail

ANONYMOUS = "anonymous"
"""The actor of a read when the pages and API are open (no API token configured)."""
BEARER = "api-token"
CLI = "cli"
BOT = "journeywatch"


def token_actor(token_required: bool) -> str:
    """Who passed the API token guard: the token's holder, or anyone when it is off."""
    return BEARER if token_required else ANONYMOUS


__all__ = ["ANONYMOUS", "BEARER", "BOT", "CLI", "AuditRecord", "AuditTrail", "token_actor"]
