"""Importing SLOs that other tools describe: OpenSLO v1 and Sloth into journeys.yaml form.

Teams already keep their SLOs as OpenSLO documents or Sloth specs; ``journeywatch
import-slo`` turns those into journey entries so nobody types an objective twice. The work
is pure: text in, journey mappings (the YAML form of :class:`bot.config.Journey`, each
validated by constructing one) and warnings out.

Anything we cannot carry over is said in a warning, never dropped in silence; anything we
cannot read at all is a :class:`ConfigError` naming the file, the line and the document.

This module reads the YAML, keeping each document's node tree so that any field can name
its line (:class:`Field`), and sends each document to its format (``bot.slo.openslo``,
``bot.slo.sloth``). It holds what both formats share, such as reading a ratio SLI over a
histogram bucket as latency, and finishes their journeys alike: names made unique, the
default ``match``, validation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml
from pydantic import ValidationError

from bot.config import Journey
from correlators.errors import ConfigError

Key = str | int


@dataclass(frozen=True)
class ImportResult:
    journeys: list[dict[str, Any]]
    """Journey mappings in input order, ready for a ``journeys:`` list."""
    warnings: list[str]
    """What could not be carried over, one sentence each."""


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
    (``_seconds``, ``_milliseconds``); without one we assume seconds, and say so."""
    base = re.sub(r"_(bucket|sum|count|total)$", "", metric)
    if base.endswith(("_milliseconds", "_ms")):
        return tidy(value)
    if not base.endswith("_seconds"):
        of = f"{metric!r} from its name" if metric else "the threshold"
        origin.warn(f"cannot tell the unit of {of}; read {tidy(value)} as seconds ({tidy(value * 1000)} ms)")
    return tidy(value * 1000)


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


# --- the import -----------------------------------------------------------------------


def import_file(path: Path) -> ImportResult:
    """Read ``path`` and import it; a file we cannot read is a ConfigError too."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    return import_slo(text, str(path))


def import_slo(text: str, file: str = "<input>") -> ImportResult:
    """Journeys from every SLO in ``text``, in input order, with what was not carried over."""
    documents = read_documents(text, file)
    drafts = _convert(documents)
    if not drafts:
        raise ConfigError("no SLO to import (no OpenSLO kind SLO and no Sloth spec)", file=file)
    _make_names_unique(drafts)
    journeys = [_finish(d) for d in drafts]
    warnings = [w for d in documents for w in d.warnings] + [_match_warning(journeys)]
    return ImportResult(journeys, list(dict.fromkeys(warnings)))


def _convert(documents: Sequence[Document]) -> list[Draft]:
    # The format modules build on this module's Field and helpers, so they are imported
    # once this module is complete rather than at its top.
    from bot.slo import openslo, sloth

    library = openslo.Library([d for d in documents if _format_of(d) == "openslo"])
    drafts: list[Draft] = []
    for doc in documents:
        if _format_of(doc) == "sloth":
            drafts += sloth.convert(doc)
        else:
            drafts += library.convert(doc)
    return drafts


def _format_of(doc: Document) -> str:
    """``openslo`` or ``sloth``, from apiVersion/kind (or Sloth's bare ``version``)."""
    data = doc.data
    api, kind, version = data.get("apiVersion"), data.get("kind"), data.get("version")
    if api == "openslo/v1":
        return "openslo"
    if api == "sloth.slok.dev/v1" and kind == "PrometheusServiceLevel":
        return "sloth"
    if api is None and version == "prometheus/v1":
        return "sloth"
    if api is None and version is not None:
        doc.root.at("version").fail(f"Sloth version {version!r} is not supported; only prometheus/v1")
    if isinstance(api, str) and api.startswith("openslo/"):
        doc.root.at("apiVersion").fail(f"OpenSLO apiVersion {api!r} is not supported; only openslo/v1")
    (doc.root.at("apiVersion") if api is not None else doc.root).fail(
        f"kind {kind!r} with apiVersion {api!r} is neither OpenSLO (apiVersion openslo/v1) nor "
        "Sloth (version prometheus/v1, or apiVersion sloth.slok.dev/v1 kind PrometheusServiceLevel)"
    )


def _make_names_unique(drafts: Sequence[Draft]) -> None:
    """Names as given; where two collide, ``<service>-<name>``; if they still collide the
    input has the same SLO twice, which only the user can sort out."""
    counts = Counter(d.journey["name"] for d in drafts)
    for draft in drafts:
        if counts[draft.journey["name"]] > 1 and draft.service:
            draft.journey["name"] = journey_name(f"{draft.service}-{draft.journey['name']}")
    taken: dict[str, Draft] = {}
    for draft in drafts:
        name = draft.journey["name"]
        if name in taken:
            draft.origin.fail(f"journey name {name!r} is already taken by {taken[name].origin.doc.label}")
        taken[name] = draft


def _finish(draft: Draft) -> dict[str, Any]:
    """The journey with the default trace match, validated as a Journey."""
    rest = dict(draft.journey)
    journey = {"name": rest.pop("name")} | ({"owner": rest.pop("owner")} if "owner" in rest else {})
    journey |= {"match": {"attribute": "journey.name"}} | rest
    try:
        Journey.model_validate(journey)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        draft.origin.fail(f"cannot be a journey: {where}: {first['msg'].removeprefix('Value error, ')}")
    return journey


def _match_warning(journeys: Sequence[Mapping[str, Any]]) -> str:
    """SLO documents say nothing of traces, so every imported journey needs its match."""
    names = ", ".join(j["name"] for j in journeys)
    return (
        f"fill in match (root_service and operation) for {names}: an SLO does not say which traces "
        "are the journey's, and until then only spans carrying journey.name=<journey name> count"
    )


# --- writing --------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as config/journeys.yaml is written by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _represent_str)


def render_journeys(journeys: Sequence[Mapping[str, Any]], source: str) -> str:
    """The journeys as a ``journeys:`` YAML section, to paste or to write as a file."""
    body = yaml.dump(
        {"journeys": [dict(j) for j in journeys]},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 16,
    )
    return f"# Imported from {source} by journeywatch import-slo: fill in each journey's match.\n{body}"


def write_journeys(path: Path, text: str, *, force: bool = False) -> None:
    """Write rendered journeys; never over an existing file unless asked, since the path
    given may well be the journeys.yaml the import was meant to be pasted into."""
    if path.exists() and not force:
        raise ConfigError("exists; pass --force to overwrite it", file=str(path))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
