"""`journeywatch analyze` on generated incidents written as OTLP JSON Lines, and a fast
regression subset of the labelled cases (bench/rca_eval.py runs all of them)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.analysis import cycles_uncollected
from bot.cli import app
from correlators.analyze import analyze
from tests.otlp_json import write_case, write_otlp_metrics
from tests.scenarios import Scenario, generate

S = 1_000_000_000


def files(tmp_path: Path, kind: str, seed: int) -> tuple[list[str], Scenario]:
    scenario = generate(kind, seed)
    return write_case(tmp_path, scenario, metrics="prometheus"), scenario


def test_cli_json_names_the_cache_and_a_systemic_scope(tmp_path: Path) -> None:
    args, _ = files(tmp_path, "cache_down", 1)
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["schema_version"] == 1
    assert report["candidates"][0]["service"] == "redis"
    assert report["scope"]["kind"] == "systemic"
    assert report["scope"]["level"] == "shared_dependency"
    assert {"summary", "bottlenecks", "attributes", "candidates", "scope", "budget"} <= set(report)
    assert abs(sum(hop["share"] for hop in report["budget"]) - 1.0) < 1e-3
    assert report["budget"][0]["service"] == "redis"
    exemplar_logs = report["exemplar_logs"]
    assert 0 < len(exemplar_logs) <= 5
    for trace_id, records in exemplar_logs.items():
        assert all(r["trace_id"] == trace_id for r in records)


def test_cli_reads_otlp_metrics_as_well(tmp_path: Path) -> None:
    args, scenario = files(tmp_path, "shared_db_slow", 0)
    write_otlp_metrics(tmp_path / "metrics.jsonl", scenario.metrics)
    args[args.index(str(tmp_path / "metrics.json"))] = str(tmp_path / "metrics.jsonl")
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["candidates"][0]["service"] == "postgresql:shop"
    assert any(m["service"] == "postgresql:shop" for m in report["metric_anomalies"])


def test_cli_text_and_what_was_missing(tmp_path: Path) -> None:
    args, _ = files(tmp_path, "deploy_exception", 2)
    without_logs = [
        a
        for i, a in enumerate(args)
        if args[i - 1] not in ("--logs", "--metrics") and a not in ("--logs", "--metrics")
    ]
    result = CliRunner().invoke(app, without_logs)
    assert result.exit_code == 0, result.output
    assert "Missing: no logs were given" in result.output
    assert result.output.splitlines()[2].startswith("Scope: localized")


def test_cli_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    args, _ = files(tmp_path, "cache_down", 1)
    # a flawed line is skipped (tests/test_telemetry_files.py); a file that cannot be read is not
    (tmp_path / "traces.jsonl").write_bytes(b"\x1f\x8b not really gzip")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"{tmp_path / 'traces.jsonl'}: broken gzip" in result.output
    bad_time = CliRunner().invoke(app, [*args[:8], "--baseline-start", "yesterday", *args[10:]])
    assert bad_time.exit_code == 2
    assert "Traceback" not in bad_time.output


def test_the_collector_rests_during_one_analysis_only() -> None:
    """The command pauses cyclic collection while it reads and analyses (bot/analysis.py);
    an in-process caller gets it back, even after an error."""
    assert gc.isenabled()
    with pytest.raises(ValueError), cycles_uncollected():
        assert not gc.isenabled()
        raise ValueError("the analysis failed")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("kind", "seed", "top", "scope", "level"),
    [
        ("instance_cpu", 0, "pricing", "localized", "instance"),
        ("instance_gc", 2, "orders", "localized", "instance"),
        ("deploy_exception", 0, "search", "localized", "service"),
        ("slow_operation", 0, "catalog", "localized", "service"),
        ("third_party_slow", 0, "stripe", "localized", "dependency"),
        ("instance_network", 0, "catalog", "localized", "instance"),
        ("shared_db_slow", 0, "postgresql:shop", "systemic", "shared_dependency"),
        ("cache_down", 0, "redis", "systemic", "shared_dependency"),
        ("zone_loss", 0, None, "systemic", "zone"),
        ("release_multi", 0, "auth", "systemic", "release"),
        ("flag_across", 0, "checkout", "systemic", "feature_flag"),
        ("traffic_surge", 0, None, "systemic", "traffic"),
    ],
)
def test_regression_subset(kind: str, seed: int, top: str | None, scope: str, level: str) -> None:
    """One labelled case per fault kind (bench/rca_eval.py runs 204); for a zone or a
    traffic surge the scope is the answer, not a service; for a release rolled to several
    services any of them is right, as bench/rca_eval.py counts it."""
    scenario = generate(kind, seed)
    report = analyze(scenario.analysis_input())
    if top is not None:
        right = set(scenario.fault.services) or {top}
        assert top in right and report.candidates[0].service in right
    assert scope == scenario.fault.scope
    assert (report.scope.kind, report.scope.level) == (scope, level)
