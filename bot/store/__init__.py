"""The embedded store: telemetry tables, migrations and the batching writer."""

from bot.store.store import Store, TraceQuery, TraceSummary
from bot.store.writer import BatchWriter, WriterStats

__all__ = ["BatchWriter", "Store", "TraceQuery", "TraceSummary", "WriterStats"]
