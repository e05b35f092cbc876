"""What the SLO formats journeywatch imports (``bot.slo.openslo``, ``bot.slo.sloth``) share:
YAML documents whose every value knows its line (:class:`Field`), so any refusal names the
file and line, and the pieces both formats convert alike, such as a ratio SLI over a
histogram bucket read as latency. ``bot.slo.importer`` sends each document to its format
and finishes the journeys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn

import yaml

from correlators.errors import ConfigError

Key = str | int


# --- documents with lines -------------------------------------------------------------


@dataclass
class Document:
    """One object of the input: a YAML document, or one item of a document that is a list
    (OpenSLO's own examples keep several objects in one list)."""

    data: dict[str, Any]
    node: yaml.Node
    file: str
    number: int
    item: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def root(self) -> Field:
        return Field(self, ())

    @property
    def label(self) -> str:
        """How messages name this object: ``document 2 (SLO checkout-availability)``."""
        where = f"document {self.number}" + (f" item {self.item}" if self.item is not None else "")
        metadata = self.data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if "apiVersion" not in self.data and "version" in self.data:
            return f"{where} (Sloth service {self.data.get('service')})"
        kind = self.data.get("kind", "without kind")
        return f"{where} ({kind} {name})" if name else f"{where} ({kind})"

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.label}: {message}")


@dataclass(frozen=True)
class Field:
    """A place in a document: the value there (None when absent) and its line.

    Format modules read documents only through fields, so every error they raise names the
    line of the value it is about, or of the nearest parent when the value is missing.
    """

    doc: Document
    path: tuple[Key, ...]
    subject: str | None = None
    """What messages are about, inside the document: ``slo requests-latency``."""

    def at(self, *keys: Key) -> Field:
        return replace(self, path=self.path + keys)

    def about(self, subject: str) -> Field:
        return replace(self, subject=subject)

    def first(self, *names: str) -> Field:
        """The first of several spellings present (Sloth's ``error_query`` or ``errorQuery``)."""
        return next((self.at(n) for n in names if self.at(n).exists), self.at(names[0]))

    @property
    def value(self) -> Any:
        value: Any = self.doc.data
        for key in self.path:
            if isinstance(value, dict) and isinstance(key, str):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                return None
        return value

    @property
    def exists(self) -> bool:
        return self.value is not None

    @property
    def name(self) -> str:
        """The dotted path, as a person would point at it: ``spec.objectives[0].target``."""
        text = ""
        for key in self.path:
            text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
        return text or "(top level)"

    @property
    def line(self) -> int:
        node = self.doc.node
        for key in self.path:
            child = _child(node, key)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def fail(self, reason: str) -> NoReturn:
        where = "".join(f"{part}: " for part in (self.subject, self.name if self.path else None) if part)
        raise ConfigError(f"{self.doc.label}: {where}{reason}", file=self.doc.file, line=self.line)

    def warn(self, message: str) -> None:
        self.doc.warn(f"{self.subject}: {message}" if self.subject else message)

    def text(self) -> str:
        value = self.value
        if value is None:
            self.fail("is required")
        if not isinstance(value, str | int | float) or isinstance(value, bool) or str(value) == "":
            self.fail("must be a string")
        return str(value)

    def optional_text(self) -> str | None:
        return self.text() if self.exists else None

    def number(self) -> float:
        value = self.value
        if value is None:
            self.fail("is required")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a number, not {value!r}")
        return float(value)

    def items(self) -> list[Field]:
        """The entries of a list; none when the field is absent."""
        value = self.value
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail("must be a list")
        return [self.at(i) for i in range(len(value))]

    def flag(self) -> bool:
        value = self.value
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(f"must be true or false, not {value!r}")
        return value


def _child(node: yaml.Node, key: Key) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        found: yaml.Node | None = next((v for k, v in node.value if k.value == key), None)
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


def read_documents(text: str, file: str) -> list[Document]:
    """Every object of a (possibly multi-document) YAML text, numbered as the reader counts."""
    loader = yaml.SafeLoader(text)
    documents: list[Document] = []
    number = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            number += 1
            documents += _objects(loader.construct_document(node), node, file, number)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            f"invalid YAML: {exc.problem}", file=file, line=mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()
    return documents


def _objects(data: Any, node: yaml.Node, file: str, number: int) -> list[Document]:
    if data is None:
        return []
    if isinstance(data, dict):
        return [Document(data, node, file, number)]
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return [Document(item, node.value[i], file, number, i + 1) for i, item in enumerate(data)]
    raise ConfigError(
        f"document {number}: expected an OpenSLO or Sloth mapping, not {type(data).__name__}",
        file=file,
        line=node.start_mark.line + 1,
    )


# --- the pieces both formats share ----------------------------------------------------


@dataclass
class Draft:
    """A journey mapping on its way out, with where it came from (for names and lines)."""

    journey: dict[str, Any]
    origin: Field
    service: str | None = None


def journey_name(raw: str) -> str:
    """Our name pattern (``[a-z0-9][a-z0-9_-]*``) from an OpenSLO or Sloth name:
    lower-cased, every run of other characters a single ``-``."""
    return re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-_")


def tidy(number: float) -> float | int:
    """A float without the binary noise of a division (99.9 / 100), and whole numbers as
    ints, so the written YAML says ``0.999`` and ``300``."""
    rounded = round(number, 9)
    return int(rounded) if rounded.is_integer() else rounded


def tidy_query(query: str) -> str:
    """PromQL without trailing blanks, so a multi-line query is written as a ``|`` block."""
    return "\n".join(line.rstrip() for line in query.strip().splitlines())


_BUCKET_SERIES = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\s*\{([^}]*)\}")
_LE = re.compile(r'\ble\s*=\s*"([^"]+)"')
_RATE = re.compile(r"\brate\s*\(")


def milliseconds(value: float, metric: str, origin: Field) -> float | int:
    """A threshold in a metric's own unit as milliseconds. Prometheus names carry the unit
    (``_seconds``, ``_milliseconds``); without one the threshold is refused: read as
    seconds a 500 meant in milliseconds would be an objective 1000 times too loose, and
    quietly never alert."""
    base = re.sub(r"_(bucket|sum|count|total)$", "", metric)
    if base.endswith(("_milliseconds", "_ms")):
        return tidy(value)
    if base.endswith("_seconds"):
        return tidy(value * 1000)
    of = f"the unit of {metric!r} from its name" if metric else "the threshold's unit"
    origin.fail(
        f"cannot tell {of}, so {tidy(value)} could be seconds or milliseconds; name the metric "
        "with its unit (a recording rule ending in _seconds or _milliseconds), or write this "
        "objective in journeys.yaml by hand (latency.threshold_ms)"
    )


_CALL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*\(")
_LITERALS = re.compile(r'\{[^}]*\}|"[^"]*"')
"""Label matchers and strings, where a word before a parenthesis is no call."""
_PROMQL_FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_avg",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_stddev",
        "histogram_stdvar",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "mad_over_time",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_by_label",
        "sort_by_label_desc",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    ]
)
"""The functions of PromQL (Prometheus' query documentation)."""
_PROMQL_WORDS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
    ]
)
"""Aggregations and the keywords that may stand before a parenthesis."""


def not_promql(queries: Iterable[str]) -> list[str]:
    """The functions the queries call that Prometheus does not have (MetricsQL's
    ``histogram_share``, a typo), in order of appearance; Sloth files written for
    VictoriaMetrics import cleanly and then fail at every evaluation."""
    found = [
        name
        for query in queries
        for name in _CALL.findall(_LITERALS.sub("", query))
        if name not in _PROMQL_FUNCTIONS and name not in _PROMQL_WORDS
    ]
    return list(dict.fromkeys(found))


def warn_unless_promql(origin: Field, queries: Iterable[str]) -> None:
    unknown = not_promql(queries)
    if unknown:
        origin.warn(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not PromQL (MetricsQL?); "
            "Prometheus cannot run these queries: rewrite them before the journey is used"
        )


def ratio_objective(
    target: float, origin: Field, total: str, counted: str, counts: Literal["good", "bad"]
) -> dict[str, Any]:
    """``objectives`` and ``sli`` for a ratio SLI: ``counted`` (the good or the bad events)
    over ``total``.

    It is availability, unless the counted query reads one histogram bucket
    (``..._bucket{le="0.3"}``): then it counts requests faster than that bound, which is a
    latency objective, and an investigation must look for slow spans, not failed ones.

    ``rate(x[w])`` becomes ``increase(x[w])``, which is the same times ``w``: the ratio is
    unchanged, but journeywatch reads the answers as event counts, which a tier's
    ``min_bad_events`` is compared with; per-second rates would rarely reach it.
    """
    queries = {"total": tidy_query(total), counts: tidy_query(counted)}
    warn_unless_promql(origin, queries.values())
    if any(_RATE.search(q) for q in queries.values()):
        queries = {key: _RATE.sub("increase(", q) for key, q in queries.items()}
        origin.warn("rate() became increase(): journeywatch reads the queries as event counts per window")
    buckets = {(m.group(1), le) for m in _BUCKET_SERIES.finditer(counted) for le in _LE.findall(m.group(2))}
    if len(buckets) != 1 or next(iter(buckets))[1] in ("+Inf", "Inf"):
        sli = {"source": "prometheus", "availability": queries}
        return {"objectives": {"availability": tidy(target)}, "sli": sli}
    metric, le = next(iter(buckets))
    threshold = milliseconds(float(le), metric, origin)
    origin.warn(
        f'read as a latency objective ({threshold} ms): its events are the {metric}_bucket{{le="{le}"}} '
        "histogram bucket"
    )
    latency = {"threshold_ms": threshold, "target": tidy(target)}
    return {"objectives": {"latency": latency}, "sli": {"source": "prometheus", "latency": queries}}
