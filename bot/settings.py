"""Runtime settings: one typed object, read from the environment when asked, never at import.

Environment variables use the prefix ``JOURNEYWATCH_`` and ``__`` for nesting, e.g.
``JOURNEYWATCH_COLLECTOR__QUIET_PERIOD_S=2``. Secrets are :class:`SecretStr` so they
never show up in a repr or a log line. What a team edits by hand (journeys, objectives,
redaction rules) lives in the YAML files under ``config/`` instead; see ``bot.config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATA_DIR / 'journeywatch.db'}"


class SpoolSettings(BaseModel):
    """The ingest spool (``bot.collector.spool``): what ingest acknowledged, on disk until
    the store has it, so that a 200 survives a crash of the server or of its writer."""

    enabled: bool = True
    """false: acknowledged spans and logs live in memory until stored, and a crash loses
    them (up to the quiet period plus the writer's queue)."""
    directory: Path | None = None
    """Default: beside a SQLite database (``journeywatch.db-spool``), else ``data/spool``."""
    fsync: Literal["always", "interval", "never"] = "interval"
    """always: each request is acknowledged after an fdatasync covering it (requests waiting
    together share one); interval: the same, but syncs come at most every
    ``fsync_interval_ms``, so a request waits up to that long; never: acknowledged once the
    kernel has the bytes, which survives the process dying but not the machine losing power
    or its kernel crashing."""
    fsync_interval_ms: float = Field(default=5.0, ge=0)
    max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    """Past it, ingest answers 503 + Retry-After until the store catches up."""
    segment_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """A file is deleted once all it holds is stored, so smaller segments free disk sooner."""


class CollectorSettings(BaseModel):
    """Limits of the ingest path; the defaults hold on one 2-core machine."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    quiet_period_s: float = Field(default=10.0, ge=0)
    """A trace is decided this long after its last span arrived."""
    span_budget: int = Field(default=100_000, gt=0)
    """Spans held in memory awaiting a sampling decision; past it, decide early."""
    span_budget_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    """The same buffer in bytes (estimated from each span's fields, ``bot.collector.sizes``):
    whichever of the two is reached first decides early. Spans of 128 attributes of 32 KiB
    are 4 MiB each; counted in spans alone, the buffer had no bound in memory."""
    max_pending_writes: int = Field(default=50_000, gt=0)
    """Spans and logs queued for the store; past it, ingest answers 503 + Retry-After."""
    max_pending_write_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    """The same queue in bytes (the rows' text as built for the database): whichever of the
    two is reached first answers 503 + Retry-After."""
    span_metrics_budget_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    """Span-metric rows held before they are written (estimated, ``SpanMetrics.bytes``);
    past it every row is written at the next tick, future buckets too. Spans may be
    stamped up to ``max_future_s`` ahead, so distinct names could otherwise hold rows for
    ten minutes."""
    metrics_bucket_s: int = Field(default=10, gt=0)
    exemplars_per_bucket: int = Field(default=4, ge=0)
    writer_process: bool = True
    """Write to the database from a process of its own (faster: the collector is bound by
    one core) or from a thread (one process, less memory). bench/ingest.py, keep-all:
    process 23-29k spans/s at 244 + 115 MB; thread 19.8k spans/s at 294 MB."""
    max_trace_wait_s: float = Field(default=60.0, gt=0)
    """A trace still receiving spans this long after its first is decided anyway (later
    spans follow the decision): a trace that never goes quiet would otherwise be held for
    ever, and with it every spooled record after its first."""
    spool: SpoolSettings = SpoolSettings()
    decision_cache_size: int = Field(default=30_000, gt=0)
    """Decided trace ids remembered, so late spans follow their trace's decision."""
    max_future_s: float = Field(default=600.0, ge=0)
    """Spans and logs stamped further ahead of this server's clock are refused (counted in
    ``partial_success``): a client's clock may be off by minutes, not by years, and a time
    far ahead would make span-metric buckets that never close."""
    max_text_chars: int = Field(default=32_768, ge=1_024)
    """Longer names, attribute values and log bodies are cut here (marked) before they
    are redacted or kept: what an engineer reads is at the start, and a 1 MiB value costs
    memory and redaction time out of all proportion."""
    max_attributes: int = Field(default=128, ge=1)
    """Attributes kept per span, event, link, log record and resource (the OpenTelemetry
    SDK's OTEL_ATTRIBUTE_COUNT_LIMIT); the rest are dropped, counted in ``partial_success``."""
    max_events: int = Field(default=128, ge=0)
    """Events kept per span (OTEL_SPAN_EVENT_COUNT_LIMIT)."""
    max_links: int = Field(default=128, ge=0)
    """Links kept per span (OTEL_SPAN_LINK_COUNT_LIMIT)."""
    max_value_items: int = Field(default=128, ge=1)
    """Items kept of one array or key-value-list value, nested ones included. The SDK has
    no such limit; without one, a single attribute could hold every item of the body."""


class HttpSettings(BaseModel):
    """Limits of the HTTP server itself, before any route runs: what one slow or greedy
    client may hold (connections, time, requests in flight), so it cannot starve the rest.
    OTLP exporters give up an export after 10 s by default, so a legitimate sender never
    comes near these timeouts."""

    header_timeout_s: float = Field(default=10.0, gt=0)
    """A request's line and headers must arrive within this, counted from its first byte
    (or from the connection's opening): a client sending them a byte at a time (slowloris)
    is cut off here, whatever its pace."""
    body_timeout_s: float = Field(default=30.0, gt=0)
    """A request's whole body must arrive within this after its headers; a client that
    trickles it is answered 408 and cut off."""
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    """An idle keep-alive connection is closed after this (uvicorn's timeout_keep_alive)."""
    max_connections: int = Field(default=1_000, ge=8)
    """Open connections at most, lowered at startup to what the process's file-descriptor
    limit leaves after a reserve for the database, the writer and outgoing calls. Past it
    the oldest connection with no request in progress (idle, or still sending headers) is
    closed for the new one; if every connection is mid-request, the new one is."""
    max_requests_per_client: int = Field(default=32, ge=1)
    """Requests in progress at once from one remote address; more get 429 + Retry-After.
    An OpenTelemetry Collector in front sends with 10 consumers by default."""
    max_header_bytes: int = Field(default=64 * 1024, ge=1_024)
    """A request line and headers longer than this get 431 and the connection is closed."""


class IngestKeySettings(BaseModel):
    """Who may send telemetry (``bot.keys``): keys made with `journeywatch keys create`."""

    required: bool = True
    """Ingest (OTLP /v1/traces, /v1/logs, Zipkin) answers 401 to a request without a valid
    key; false takes telemetry from anyone who reaches the port (the demo's setting)."""
    header: str = Field(default="authorization", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    """The header a key comes in: ``Authorization: Bearer <key>``, or another name (then
    ``<name>: <key>``) when a proxy in front keeps Authorization for itself."""
    cache_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    """Memory for keys looked up (about 1 KiB each), least recently used forgotten first."""
    cache_ttl_s: float = Field(default=30.0, gt=0, le=3600)
    """How long a looked-up key is trusted before it is read again: a revocation reaches
    every server within this. Expiry (the end of a rotation's overlap) is exact."""
    rate_bytes_per_s: int = Field(default=0, ge=0)
    """Each key's sustained share of ingest, in request body bytes a second (after gzip is
    undone); over it the key's requests get 429 with ``Retry-After`` and other keys are
    unaffected. 0 (the default): no limit; one collector process takes in about 11 MiB/s
    (bench/ingest.py: 30-34k spans/s in 176 KiB requests of 512 spans), and one team may
    use all of it. Set it when teams share a collector, so none can starve the others."""
    burst_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """What a key may send at once after a quiet spell (an exporter's backlog after a
    network blip)."""
    rate_memory_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    """Memory for the keys' rate buckets (about 400 bytes each), least recently used
    forgotten first."""
    remind_before_days: list[int] = Field(default=[14, 3], min_length=1)
    """A key's team is told in Slack, once each, when its expiry comes within each of
    these many days."""
    reminder_channel: str | None = None
    """Where expiry reminders go; unset, the Slack default channel."""


class AdviceSettings(BaseModel):
    """Where a journey's time goes and what would win it back (``bot.journey_advice``):
    the journey page's ranking and the weekly digest in the journey's channel."""

    page_window_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    """The journey page ranks the traces kept in this long before its last evaluation."""
    page_traces: int = Field(default=1000, ge=10, le=10_000)
    """At most this many of them, taken evenly across the window (the newest of each slice)."""
    page_refresh_s: float = Field(default=600.0, ge=0)
    """A page view reuses the ranking worked out less than this long ago: a thousand traces
    of some 46 spans took 1.5-2.2 s here (bench/journey_advice.py), which each view
    should not pay."""
    digest_weekday: int = Field(default=0, ge=0, le=6)
    """The weekly digest's day, 0 for Monday to 6 for Sunday (UTC)."""
    digest_hour: int = Field(default=9, ge=0, le=23)
    """Its hour (UTC). It covers the seven days before that moment and is posted by the
    leader's first run of the job from then on in the ISO week, once per journey."""
    digest_traces: int = Field(default=2000, ge=10, le=20_000)
    """At most this many of the week's kept traces are ranked, spread over the week."""


class RetentionSettings(BaseModel):
    """How long each tier is kept (``bot.retention``), counted from when the store took a
    row, never from the sender's stamps."""

    traces_hours: float = Field(default=72, gt=0)
    """Full traces (spans, resources, quarantine entries). Ingest also refuses spans
    stamped further back than this, as it refuses those ahead of its clock."""
    cited_traces_days: float = Field(default=30, gt=0)
    """The traces an incident's report cites (its worst traces, those whose logs it shows)
    and their logs, counted from its latest investigation (kept while it is open); then a
    resolved incident keeps only summaries of its reports, timeline and Slack messages."""
    logs_hours: float = Field(default=72, gt=0)
    metric_points_hours: float = Field(default=72, gt=0)
    """OTLP metric data points (``/v1/metrics``, gRPC): the services' own CPU, memory,
    request and runtime series an investigation reads beside their span metrics."""
    span_metrics_hours: float = Field(default=24 * 396, gt=0)
    """Span metrics in all (13 months), merged into wider buckets as they age."""
    span_metrics_raw_hours: float = Field(default=72, gt=0)
    """The collector's own buckets (``collector.metrics_bucket_s``, 10 s) with their
    exemplars; older ones are merged into 5-minute buckets without exemplars (their
    traces are gone by then)."""
    span_metrics_5m_hours: float = Field(default=24 * 35, gt=0)
    """5-minute buckets, long enough for a 30-day SLO window; older ones are merged into
    hours."""
    burn_history_hours: float = Field(default=24 * 35, gt=0)
    """Each evaluation's burn rates, for the journey pages' sparklines."""
    incidents_days: float = Field(default=396, gt=0)
    """Resolved incidents with their timelines, verdicts and Slack messages, counted from
    their resolution; on-demand investigations from the end of their window. Open ones
    are never deleted."""
    changes_days: float = Field(default=396, gt=0)
    """Deploys, config changes and flag flips, counted from when they were recorded."""
    audit_hours: float = Field(default=24 * 400, gt=0)
    """The audit trail (``bot.audit``), counted from when each row was written: its own
    period, since who read a trace matters long after the trace is gone (a year's review
    plus a month's margin by default)."""


class ReleaseSettings(BaseModel):
    """Release regressions (``bot.releases``): how often the leader looks for new service
    versions and judges them against the version before, and for how long."""

    every_s: float = Field(default=60, gt=0)
    """Between looks; each judges every release still watched on all traffic so far."""
    watch_hours: float = Field(default=2, gt=0)
    """A release not called by then is settled as its last verdict (fine, or not enough
    traffic) and looked at no more."""
    max_traces_per_side: int = Field(default=1000, ge=200, le=1000)
    """Traces read per version and look, the newest of the new one and the last before it
    of the old one: a look costs a bounded read however busy the service."""


class SourceCredentials(BaseModel):
    """Secrets of the external sources named in ``sources:`` of journeys.yaml, e.g.
    ``JOURNEYWATCH_SOURCES__ELASTICSEARCH_API_KEY``."""

    prometheus_token: SecretStr | None = None
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    jaeger_token: SecretStr | None = None
    tempo_token: SecretStr | None = None
    loki_token: SecretStr | None = None
    """Sent as a bearer token; it wins over basic auth when both are set."""
    loki_username: str | None = None
    """Basic auth for Loki behind a proxy, or Grafana Cloud (the stack's user id, and an
    access policy token as the password)."""
    loki_password: SecretStr | None = None


class Settings(BaseSettings):
    """Everything the process needs to start, other than the YAML config files."""

    model_config = SettingsConfigDict(
        env_prefix="JOURNEYWATCH_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=4318, ge=0, le=65535)
    grpc_port: int = Field(default=4317, ge=-1, le=65535)
    """OTLP/gRPC, on the same host; 0 picks a free port, -1 turns gRPC off."""
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path = Path("config/journeys.yaml")
    collector: CollectorSettings = CollectorSettings()
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()
    ingest_keys: IngestKeySettings = IngestKeySettings()
    releases: ReleaseSettings = ReleaseSettings()
    advice: AdviceSettings = AdviceSettings()
    redaction_hmac_key: SecretStr | None = None
    """Key for hashing redacted values; unset means a random key per process."""
    api_token: SecretStr | None = None
    """When set, the query API and pages require ``Authorization: Bearer <token>``."""
    require_token: bool = True
    """`journeywatch serve` without an api_token makes up one and prints it, so traces are
    never readable by anyone on the network by default; false opens pages and API."""
    sources: SourceCredentials = SourceCredentials()
    public_url: str | None = None
    """Where people reach this bot's pages (links in Slack); defaults to host:port."""
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    """Bolt's own variable names: without a bot token the bot runs in local mode."""
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    """An app-level token (xapp-...) switches on Socket Mode. ``/slack/events`` exists only
    with a signing secret; a bot token with neither is refused at startup."""
    slack_api_url: str = "https://slack.com/api/"
    """JOURNEYWATCH_SLACK_API_URL: a Slack-compatible API server can stand in."""
    slack_future_skew_s: float = Field(default=30, ge=0, le=300)
    """A signed Slack request dated further ahead of our clock than this is refused. Slack
    stamps a request as it sends it and both clocks keep NTP time, so a real one is ahead
    by no more than network delay and clock error, well under a second; 30 s leaves room
    for a host whose clock has drifted, and ends a forged future date's extra life."""
    slack_replay_memory_bytes: int = Field(default=1024 * 1024, ge=4096)
    """Memory for the signatures of the last five minutes' Slack requests, so that each is
    taken once (240 bytes each: 1 MiB holds 4,369, fourteen a second for five minutes). Past it the oldest are
    forgotten and requests no newer than them refused."""

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        """``SLACK_SIGNING_SECRET=`` (as a compose file writes an unset variable) means no
        secret, never an empty one to sign with."""
        return value if value is not None and value.get_secret_value().strip() else None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus explicit overrides, or a ConfigError naming the
    variable, so a typo in the environment stops startup with a readable line."""
    from pydantic import ValidationError

    from correlators.errors import ConfigError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        path = "__".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"JOURNEYWATCH_{path}: {first['msg']}") from None
