"""A bad config file stops startup with the file, the line and the reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_config
from correlators.errors import ConfigError

REPO_CONFIG = Path(__file__).parent.parent / "config" / "journeys.yaml"


def write(tmp_path: Path, text: str, name: str = "journeys.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_the_shipped_config_is_valid() -> None:
    config = load_config(REPO_CONFIG)
    assert [j.name for j in config.journeys] == ["checkout", "login", "search"]
    checkout = config.journey("checkout")
    assert checkout is not None and checkout.objectives.latency is not None
    assert checkout.objectives.latency.threshold_ms == 800
    # the redaction section comes from the file it points to
    assert "enduser.id" in config.redaction.hash_keys


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        journeys:
          - name: checkout
            objectives:
              availability: 1.5
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 4
    assert caught.value.file == str(path)
    assert "journeys.0.objectives.availability" in caught.value.reason
    assert "less than 1" in caught.value.reason


def test_unknown_key_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        journeys:
          - name: login
            owner: identity
            chanel: "#typo"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 4
    assert "chanel" in caught.value.reason


def test_bad_priority_rule_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        sampling:
          priority_rules:
            - "payment.amount > 500"
            - "user.tier is enterprise"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 4
    assert "user.tier is enterprise" in caught.value.reason


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "journeys:\n  - name: a\n    match: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 4
    assert caught.value.reason.startswith("invalid YAML")


def test_duplicate_journey_names(tmp_path: Path) -> None:
    path = write(tmp_path, "journeys:\n  - name: a\n  - name: a\n")
    with pytest.raises(ConfigError, match="defined twice"):
        load_config(path)


def test_missing_redaction_file(tmp_path: Path) -> None:
    path = write(tmp_path, "journeys: []\nredaction_file: nowhere.yaml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 2
    assert "nowhere.yaml" in caught.value.reason


def test_bad_redaction_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "redaction:\n  patterns: [email, ssn]\n", name="redaction.yaml")
    path = write(tmp_path, "redaction_file: redaction.yaml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == str(tmp_path / "redaction.yaml")
    assert caught.value.line == 2


def test_check_config_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check-config", str(REPO_CONFIG)])
    assert ok.exit_code == 0
    assert "journeys: checkout, login, search" in ok.output

    bad = write(tmp_path, "journeys:\n  - name: Bad Name\n")
    result = runner.invoke(app, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: journeys.0.name" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_bad_config_before_listening(tmp_path: Path) -> None:
    bad = write(tmp_path, "journeys:\n  - nme: x\n")
    result = CliRunner().invoke(
        app, ["serve", "--config", str(bad), "--database-url", f"sqlite:///{tmp_path}/db"]
    )
    assert result.exit_code == 2
    assert f"{bad}:2" in result.output


def test_alert_tiers_are_changed_by_name_and_bad_ones_name_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        journeys:
          - name: checkout
            objectives: {availability: 0.999}
            alerts:
              page-slow: {burn_rate: 8}
              ticket-slow: {enabled: false}
              weekly: {severity: ticket, burn_rate: 0.5, long_window: 7d, short_window: 1d}
        """,
    )
    journey = load_config(path).journey("checkout")
    assert journey is not None
    tiers = {t.name: t for t in journey.tiers()}
    assert tiers["page-slow"].burn_rate == 8 and tiers["page-slow"].long_window_s == 6 * 3600
    assert "ticket-slow" not in tiers
    assert (tiers["weekly"].long_window_s, tiers["weekly"].short_window_s) == (7 * 86400, 86400)

    bad = write(
        tmp_path,
        """
        journeys:
          - name: checkout
            objectives: {availability: 0.999}
            alerts:
              weekly: {burn_rate: 0.5, long_window: 7d}
        """,
        name="bad.yaml",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.line == 2
    assert "new tier 'weekly' needs severity, short_window" in caught.value.reason

    typo = write(
        tmp_path,
        """
        journeys:
          - name: checkout
            slo_window: 30 days
        """,
        name="typo.yaml",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(typo)
    assert caught.value.line == 3 and "not a duration" in caught.value.reason


def test_a_prometheus_sli_needs_its_promql(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        journeys:
          - name: login
            objectives: {availability: 0.999}
            sli: {source: prometheus}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "sli.availability has no PromQL" in caught.value.reason and caught.value.line == 2
