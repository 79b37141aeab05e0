"""docs/permissions.md lists the permissions plugins declare (scripts/gen-permissions-docs, issue #22)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen-permissions-docs"
FIXTURE_PROJECT = Path(__file__).parent / "fixtures" / "thirdparty_plugin"


def test_the_plugin_permissions_section_matches_the_installed_plugins():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_third_party_plugins_permission_is_listed_with_its_default_roles(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    site = tmp_path_factory.mktemp("permissions-docs-site")
    command = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "--quiet"]
    installed = subprocess.run(
        [*command, "--target", str(site), str(FIXTURE_PROJECT)], capture_output=True, check=False
    )
    assert installed.returncode == 0, installed.stderr
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    loader = SourceFileLoader("gen_permissions_docs", str(SCRIPT))
    generator = module_from_spec(spec_from_loader("gen_permissions_docs", loader))
    loader.exec_module(generator)

    rows = generator.section().splitlines()

    assert (
        "| `fixture.cancel_jobs` | fixture_cancellations | Mark jobs cancelled (managers: their teams' jobs) "
        "| yes | yes | no |"
    ) in rows
