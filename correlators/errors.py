"""The one exception tree of journeywatch.

Everything we raise on purpose derives from :class:`JourneywatchError`, so a caller at
the edge (the CLI, an HTTP handler, a Slack command) can catch one type and turn it into
a clear message instead of a traceback::

    JourneywatchError
    ├── ConfigError            a file or setting we cannot run with (file, line, reason)
    │   └── InputFileError     a telemetry file we cannot read (file, line, reason)
    ├── SchemaVersionError     data written by a model version this reader does not know
    ├── ReportFormatError      a stored report that does not read as one (names the field)
    ├── DataSourceError        a store or backend failed (carries the source and query)
    ├── IngestError            a telemetry request we cannot accept
    │   ├── MalformedPayload   the body does not decode (HTTP 400)
    │   ├── PayloadTooLarge    over the configured size limit (HTTP 413)
    │   ├── UnsupportedMedia   a content type or encoding we do not speak (HTTP 415)
    │   ├── Unauthenticated    no ingest key, or one that is unknown, revoked or expired (HTTP 401)
    │   ├── NotPermitted       a good key without the scope the request needs (HTTP 403)
    │   └── RetryLater         the sender should try again after ``retry_after`` seconds
    │       ├── RateLimited    its key sent more than its share (HTTP 429)
    │       └── Saturated      we are behind (HTTP 503)
    ├── IngestKeyError         an ingest key that does not exist or cannot be rotated
    └── AnalysisError          the correlators cannot answer with the data given

The tree lives in ``correlators`` because that package is the base both packages import
from; the classes are plain data and touch nothing.
"""

from __future__ import annotations


class JourneywatchError(Exception):
    """Root of every error journeywatch raises on purpose."""


class ConfigError(JourneywatchError):
    """A configuration file or setting is wrong; says where and why."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<settings>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.reason}"


class InputFileError(ConfigError):
    """A telemetry input file (OTLP JSON Lines, Prometheus JSON) has a line we cannot read."""


class SchemaVersionError(JourneywatchError):
    """Data carries a schema version this reader cannot interpret."""


class ReportFormatError(JourneywatchError):
    """A stored report (JSON) that does not read as a :class:`~correlators.report.Report`:
    a field of the wrong type, or a required one missing."""


class DataSourceError(JourneywatchError):
    """A store or telemetry backend failed; names the source and the query it ran."""

    def __init__(self, source: str, query: str, reason: str) -> None:
        self.source = source
        self.query = query
        self.reason = reason
        super().__init__(f"{source}: {reason} (query: {query})")


class IngestError(JourneywatchError):
    """A telemetry request the collector cannot accept; carries its HTTP status."""

    status_code = 400


class MalformedPayload(IngestError):
    status_code = 400


class PayloadTooLarge(IngestError):
    status_code = 413


class UnsupportedMedia(IngestError):
    status_code = 415


class Unauthenticated(IngestError):
    """No ingest key, or one that is unknown, revoked or expired (``bot.keys``)."""

    status_code = 401


class NotPermitted(IngestError):
    """A valid key that lacks the scope the request needs."""

    status_code = 403


class RetryLater(IngestError):
    """Refused for now: OTLP exporters retry a 429 or 503 after its ``Retry-After``."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(RetryLater):
    """The request's key sent more than its rate; the others' keys are unaffected."""

    status_code = 429


class Saturated(RetryLater):
    """The collector is behind; the sender should back off for ``retry_after`` seconds."""

    status_code = 503


class IngestKeyError(JourneywatchError):
    """An ingest key command cannot be carried out (no such key, already revoked)."""


class AnalysisError(JourneywatchError):
    """The correlators cannot produce an answer from the data they were given."""
