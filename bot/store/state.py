"""The bot's own state, beside the telemetry in the same database: incidents and their
timelines, per-journey burn state, change events, leases, ingest keys, the audit trail.

ORM models (``Mapped[]`` with ``mapped_column``): these rows are few and edited one at a
time, so the identity map and typed attributes earn their cost here, unlike telemetry.
They share the telemetry tables' ``MetaData`` so one migration path creates both.

Times are float seconds since the epoch: the watcher's clock, not telemetry's
nanoseconds.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.schema import metadata


class Base(DeclarativeBase):
    metadata = metadata


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    """open, acknowledged or resolved."""
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The journey while the incident is not resolved, NULL after: a unique index on it
    is what makes "one open incident per journey" hold across replicas (NULLs are
    distinct in both SQLite and PostgreSQL)."""
    severity: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(32))
    tier_rank: Mapped[int] = mapped_column(Integer)
    """The tier's position in the journey's tiers, fastest first."""
    objective: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    last_firing_at: Mapped[float] = mapped_column(Float)
    burn_start: Mapped[float] = mapped_column(Float)
    """Where the fastest firing tier's short window began when it opened: the start of the
    incident window an investigation looks at."""
    resolved_at: Mapped[float | None] = mapped_column(Float)
    burn_rate: Mapped[float] = mapped_column(Float)
    peak_burn_rate: Mapped[float] = mapped_column(Float)
    budget_left_at_open: Mapped[float] = mapped_column(Float)
    budget_left: Mapped[float] = mapped_column(Float)
    budget_spent: Mapped[float | None] = mapped_column(Float)
    report: Mapped[str | None] = mapped_column(Text)
    """The latest report's JSON form (``Report.to_json``)."""
    previous_report: Mapped[str | None] = mapped_column(Text)
    """The one before, so a re-investigation can say what changed."""
    investigated_at: Mapped[float | None] = mapped_column(Float)
    muted_until: Mapped[float | None] = mapped_column(Float)
    group_primary: Mapped[int | None] = mapped_column(Integer, index=True)
    """The primary incident of the group this one is in (its own id for the primary),
    NULL when it shares its cause with no other open incident (``bot.incidents.groups``)."""
    group_cause: Mapped[str | None] = mapped_column(Text)
    """The group's shared cause as JSON (``bot.incidents.grouping.Cause``)."""
    reduced_at: Mapped[float | None] = mapped_column(Float)
    """When retention cut its reports down to summaries, its telemetry gone (schema 8;
    ``bot.retention``); NULL while they still hold trace ids and log lines."""


class IncidentEventRow(Base):
    """One line of an incident's timeline: opened, escalated, investigated, acked, ..."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    """"journeywatch" for the bot itself, else the person (a Slack user id)."""
    detail: Mapped[str] = mapped_column(Text, default="{}")


class JourneyStateRow(Base):
    """The last evaluation of one tier of one objective of one journey: what a restarted
    bot resumes from, and what the journey pages show."""

    __tablename__ = "journey_state"

    journey: Mapped[str] = mapped_column(String(64), primary_key=True)
    objective: Mapped[str] = mapped_column(String(16), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    long_burn: Mapped[float] = mapped_column(Float)
    short_burn: Mapped[float] = mapped_column(Float)
    firing: Mapped[bool]
    firing_since: Mapped[float | None] = mapped_column(Float)
    budget_left: Mapped[float] = mapped_column(Float)
    evaluated_at: Mapped[float] = mapped_column(Float)


class BurnHistoryRow(Base):
    """Each evaluation's fastest-tier burn rate per journey and objective, for sparklines;
    purged with the span metrics."""

    __tablename__ = "burn_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(64))
    objective: Mapped[str] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Float)
    burn: Mapped[str] = mapped_column(Text)
    """JSON: tier name -> [long burn, short burn]."""
    __table_args__ = (Index("ix_burn_history_journey_at", "journey", "at"),)


class ChangeRow(Base):
    """A deploy, config change or flag flip: posted to /api/changes or seen as a new
    service.version in spans."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Float)
    link: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    """"api" or "spans"."""
    description: Mapped[str | None] = mapped_column(Text)
    arrived_at: Mapped[float | None] = mapped_column(Float, index=True)
    """When it was recorded (schema 8): retention goes by it, since ``at`` is the poster's."""
    outcome: Mapped[str | None] = mapped_column(String(24))
    """A posted change's verdict, before against after (schema 13, ``bot.releases``):
    a ``correlators.regression.Outcome`` value; None until judged."""
    verdict: Mapped[str | None] = mapped_column(Text)
    judged_at: Mapped[float | None] = mapped_column(Float)
    settled: Mapped[bool | None] = mapped_column(Boolean)
    __table_args__ = (Index("ix_changes_at", "at"), Index("ix_changes_service_at", "service", "at"))


class ReleaseRow(Base):
    """A version of a service first seen in stored spans, and its verdict against the
    version before it (``bot.releases``, schema 13)."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    previous: Mapped[str | None] = mapped_column(String(255))
    """The version it is compared with; None for the first version seen of a service."""
    first_seen: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(24))
    """``watching`` until judged, then a ``correlators.regression.Outcome``; ``first``
    for a service's first version (nothing to compare with)."""
    judged_at: Mapped[float | None] = mapped_column(Float)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    """No more looks: regressed, or its watch ended."""
    verdict: Mapped[str | None] = mapped_column(Text)
    """The latest verdict as JSON (``bot.releases.verdict_to_json``)."""
    __table_args__ = (
        UniqueConstraint("service", "version", name="uq_releases_service_version"),
        Index("ix_releases_first_seen", "first_seen"),
    )


class LeaseRow(Base):
    """A named lease a replica holds until it expires; see ``bot.scheduling.leader``."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[float] = mapped_column(Float)


class SlackMessageRow(Base):
    """One message journeywatch posts or keeps: the outbox and the record in one.

    ``key`` is the idempotency key (``incident:7:parent``): written before the first post,
    unique, so neither a restart nor a second replica posts a second parent. ``ts`` is set
    once Slack accepted it; ``status`` is pending (to post or update), sent, or local
    (no Slack token: kept for the console and the web pages)."""

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """parent, thread (a message in the parent's thread) or file (a picture)."""
    channel: Mapped[str] = mapped_column(String(255))
    parent_key: Mapped[str | None] = mapped_column(String(128))
    ts: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    """JSON: text, blocks, attachments (or, for files, the file's name and title)."""
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    """A file's bytes (the waterfall PNG)."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    dirty: Mapped[bool] = mapped_column(default=False)
    """Sent, but changed since: needs a chat.update."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class VerdictRow(Base):
    """An engineer's answer to "was the root cause right?", one per person per incident."""

    __tablename__ = "verdicts"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    user: Mapped[str] = mapped_column(String(255), primary_key=True)
    journey: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Float)


class InvestigationRow(Base):
    """An investigation someone asked for by hand (``/journeywatch investigate``): its
    report, so the "Full report" link of its thread has a page of its own."""

    __tablename__ = "investigations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journey: Mapped[str] = mapped_column(String(64), index=True)
    asked_by: Mapped[str | None] = mapped_column(String(255))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    report: Mapped[str] = mapped_column(Text)
    reduced_at: Mapped[float | None] = mapped_column(Float)
    """As ``IncidentRow.reduced_at`` (schema 8)."""


class IngestKeyRow(Base):
    """A key a team's services send telemetry with, or a person or script reads with
    (``bot.keys``, an access key when it has a ``role``). Only a hash of its
    secret is kept: the secret is shown once, when the key is made, and a copy of the
    database gives no one a key."""

    __tablename__ = "ingest_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The public part of the key (``jwk_<id>_<secret>``), shown by ``keys list``."""
    secret_sha256: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of the secret: 32 random bytes need no slow hash to resist guessing."""
    team: Mapped[str] = mapped_column(String(64), index=True)
    services: Mapped[str | None] = mapped_column(Text)
    """JSON list of the ``service.name`` values the key may send; NULL for any."""
    scopes: Mapped[str] = mapped_column(String(64))
    """Comma-separated: ``ingest`` (telemetry), ``changes`` (``POST /api/changes``)."""
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    replaced_by: Mapped[str | None] = mapped_column(String(32))
    """The key that rotated this one out; it stays valid until its ``expires_at``."""
    role: Mapped[str | None] = mapped_column(String(16))
    """``viewer``, ``responder`` or ``admin`` for an access key (reads the API and pages,
    ``bot.policy``); NULL for a key that only sends (schema 10)."""
    journeys: Mapped[str | None] = mapped_column(Text)
    """An access key's journeys besides its team's: a JSON list, or ``*`` for every
    journey; NULL reads as the team's alone (schema 10)."""


class AuditRow(Base):
    """One thing someone did or read, or one message the bot posted (``bot.audit``).

    Append-only: ``bot.audit.AuditTrail`` offers no update or delete but the retention
    purge, and the database itself refuses an UPDATE (a trigger on both dialects), so a
    row says what happened as it was first written. Ids and names only: the trail
    redacts a free-text subject before it is written, and never stores telemetry text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    """When the row was written (the server's clock): retention counts from here."""
    actor: Mapped[str] = mapped_column(String(255))
    """A Slack user id, ``api-token``, ``key:<id>``, ``anonymous``, ``cli``, ``journeywatch``."""
    via: Mapped[str] = mapped_column(String(16))
    """api, page, slack, cli or bot."""
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32))
    """What was acted on: trace, session, incident, ingest_key, slack_message, ..."""
    subject_id: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    """JSON of a few ids and names (a channel, a thread ts, a verdict)."""
    __table_args__ = (Index("ix_audit_log_at", "at"),)


_REFUSE_UPDATE = "audit_log is append-only"
for _dialect, _statements in {
    "sqlite": [
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSE_UPDATE}'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$body$ BEGIN RAISE EXCEPTION '{_REFUSE_UPDATE}'; END $body$",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}.items():
    for _statement in _statements:
        _ddl = DDL(_statement).execute_if(dialect=_dialect)  # type: ignore[no-untyped-call]
        event.listen(AuditRow.__table__, "after_create", _ddl)
