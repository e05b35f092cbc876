"""Importing SLOs that other tools describe: OpenSLO v1 and Sloth into journeys.yaml form.

Teams already keep their SLOs as OpenSLO documents or Sloth specs; ``journeywatch
import-slo`` turns those into journey entries so nobody types an objective twice. The work
is pure: text in, journey mappings (the YAML form of :class:`bot.config.Journey`, each
validated by constructing one) and warnings out.

Anything we cannot carry over is said in a warning, never dropped in silence; anything we
cannot read at all is a :class:`ConfigError` naming the file, the line and the document.

This module reads the YAML into documents whose fields know their lines
(``bot.slo.documents``, which also holds what both formats share), sends each document to
its format (``bot.slo.openslo``, ``bot.slo.sloth``) and finishes their journeys alike:
names made unique, the default ``match``, validation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import Journey
from bot.slo import openslo, sloth
from bot.slo.documents import Document, Draft, journey_name, read_documents
from correlators.errors import ConfigError


@dataclass(frozen=True)
class ImportResult:
    journeys: list[dict[str, Any]]
    """Journey mappings in input order, ready for a ``journeys:`` list."""
    warnings: list[str]
    """What could not be carried over, one sentence each."""


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
        skipped = [w for d in documents for w in d.warnings]
        why = "; skipped: " + "; ".join(skipped) if skipped else " (no OpenSLO kind SLO and no Sloth spec)"
        raise ConfigError(f"no SLO to import{why}", file=file)
    _make_names_unique(drafts)
    journeys = [_finish(d) for d in drafts]
    warnings = [w for d in documents for w in d.warnings] + [_match_warning(journeys)]
    return ImportResult(journeys, list(dict.fromkeys(warnings)))


def _convert(documents: Sequence[Document]) -> list[Draft]:
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
