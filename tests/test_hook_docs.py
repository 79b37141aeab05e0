"""docs/plugins.md documents every hook and declaration as the code defines them (scripts/gen-hook-docs)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

from kpi_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen-hook-docs"
DOCS = ROOT / "docs" / "plugins.md"
HOOKS = [name for name, value in vars(hookspecs).items() if hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")]


@pytest.fixture(scope="module")
def generator():
    loader = SourceFileLoader("gen_hook_docs", str(SCRIPT))
    module = module_from_spec(spec_from_loader("gen_hook_docs", loader))
    loader.exec_module(module)
    return module


def test_the_generated_sections_match_the_hookspecs_and_declarations():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature_and_docstring(hook: str):
    page = DOCS.read_text()
    first_line = inspect.getdoc(getattr(hookspecs, hook)).splitlines()[0]
    assert f"### `{hook}(" in page
    assert first_line in page


def test_a_changed_docstring_is_detected_as_drift(generator, monkeypatch: pytest.MonkeyPatch):
    page = DOCS.read_text()
    assert generator.render(page) == page

    def kpi_metrics():
        """Declare KPIs, differently."""

    kpi_metrics.kpi_core_spec = {}
    monkeypatch.setattr(hookspecs, "kpi_metrics", kpi_metrics)

    assert generator.render(page) != page
    assert "Declare KPIs, differently." in generator.render(page)


def test_the_section_markers_are_required(generator):
    with pytest.raises(SystemExit, match="markers of the HOOKS section are missing"):
        generator.render("# a page without markers\n")


def test_every_test_fixture_is_listed_with_what_it_gives():
    from kpi_core.testing import browser, fixtures

    page = DOCS.read_text()
    names = [
        name
        for module in (fixtures, browser)
        for name, value in vars(module).items()
        if hasattr(value, "_fixture_function_marker")
    ]

    assert {"job_context", "set_plugin_setting", "seed", "assert_kpi_recomputed", "admin_headers"} <= set(names)
    assert {"chromium", "live_server", "dashboard_page"} <= set(names)
    for name in names:
        assert f"| `{name}` |" in page
    assert "| `seed` | function | `Seed` |" in page


@pytest.mark.parametrize(
    "attribute",
    ["engine", "settings", "plugin_settings", "plugins", "progress(", "facts_changed(", "run_id", "file"],
)
def test_every_job_context_attribute_is_documented_with_an_example(attribute: str):
    section = DOCS.read_text().split("### `JobContext`", 1)[1].split("| field |", 1)[0]

    [item] = [line for line in section.splitlines() if line.startswith(f"- `{attribute}")]
    assert "context." in item or attribute in ("plugins", "run_id", "file")


@pytest.mark.parametrize("attribute", ["tables", "epoch(column)", "settings", "job_field(key)"])
def test_every_metric_context_attribute_is_documented_with_an_example(attribute: str):
    section = DOCS.read_text().split("### `MetricContext`", 1)[1].split("| field |", 1)[0]

    [item] = [line for line in section.splitlines() if line.startswith(f"- `{attribute}")]
    assert "ctx." in item
