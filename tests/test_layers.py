"""The edges (Slack, pages, API) sit below the server that mounts them: none imports
``bot.server``, at module level or inside a function, so the wiring has no circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDGES = ("bot/slack", "bot/web", "bot/api")


def imported_modules(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module (and imported name) a module's source imports, anywhere in it
    (``TYPE_CHECKING`` blocks and function bodies too), relative imports resolved
    against ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def imports_server(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "bot.server" or m.startswith("bot.server."))


@pytest.mark.parametrize("edge", EDGES)
def test_no_edge_imports_the_server(edge: str) -> None:
    files = sorted((ROOT / edge).rglob("*.py"))
    assert files
    found = {
        str(f.relative_to(ROOT)): imports_server(
            imported_modules(f.read_text(), f.relative_to(ROOT).with_suffix("").parts[:-1])
        )
        for f in files
    }
    assert {f: m for f, m in found.items() if m} == {}


@pytest.mark.parametrize(
    "source",
    [
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.server import Bot\n",
        "def f():\n    import bot.server\n",
        "def f():\n    from .. import server\n",
        "from ..server import public_url\n",
        "from bot import server\n",
    ],
)
def test_every_form_of_importing_the_server_is_seen(source: str) -> None:
    assert imports_server(imported_modules(source, ("bot", "slack")))


def imports_of(folder_or_file: str) -> dict[str, set[str]]:
    path = ROOT / folder_or_file
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert files
    return {
        str(f.relative_to(ROOT)): imported_modules(
            f.read_text(), f.relative_to(ROOT).with_suffix("").parts[:-1]
        )
        for f in files
    }


def reaching(found: dict[str, set[str]], packages: tuple[str, ...]) -> dict[str, list[str]]:
    """Per file, the modules it imports from ``packages``."""
    hits = {
        file: sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))
        for file, modules in found.items()
    }
    return {file: modules for file, modules in hits.items() if modules}


ABOVE_TELEMETRY = (
    "bot.collector",
    "bot.store",
    "bot.sources",
    "bot.server",
    "bot.slack",
    "bot.web",
    "bot.api",
)


@pytest.mark.parametrize(
    "reader", ["bot/store", "bot/sources", "bot/telemetry_files.py", "bot/analysis.py", "bot/telemetry"]
)
def test_what_reads_telemetry_does_not_import_the_collector(reader: str) -> None:
    """Decoding and normalizing live in ``bot.telemetry``: the store, the sources and the
    file reader share it, and only the collector receives, samples and spools."""
    assert reaching(imports_of(reader), ("bot.collector",)) == {}


def test_the_telemetry_package_imports_nothing_above_it() -> None:
    assert reaching(imports_of("bot/telemetry"), ABOVE_TELEMETRY) == {}


CONFIG_LAYER = (
    "bot/config.py",
    "bot/priority_rules.py",
    "bot/durations.py",
    "bot/slo/config.py",
    "bot/slack/config.py",
    "bot/sources/config.py",
    "bot/sources/conventions.py",
)


@pytest.mark.parametrize("section", CONFIG_LAYER)
def test_the_config_sections_import_only_each_other(section: str) -> None:
    """The bottom layer: the config sections import the correlators and each other, and
    nothing that reads, receives or shows telemetry."""
    allowed = {file.removesuffix(".py").replace("/", ".") for file in CONFIG_LAYER}
    found = imports_of(section)[section]
    above = sorted(
        m for m in found if m.startswith("bot.") and not any(m == a or m.startswith(f"{a}.") for a in allowed)
    )
    assert above == []
