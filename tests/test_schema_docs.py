"""docs/schema.md, the core tables a plugin may use, is generated from the models (issue #22)."""

from __future__ import annotations

import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

import pytest

from kpi_core.storage.models import Base

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen-schema-docs"
PAGE = ROOT / "docs" / "schema.md"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    loader = SourceFileLoader("gen_schema_docs", str(SCRIPT))
    module = module_from_spec(spec_from_loader("gen_schema_docs", loader))
    loader.exec_module(module)
    return module


def test_the_schema_page_matches_the_models():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_column_of_every_listed_table_is_on_the_page(generator):
    page = PAGE.read_text()

    for name in generator.PLUGIN_TABLES:
        assert f"### `{name}`" in page
        for column in Base.metadata.tables[name].columns:
            assert f"| `{column.name}` |" in generator.table_section(name)


def test_a_foreign_key_is_shown_with_its_target_and_delete_rule(generator):
    rows = generator.table_section("feedback").splitlines()

    [job_id] = [row for row in rows if row.startswith("| `job_id` |")]
    assert "→ `jobs.id`, on delete cascade" in job_id
    assert "| no |" in job_id


def test_the_page_names_the_latest_core_revision_for_depends_on(generator):
    latest = sorted(p.name[:4] for p in (ROOT / "kpi_core/storage/migrations/versions").glob("[0-9]*.py"))[-1]

    assert f"The latest core revision is **`{latest}`**" in PAGE.read_text()


def test_internal_columns_are_marked_so(generator):
    [row] = [row for row in generator.table_section("users").splitlines() if row.startswith("| `password_hash` |")]

    assert row.endswith("| *internal* |")


def test_check_reports_drift(generator, tmp_path, monkeypatch):
    stale = tmp_path / "schema.md"
    stale.write_text(generator.render().replace("| `rating` |", "| `stars` |"))
    monkeypatch.setattr(generator, "DOCS", stale)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["gen-schema-docs", "--check"])

    assert generator.main() == 1
