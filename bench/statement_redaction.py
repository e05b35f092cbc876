"""What storing statements as fingerprints costs a database span at ingest (issue 18).

Whole-span redaction (the path Zipkin and files take) of 20,000 database spans, with the
statement step and without it (as before), for statements with literals that never
repeat (each is shaped and digested anew) and for one parameterized statement (shaped
once, from the cache). CPU time of this process, garbage collector off, best of 3.

Run by hand:  .venv/bin/python bench/statement_redaction.py
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import RedactionRules
from bot.telemetry.redact import Redactor
from correlators.model import Span

SPANS = 20_000


def spans(literals: bool) -> list[Span]:
    out = []
    for i in range(SPANS):
        if literals:
            sql = f"SELECT * FROM items WHERE sku = 'sku-{i}' AND qty > {i % 7}"
        else:
            sql = "SELECT * FROM items WHERE sku = ? AND qty > ?"
        attributes = {"db.system": "sqlite", "db.name": "shop", "db.statement": sql}
        out.append(
            Span("1" * 32, f"{i:016x}", None, "shop", "SELECT shop.items", 0, 1, attributes=attributes)
        )  # type: ignore[arg-type]
    return out


def per_span_us(literals: bool, step: bool) -> float:
    best = float("inf")
    for _ in range(3):
        redactor = Redactor(RedactionRules(), b"bench")
        if not step:
            redactor._statements = None  # as before the step existed
        batch = spans(literals)
        gc.collect()
        gc.disable()
        start = time.process_time()
        for span in batch:
            redactor.redact_span(span)
        best = min(best, time.process_time() - start)
        gc.enable()
    return best / SPANS * 1e6


def main() -> None:
    for literals in (True, False):
        label = "literals, never repeated" if literals else "parameterized, one text "
        without, with_step = per_span_us(literals, step=False), per_span_us(literals, step=True)
        print(f"{label}: {without:5.1f} us a span without the statement step, {with_step:5.1f} us with it")


if __name__ == "__main__":
    main()
