"""What an operation's calls stopped writing: the mark a code fault leaves in the logs.

A code fault (an exception caught and turned into an answer, an early return) is often
invisible everywhere else in real telemetry: no span status, no error line, no change of
timing or of the calls made. What it cannot hide is the work it skipped. Lines are tied
to calls by their span ids, and each call of an operation is the count of each line it
wrote; the baseline's calls show what is regular about them, a small log invariant (Lou et
al., "Mining Invariants from Console Logs for System Problem Detection", USENIX ATC 2010):

- *a line*: the calls write it;
- *any line*: the calls write something (a template miner may split one source line into
  several templates by the length of its arguments, and then no single one is regular);
- *two lines in step*: the calls write them as often as each other (a loop that logs
  twice an item; an exception now caught between the two keeps both lines, in another
  ratio). A call that wrote neither keeps the pair in step too.

An invariant that held on nearly every call of the baseline (``MIN_SHARE``) and on none
of the incident's calls broke: the operation took another path through its own code.
Shares are per call of one kind, so a change in the mix of requests moves nothing; a few
calls say nothing either way (``MIN_CALLS`` in each window: 0.9 to the tenth is 1 in 10^10).

A kind of call is an operation, and also the operation as reached from each parent
operation when it is reached from several: one handler behind two routes runs different
code for each, and the regularity of one route is lost in the sum of both.

Error-level lines are left out: an error that stopped is a recovery, not a fault.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from correlators.logs import ERROR_SEVERITY, Mined
from correlators.model import LogRecord, Trace

MIN_CALLS = 10
"""Calls of the kind needed in each window."""
MIN_SHARE = 0.9
"""Share of its baseline calls on which the invariant held: "nearly every call"."""

Broke = Literal["line", "any line", "in step"]
Kind = tuple[str, str, str | None]
"""(service, span name, parent span name); None for the operation from any parent, ""
from none in the trace."""
Calls = dict[Kind, list[Counter[int]]]
"""Each call of a kind as the count of each template it wrote."""


@dataclass(frozen=True, slots=True)
class SilencedLine:
    service: str
    operation: str
    template: str
    """The line's template; for "any line", one of the lines the calls wrote."""
    sample: str
    calls_before: int
    wrote_before: int
    """Baseline calls of the kind on which the invariant held."""
    calls_now: int
    broke: Broke = "line"
    paired: str = ""
    """For "in step", the template the line was written as often as."""
    paired_sample: str = ""
    caller: str | None = None
    """The parent operation, when only the calls from it broke the invariant."""

    @property
    def share_before(self) -> float:
        return self.wrote_before / self.calls_before


def silenced_lines(mined: Mined, baseline: Sequence[Trace], incident: Sequence[Trace]) -> list[SilencedLine]:
    """Invariants of every kind of call that broke, the most regular first. Only calls of
    operations that wrote a line in the baseline are read."""
    lines_before = _lines_by_span(mined.before)
    if not lines_before:
        return []
    before = _calls(baseline, lines_before, _writers(baseline, lines_before))
    now = _calls(incident, _lines_by_span(mined.during), {(s, n) for s, n, _ in before})
    samples = _samples(mined.before)
    found: dict[tuple[str, str, Broke, str, str], SilencedLine] = {}
    for kind in sorted(before, key=lambda k: (k[0], k[1], k[2] is not None, k[2] or "")):
        calls, since = before[kind], now.get(kind, [])
        if min(len(calls), len(since)) < MIN_CALLS:
            continue
        for line in _broken(kind, calls, since, mined.templates, samples):
            # the operation as a whole first: a parent's calls that broke it too say no more
            what = "" if line.broke == "any line" else line.template
            found.setdefault((line.service, line.operation, line.broke, what, line.paired), line)
    return sorted(found.values(), key=lambda s: (-s.share_before, -s.calls_now, s.service, s.operation))


def _broken(
    kind: Kind,
    before: list[Counter[int]],
    now: list[Counter[int]],
    templates: dict[int, str],
    samples: dict[int, str],
) -> list[SilencedLine]:
    service, operation, caller = kind
    need = MIN_SHARE * len(before)
    written = Counter(template for call in before for template in call)

    def line(broke: Broke, template: int, held: int, paired: int | None = None) -> SilencedLine:
        return SilencedLine(
            service,
            operation,
            templates.get(template, ""),
            samples.get(template, ""),
            len(before),
            held,
            len(now),
            broke,
            templates.get(paired, "") if paired is not None else "",
            samples.get(paired, "") if paired is not None else "",
            caller,
        )

    still = {template for call in now for template in call}
    silent = {t for t, calls in written.items() if calls >= need and t not in still}
    found = [line("line", t, written[t]) for t in sorted(silent)]
    wrote_some = sum(1 for call in before if call)
    if not found and wrote_some >= need and not still:
        found.append(line("any line", written.most_common(1)[0][0], wrote_some))
    covered: set[int] = set(silent)
    for a, b in _out_of_step(sorted(written), now):
        if a in covered or b in covered:
            continue
        held = sum(1 for call in before if call[a] == call[b])
        if held >= need:
            covered |= {a, b}
            found.append(line("in step", a, held, b))
    return found


def _out_of_step(templates: Sequence[int], calls: Iterable[Counter[int]]) -> list[tuple[int, int]]:
    """Pairs of ``templates`` written unequally often on every one of ``calls``. Narrowed
    call by call: most pairs are equal on the first call or two (both absent)."""
    pairs: list[tuple[int, int]] | None = None
    for call in calls:
        if pairs is None:
            pairs = [(a, b) for a, b in combinations(templates, 2) if call[a] != call[b]]
        else:
            pairs = [(a, b) for a, b in pairs if call[a] != call[b]]
        if not pairs:
            return []
    return pairs or []


def _lines_by_span(records: Sequence[tuple[LogRecord, int]]) -> dict[str, Counter[int]]:
    """The templates of the lines below error level that each span wrote."""
    found: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for record, template in records:
        if record.span_id and record.severity_number < ERROR_SEVERITY:
            found[record.span_id][template] += 1
    return found


def _writers(traces: Sequence[Trace], lines: dict[str, Counter[int]]) -> set[tuple[str, str]]:
    """The operations (service, span name) that wrote a line."""
    return {(span.service, span.name) for trace in traces for span in trace.spans if span.span_id in lines}


def _calls(
    traces: Sequence[Trace], lines: dict[str, Counter[int]], operations: set[tuple[str, str]]
) -> Calls:
    """Each call of the ``operations`` with its lines, as the operation's and as its
    parent's kind; a parent's kind is kept only where the operation has several."""
    found: defaultdict[Kind, list[Counter[int]]] = defaultdict(list)
    for trace in traces:
        names = {span.span_id: span.name for span in trace.spans}
        for span in trace.spans:
            if (span.service, span.name) not in operations:
                continue
            call = lines.get(span.span_id, Counter())
            found[(span.service, span.name, None)].append(call)
            found[(span.service, span.name, names.get(span.parent_span_id or "", ""))].append(call)
    callers = Counter((service, name) for service, name, parent in found if parent is not None)
    return {
        kind: calls for kind, calls in found.items() if kind[2] is None or callers[(kind[0], kind[1])] > 1
    }


def _samples(records: Sequence[tuple[LogRecord, int]]) -> dict[int, str]:
    """One line of each template."""
    found: dict[int, str] = {}
    for record, template in records:
        found.setdefault(template, record.body)
    return found
