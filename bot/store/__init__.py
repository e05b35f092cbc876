"""The embedded store: telemetry tables, migrations and the batching writer.

``Store`` persists and answers queries (SQLite file by default, PostgreSQL by URL);
``BatchWriter`` takes writes off the request path and refuses with ``Saturated`` when the
database falls behind.
"""

from bot.store.store import Store, TraceQuery, TraceSummary
from bot.store.writer import BatchWriter, WriterStats

__all__ = ["BatchWriter", "Store", "TraceQuery", "TraceSummary", "WriterStats"]
