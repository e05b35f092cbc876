"""Create the schema on an empty database, upgrade an older one, refuse a newer one.

A newer schema means a newer journeywatch wrote this database; running an older one
against it could misread or damage data, so startup stops with a clear error instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Table,
    bindparam,
    case,
    insert,
    inspect,
    select,
    tuple_,
    update,
)
from sqlalchemy.schema import CreateColumn

from bot.store import state
from bot.store.schema import (
    SCHEMA_VERSION,
    logs,
    metadata,
    metric_points,
    quarantine,
    resources,
    schema_meta,
    span_metrics,
    spans,
    traces,
)
from correlators.errors import SchemaVersionError
from correlators.model import pairs_as_maps

Step = Callable[[Connection], None]


def _add_bot_state(connection: Connection) -> None:
    """Version 2: the bot's own tables (incidents, timelines, burn state, changes, leases)."""
    tables = [mapper.local_table for mapper in state.Base.registry.mappers]
    metadata.create_all(connection, tables=tables)  # type: ignore[arg-type]


def _share_resources(connection: Connection) -> None:
    """Version 3: resources stored once (``resources``), named by ``spans.resource_id``.
    Rows already written keep their resource inline and are read as they are: rewriting
    every span of a large store would hold the writer up for as long as it took."""
    metadata.create_all(connection, tables=[resources])
    if "resource_id" not in {c["name"] for c in inspect(connection).get_columns(spans.name)}:
        column = CreateColumn(Column("resource_id", BigInteger)).compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {spans.name} ADD COLUMN {column}")


def _add_quarantine(connection: Connection) -> None:
    """Version 4: ``quarantine``, the rows the database refused (see ``bot.store.isolate``)."""
    metadata.create_all(connection, tables=[quarantine])


def _add_investigations(connection: Connection) -> None:
    """Version 5: on-demand investigations keep their report (``investigations``)."""
    metadata.create_all(connection, tables=[state.InvestigationRow.__table__])  # type: ignore[list-item]


def _add_incident_groups(connection: Connection) -> None:
    """Version 6: incidents of one cause are grouped (``incidents.group_primary`` and
    ``group_cause``, see ``bot.incidents.groups``); every existing incident starts alone."""
    table = metadata.tables[state.IncidentRow.__tablename__]
    present = {c["name"] for c in inspect(connection).get_columns(table.name)}
    for name in ("group_primary", "group_cause"):
        if name not in present:
            column = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column}")
    for index in table.indexes:
        if "group_primary" in index.columns:
            index.create(connection, checkfirst=True)


def _add_ingest_keys(connection: Connection) -> None:
    """Version 7: ``ingest_keys``, who may send telemetry (see ``bot.keys``)."""
    metadata.create_all(connection, tables=[state.IngestKeyRow.__table__])  # type: ignore[list-item]


def _date_arrivals(connection: Connection) -> None:
    """Version 8: retention by arrival (``bot.retention``). Traces and logs get
    ``arrived_ns`` (traces ``kept_until_ns`` too), changes ``arrived_at``, dated for rows
    already stored by their own stamp (what retention went by until now) but never later
    than now, so a row stamped in the far future expires in its tier's time like any
    other; span metrics get ``resolution_s`` (merged buckets), incidents and
    investigations ``reduced_at``."""
    now_ns = time.time_ns()
    bot_tables = metadata.tables
    added: list[tuple[Table, Column[Any], Column[Any], float]] = [
        (traces, traces.c.arrived_ns, traces.c.end_ns, now_ns),
        (logs, logs.c.arrived_ns, logs.c.time_ns, now_ns),
    ]
    changes = bot_tables[state.ChangeRow.__tablename__]
    added.append((changes, changes.c.arrived_at, changes.c.at, now_ns / 1e9))
    for table, column, stamp, now in added:
        _add_column(connection, table, column.name)
        dated = case((stamp < now, stamp), else_=now)
        connection.execute(update(table).where(column.is_(None)).values({column.name: dated}))
    _add_column(connection, traces, "kept_until_ns")
    _add_column(connection, span_metrics, "resolution_s")
    for name in (state.IncidentRow.__tablename__, state.InvestigationRow.__tablename__):
        _add_column(connection, bot_tables[name], "reduced_at")
    for table in (traces, logs, changes):
        for index in table.indexes:
            if {"arrived_ns", "arrived_at"} & {c.name for c in index.columns}:
                index.create(connection, checkfirst=True)


def _add_column(connection: Connection, table: Table, name: str) -> None:
    if name not in {c["name"] for c in inspect(connection).get_columns(table.name)}:
        column = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column}")


def _add_audit_log(connection: Connection) -> None:
    """Version 9: ``audit_log``, who read and did what (see ``bot.audit``), with the
    trigger that refuses updates (created with the table)."""
    metadata.create_all(connection, tables=[state.AuditRow.__table__])  # type: ignore[list-item]


def _add_key_roles(connection: Connection) -> None:
    """Version 10: access keys, ``ingest_keys.role`` and ``journeys`` (see ``bot.policy``);
    the keys made before read nothing, as before."""
    table = metadata.tables[state.IngestKeyRow.__tablename__]
    for name in ("role", "journeys"):
        _add_column(connection, table, name)


def _add_metric_points(connection: Connection) -> None:
    """Version 11: ``metric_points``, the OTLP metrics services send (``/v1/metrics``)."""
    metadata.create_all(connection, tables=[metric_points])


MAP_CHUNK = 1_000
"""Rows read per query while key-value lists are rewritten as maps."""


def _maps_and_scopes(connection: Connection) -> None:
    """Version 12: the telemetry model's schema 2. A key-value-list value, written until
    now as a list of ``[key, value]`` pairs, becomes a map in the rows already stored
    (``correlators.model.pairs_as_maps``: spans' attributes, events and links, resources',
    logs' attributes and resource). Only rows whose text holds ``[["``, the start of such a
    list, are read, and only those that change are written. Scopes and event names need no
    column (they live in the rows' JSON): what was stored before reads with none. A log's
    structured body is text and is left as it was written."""
    _rewrite(connection, spans, (spans.c.trace_id, spans.c.span_id), _span_maps)
    _rewrite(connection, resources, (resources.c.id,), _resource_maps)
    _rewrite(connection, logs, (logs.c.id,), _log_maps)


def _rewrite(
    connection: Connection, table: Table, keys: tuple[Column[Any], ...], convert: Callable[[Any], Any]
) -> None:
    """Each row of ``table`` whose ``data`` may hold a list of pairs, read in key order a
    chunk at a time (so memory holds one chunk), the changed ones written back together."""
    after: tuple[Any, ...] | None = None
    names = [f"key_{key.name}" for key in keys]
    write = (
        update(table)
        .where(*[key == bindparam(name) for key, name in zip(keys, names, strict=True)])
        .values(data=bindparam("new_data"))
    )
    while True:
        statement = select(*keys, table.c.data).where(table.c.data.like('%[["%'))
        if after is not None:
            statement = statement.where(tuple_(*keys) > tuple_(*after))
        rows = connection.execute(statement.order_by(*keys).limit(MAP_CHUNK)).all()
        changed = []
        for row in rows:
            data = orjson.loads(row[-1])
            converted = convert(data)
            if converted != data:
                changed.append(
                    {**dict(zip(names, row[:-1], strict=True)), "new_data": orjson.dumps(converted).decode()}
                )
        if changed:
            connection.execute(write, changed)
        if len(rows) < MAP_CHUNK:
            return
        after = tuple(rows[-1][:-1])


def _span_maps(data: dict[str, Any]) -> dict[str, Any]:
    out = {**data, "attributes": pairs_as_maps(data.get("attributes") or {})}
    out["events"] = [
        [name, time_ns, pairs_as_maps(attrs)] for name, time_ns, attrs in data.get("events") or ()
    ]
    out["links"] = [[trace, span, pairs_as_maps(attrs)] for trace, span, attrs in data.get("links") or ()]
    if "resource" in data:  # inline, in rows written before schema 3
        out["resource"] = pairs_as_maps(data["resource"])
    return out


def _resource_maps(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "attributes": pairs_as_maps(data.get("attributes") or {})}


def _log_maps(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "attributes": pairs_as_maps(data.get("attributes") or {}),
        "resource": pairs_as_maps(data.get("resource") or {}),
    }


def _add_releases(connection: Connection) -> None:
    """Version 13: ``releases``, each service version seen and its verdict, and a posted
    change's verdict on ``changes`` (``bot.releases``)."""
    metadata.create_all(connection, tables=[state.ReleaseRow.__table__])  # type: ignore[list-item]
    changes = metadata.tables[state.ChangeRow.__tablename__]
    for name in ("outcome", "verdict", "judged_at", "settled"):
        _add_column(connection, changes, name)


STEPS: dict[int, Step] = {
    1: _add_bot_state,
    2: _share_resources,
    3: _add_quarantine,
    4: _add_investigations,
    5: _add_incident_groups,
    6: _add_ingest_keys,
    7: _date_arrivals,
    8: _add_audit_log,
    9: _add_key_roles,
    10: _add_metric_points,
    11: _maps_and_scopes,
    12: _add_releases,
}
"""Step N upgrades a database at version N to N + 1. Version 1 is the first schema."""


def stored_version(connection: Connection) -> int | None:
    if not inspect(connection).has_table(schema_meta.name):
        return None
    return connection.execute(select(schema_meta.c.version)).scalar()


def migrate(engine: Engine, *, target: int = SCHEMA_VERSION, steps: dict[int, Step] | None = None) -> int:
    """Bring the database to ``target``; returns the version it was at (0 when new)."""
    steps = STEPS if steps is None else steps
    with engine.begin() as connection:
        found = stored_version(connection)
        if found is None:
            metadata.create_all(connection)
            connection.execute(insert(schema_meta).values(id=1, version=target))
            return 0
        if found > target:
            raise SchemaVersionError(
                f"the database schema is version {found}, newer than this journeywatch "
                f"knows ({target}); upgrade journeywatch or use another database"
            )
        for version in range(found, target):
            if version not in steps:
                raise SchemaVersionError(f"no migration from schema version {version}")
            steps[version](connection)
        connection.execute(update(schema_meta).values(version=target))
        return found
