"""The hand-edited configuration: journeys, objectives, runbooks, sampling and redaction.

A team edits ``config/journeys.yaml`` (and the ``redaction.yaml`` it may point to) by hand,
so a mistake must be reported as an editor would: the file, the line and the reason. We
keep the YAML node tree beside the parsed data and map pydantic's error locations back to
line numbers.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import re2
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.durations import Duration
from bot.priority_rules import PriorityRule, parse_rule
from bot.slack.config import SlackConfig
from bot.slo.config import AlertTierConfig, SliConfig, WatcherConfig, resolve_tiers
from bot.sources.config import SourcesConfig
from correlators.burn import Tier
from correlators.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

PatternName = Literal["email", "card_number", "bearer_token", "basic_auth", "jwt", "api_key", "password"]
BUILTIN_PATTERNS: tuple[PatternName, ...] = (
    "email",
    "card_number",
    "bearer_token",
    "basic_auth",
    "jwt",
    "api_key",
    "password",
)

DEFAULT_SLO_WINDOW_S = 30 * 86400
"""The window an objective's error budget is counted over, unless the journey says."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Runbook(_Strict):
    """A link posted with an incident. With ``service`` it is posted when that service is
    the top suspect; with ``fault`` when the scope is of that level (``dependency``,
    ``release``, ``instance``, ``zone``, ``flag``, ``service``, ``traffic``) or kind
    (``localized``, ``systemic``); with neither, always."""

    title: str
    url: str
    service: str | None = None
    fault: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://\S+$", value):
            raise ValueError("must be an http(s) URL")
        return value


class JourneyMatch(_Strict):
    """How a trace is recognised as this journey.

    Either its root span's service and operation (a glob over the span name or its
    ``http.route``), or a ``journey.name`` span attribute / baggage entry on any span.
    """

    root_service: str | None = None
    operation: str | None = None
    attribute: str = "journey.name"

    def matches_root(self, service: str, name: str, route: str | None) -> bool:
        if self.root_service is None or self.root_service != service:
            return False
        if self.operation is None:
            return True
        return fnmatch.fnmatchcase(name, self.operation) or (
            route is not None and fnmatch.fnmatchcase(route, self.operation)
        )


class LatencyObjective(_Strict):
    threshold_ms: float = Field(gt=0)
    target: float = Field(gt=0, lt=1)


class Objectives(_Strict):
    availability: float | None = Field(default=None, gt=0, lt=1)
    latency: LatencyObjective | None = None


class Journey(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    owner: str | None = None
    channel: str | None = None
    match: JourneyMatch = JourneyMatch()
    objectives: Objectives = Objectives()
    runbooks: list[Runbook] = []
    keep_fraction: float | None = Field(default=None, ge=0, le=1)
    """Share of healthy, unremarkable traces kept; None means the global default."""
    slo_window: Duration = DEFAULT_SLO_WINDOW_S
    alerts: dict[str, AlertTierConfig] = {}
    """Changes to the default burn-rate tiers, by tier name; see ``bot.slo.config``."""
    sli: SliConfig = SliConfig()

    @model_validator(mode="after")
    def _tiers_resolve(self) -> Journey:
        self.tiers()  # a new tier missing a field fails here, at its line
        if self.sli.source == "prometheus":
            for kind in ("availability", "latency"):
                if self.objective(kind) is not None and getattr(self.sli, kind) is None:
                    raise ValueError(f"sli.source is prometheus but sli.{kind} has no PromQL")
        if self.sli.source == "metrics":
            for kind in ("availability", "latency"):
                if self.objective(kind) is not None and getattr(self.sli.metrics, kind, None) is None:
                    raise ValueError(f"sli.source is metrics but sli.metrics.{kind} names no metric")
        return self

    def tiers(self) -> tuple[Tier, ...]:
        return resolve_tiers(self.alerts)

    def objective(self, kind: str) -> float | None:
        """The target share of good events of one objective kind, if the journey has it."""
        if kind == "availability":
            return self.objectives.availability
        latency = self.objectives.latency
        return latency.target if latency else None


class CustomPattern(_Strict):
    name: str
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re2.compile(value)
        except re2.error as exc:
            # RE2 runs in time linear in the text; what it refuses (look-around, back-
            # references) is what lets a crafted value freeze ingest
            raise ValueError(f"bad regular expression (RE2 syntax, no look-around): {exc}") from None
        return value


class RedactionRules(_Strict):
    """What never reaches storage. Key lists match attribute keys case-insensitively,
    by exact key or glob (``http.request.header.*``)."""

    enabled: bool = True
    drop_keys: list[str] = [
        "*authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "*password*",
        "*secret*",
    ]
    hash_keys: list[str] = ["enduser.id", "user.email", "user.id", "client.address"]
    patterns: list[PatternName] = list(BUILTIN_PATTERNS)
    custom_patterns: list[CustomPattern] = []


def _parses_as_rule(rule: str) -> str:
    parse_rule(rule)
    return rule


class Sampling(_Strict):
    default_keep_fraction: float = Field(default=0.1, ge=0, le=1)
    priority_rules: list[Annotated[str, AfterValidator(_parses_as_rule)]] = []

    def parsed_rules(self) -> list[PriorityRule]:
        return [parse_rule(r) for r in self.priority_rules]


class AppConfig(_Strict):
    journeys: list[Journey] = []
    runbooks: list[Runbook] = []
    """Runbooks shared by every journey (usually per service or per fault)."""
    sampling: Sampling = Sampling()
    sources: SourcesConfig = SourcesConfig()
    watcher: WatcherConfig = WatcherConfig()
    slack: SlackConfig = SlackConfig()
    redaction: RedactionRules = RedactionRules()
    redaction_file: str | None = None
    """A YAML file, relative to this one, that holds the ``redaction`` section instead."""

    @model_validator(mode="after")
    def _unique_names(self) -> AppConfig:
        seen: set[str] = set()
        for journey in self.journeys:
            if journey.name in seen:
                raise ValueError(f"journey {journey.name!r} is defined twice")
            seen.add(journey.name)
        return self

    def journey(self, name: str) -> Journey | None:
        return next((j for j in self.journeys if j.name == name), None)

    def owners(self) -> dict[str, str | None]:
        """Each journey's owner team: whose journeys an access key or Slack rule of a
        team reads (``bot.policy.scope_of``)."""
        return {j.name: j.owner for j in self.journeys}


# --- loading with line numbers ---------------------------------------------------------


def load_config(path: Path | str) -> AppConfig:
    """Load and validate the config file (and its redaction file), or raise ConfigError."""
    path = Path(path)
    data, root = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", file=str(path), line=1)
    config = _validate(AppConfig, data, root, path)
    if config.redaction_file:
        config = _with_redaction_file(config, path.parent / config.redaction_file, path, root)
    return config


def load_redaction(path: Path | str) -> RedactionRules:
    """Load a standalone redaction file: a mapping with a ``redaction`` section."""
    path = Path(path)
    data, root = _read_yaml(path)
    if not isinstance(data, dict) or "redaction" not in data:
        raise ConfigError("expected a mapping with a `redaction:` section", file=str(path), line=1)
    return _validate(_RedactionFile, data, root, path).redaction


class _RedactionFile(_Strict):
    redaction: RedactionRules


def _with_redaction_file(
    config: AppConfig, redaction_path: Path, config_path: Path, root: yaml.Node
) -> AppConfig:
    if not redaction_path.is_file():
        raise ConfigError(
            f"redaction_file {str(redaction_path)!r} does not exist",
            file=str(config_path),
            line=_line_of(root, ("redaction_file",)),
        )
    return config.model_copy(update={"redaction": load_redaction(redaction_path)})


def _read_yaml(path: Path) -> tuple[Any, yaml.Node]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, yaml.MappingNode("tag:yaml.org,2002:map", [])
        return loader.construct_document(node), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=str(path), line=line) from None
    finally:
        loader.dispose()


def _validate(model: type[M], data: dict[str, Any], root: yaml.Node, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{field}: {message}", file=str(path), line=_line_of(root, loc)) from None


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the deepest YAML node along a pydantic error location."""
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                found: yaml.Node = value
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
