"""`journeywatch` commands run in process (typer's CliRunner) against one database."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from bot.cli import app


def cli_at(url: str) -> Callable[..., str]:
    """A function that runs ``journeywatch *args --database-url url``, checks it ended
    well and returns what it printed on stdout."""
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--database-url", url])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run
