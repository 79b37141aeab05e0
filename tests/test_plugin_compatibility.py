"""Compatibility: a plugin's distribution names the kpi-core versions it supports (Requires-Dist).

The host checks that requirement before importing the plugin; a plugin that
does not support the running kpi-core is reported (stage "compatibility") by
``kpi plugins``, ``GET /api/v1/plugins`` and the log, and not loaded.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.specifiers import SpecifierSet

import kpi_core
from kpi_core.cli import cli
from kpi_core.config import Settings, documented_settings
from kpi_core.plugins import PluginHost, kpi_core_requirement, load_plugins
from kpi_core.testing.fixtures import TEST_SECRET

SOURCE = """
    from kpi_core import hookimpl
    from kpi_core.declarations import FormField

    @hookimpl
    def kpi_form_fields():
        return [FormField("{module}.tidiness", "Tidiness", "rating")]
"""
BUNDLED = (
    "kpi_quality",
    "kpi_timeliness",
    "reports_pdf",
    "reports_csv",
    "kpi_productivity",
    "import_presets",
    "notify_email",
    "notify_webhook",
)


class Site:
    """A folder on sys.path holding one-module plugin distributions with the Requires-Dist lines given."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.modules: list[str] = []

    def install(self, module: str, *requires: str) -> None:
        (self.path / f"{module}.py").write_text(textwrap.dedent(SOURCE.format(module=module)))
        dist_info = self.path / f"{module}-1.0.dist-info"
        dist_info.mkdir()
        lines = [f"Requires-Dist: {requirement}" for requirement in requires]
        name = module.replace("_", "-")
        (dist_info / "METADATA").write_text(
            "\n".join(["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *lines])
        )
        (dist_info / "entry_points.txt").write_text(f"[kpi_core.plugins]\n{module} = {module}\n")
        self.modules.append(module)
        importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    for name, _default, _doc in documented_settings():
        monkeypatch.delenv(name, raising=False)
    found = Site(tmp_path / "site-packages")
    found.path.mkdir()
    monkeypatch.syspath_prepend(str(found.path))
    yield found
    for module in found.modules:
        sys.modules.pop(module, None)


@pytest.fixture
def settings_without_database(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)


def host(settings: Settings) -> PluginHost:
    return load_plugins(settings)


def test_a_plugin_requiring_a_later_kpi_core_is_reported_and_not_imported(site, settings_without_database):
    site.install("acme_future", "kpi-core>=99.0")

    loaded = host(settings_without_database)

    assert "acme_future" not in loaded.plugins
    [problem] = [problem for problem in loaded.problems if problem.name == "acme_future"]
    assert problem.stage == "compatibility"
    assert problem.reason == f"requires kpi-core>=99.0 but this is kpi-core {kpi_core.__version__}"
    assert "acme_future" not in sys.modules
    assert "acme_future.tidiness" not in loaded.form_fields


def test_a_plugin_supporting_this_kpi_core_loads_and_lists_its_requirement(site, settings_without_database):
    site.install("acme_current", "kpi-core>=0.1,<99", "sqlalchemy>=2")

    loaded = host(settings_without_database)

    assert loaded.plugins["acme_current"].requires == str(SpecifierSet(">=0.1,<99"))
    assert "acme_current.tidiness" in loaded.form_fields


def test_a_plugin_naming_no_kpi_core_version_loads_as_supporting_any(site, settings_without_database):
    site.install("acme_any", "kpi-core")

    loaded = host(settings_without_database)

    assert loaded.plugins["acme_any"].requires == ""
    assert not [problem for problem in loaded.problems if problem.name == "acme_any"]


@pytest.mark.parametrize(
    ("requirements", "verdict"),
    [
        (["kpi-core>=0.1,<0.2"], None),
        (["KPI_Core>=0.2"], "requires kpi-core>=0.2"),
        (["kpi-core<0.1; python_version < '3'"], None),
        (["kpi-core>=9; extra == 'dev'"], None),
        (["other-package>=9"], None),
        (["kpi-core>=0.1", "kpi-core<0.1"], "requires kpi-core>=0.1,<0.1"),
    ],
    ids=["supported", "normalised-name", "marker-false", "extra-only", "unrelated", "contradictory"],
)
def test_only_requirements_on_kpi_core_that_apply_here_count(
    monkeypatch: pytest.MonkeyPatch, requirements: list[str], verdict: str | None
):
    monkeypatch.setattr(kpi_core, "__version__", "0.1.5")

    _, problem = kpi_core_requirement(requirements)

    assert problem is None if verdict is None else problem.startswith(verdict)


def test_kpi_plugins_names_the_incompatible_plugin_and_exits_1(site, tmp_path):
    site.install("acme_future", "kpi-core>=99.0")
    runner = CliRunner()

    listing = runner.invoke(cli, ["plugins", "--json"], env={"KPI_DATA_DIR": str(tmp_path / "data")})
    text = runner.invoke(cli, ["plugins"], env={"KPI_DATA_DIR": str(tmp_path / "data")})

    assert listing.exit_code == 1
    problems = json.loads(listing.stdout)["problems"]
    assert {"name": "acme_future", "stage": "compatibility", "reason": problems[0]["reason"]} in problems
    assert text.exit_code == 1
    assert "NOT LOADED acme_future [compatibility]: requires kpi-core>=99.0" in text.stderr


@pytest.fixture
def future_plugin(site: Site) -> str:
    site.install("acme_future", "kpi-core>=99.0")
    return "acme_future"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_lists_the_incompatible_plugin_among_the_problems(future_plugin, client, admin_headers):
    response = client.get("/api/v1/plugins", headers=admin_headers)

    assert response.status_code == 200
    assert {"name": future_plugin, "stage": "compatibility"} in [
        {"name": problem["name"], "stage": problem["stage"]} for problem in response.json["problems"]
    ]
    assert future_plugin not in {plugin["name"] for plugin in response.json["plugins"]}


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_plugin_declares_the_kpi_core_versions_it_supports(name: str, settings_without_database):
    loaded = host(settings_without_database)

    assert loaded.plugins[name].requires, f"{name}'s pyproject must name kpi-core with a version range"
