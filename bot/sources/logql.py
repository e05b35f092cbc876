"""LogQL text for the Loki source: stream selectors and filters, built apart from the
network so each query the source sends can be read (and tested) on its own.

LogQL strings are Go string literals, so a backslash and a double quote are escaped; a
value inside a regex is first escaped for the regex (RE2, which takes ``\\-`` and the like).
Label regexes are anchored by Loki (``=~"a|b"`` is ``^(?:a|b)$``); line filters are not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def string(value: str) -> str:
    """A LogQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def alternatives(values: Sequence[str]) -> str:
    """A regex matching any of ``values`` literally."""
    return "|".join(re.escape(v) for v in values)


def services_selector(label: str, services: Sequence[str]) -> str:
    """The streams of these services: ``{label="a"}``, or ``{label=~"a|b"}`` for several."""
    if len(services) == 1:
        return f"{{{label}={string(services[0])}}}"
    return f"{{{label}=~{string(alternatives(services))}}}"


def by_trace_ids(selector: str, label: str, trace_ids: Sequence[str]) -> str:
    """Lines whose structured metadata (or label) ``label`` is one of the ids, whatever
    their case: ``{...} | trace_id=~"(?i)a|b"``. Metadata is filtered before any parser,
    where Loki reads it cheapest."""
    return f"{selector} | {label}=~{string('(?i)' + alternatives(trace_ids))}"


def lines_with(selector: str, trace_ids: Sequence[str]) -> str:
    """Lines whose text holds one of the ids, whatever their case: ``{...} |~ "(?i)a|b"``."""
    return f"{selector} |~ {string('(?i)' + alternatives(trace_ids))}"
