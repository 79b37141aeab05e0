"""`kpi plugins new`: a ready plugin package that installs with one command and passes its own tests.

The slow test installs each scaffolded package into a fresh virtual
environment, offline: the environment sees this checkout's kpi-core and its
locked dependencies through a .pth file (the dev environment's site-packages),
so ``pip install --no-index`` resolves the plugin's ``kpi-core`` requirement
against the kpi-core of this checkout and never reaches the network. Its
tests then run there, unchanged, on SQLite and on the session's PostgreSQL.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kpi_core
from kpi_core.cli import cli
from kpi_core.config import documented_settings
from kpi_core.scaffold import KINDS, ScaffoldError, create_plugin
from kpi_core.testing.postgres import Databases


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# --- what it writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_package_has_an_entry_point_a_kpi_core_range_a_module_tests_and_a_readme(tmp_path: Path, kind: str):
    target = create_plugin("acme-tidy", kind, tmp_path)

    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    assert project["name"] == "acme-tidy"
    assert project["entry-points"]["kpi_core.plugins"] == {"acme_tidy": "acme_tidy"}
    major, minor = kpi_core.__version__.split(".")[:2]
    assert project["dependencies"][0] == f"kpi-core>={major}.{minor},<{major}.{int(minor) + 1}"
    for path in ("acme_tidy/__init__.py", "tests/conftest.py", "tests/test_plugin.py", "README.md"):
        text = (target / path).read_text()
        assert text.strip() and "{{" not in text and "{%" not in text, path
    compile((target / "acme_tidy" / "__init__.py").read_text(), "acme_tidy/__init__.py", "exec")


def test_kinds_combine_into_one_package_with_a_module_and_tests_for_each(tmp_path: Path):
    target = create_plugin("acme-all", "kpi,job,widget", tmp_path)

    for path in ("kpi.py", "job.py", "widget.py", "static/widget.js"):
        assert (target / "acme_all" / path).is_file(), path
    assert sorted(p.name for p in (target / "tests").glob("test_*.py")) == [
        "test_job.py",
        "test_kpi.py",
        "test_widget.py",
        "test_widget_in_browser.py",
    ]
    package = (target / "acme_all" / "__init__.py").read_text()
    compile(package, "acme_all/__init__.py", "exec")
    assert "return [*kpi.kpi_metrics(), *widget.kpi_metrics()]" in package
    assert "widget.kpi_startup(app)" in package
    assert "from acme_all.job import" in (target / "tests" / "test_job.py").read_text()
    assert "`acme_all.count_open_jobs`" in (target / "README.md").read_text()


def _imported_top_level_modules(path: Path) -> set[str]:
    """The top-level modules a Python file imports absolutely (``from . import x`` is its own package)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("kind", [*KINDS, "kpi,job,widget"])
def test_the_pyproject_declares_every_distribution_the_code_imports_and_no_other(tmp_path: Path, kind: str):
    target = create_plugin("acme-deps", kind, tmp_path)
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}
    for_tests = {canonicalize_name(Requirement(text).name) for text in project["optional-dependencies"]["test"]}
    providers = importlib.metadata.packages_distributions()
    providers.setdefault("kpi_core", ["kpi-core"])  # this checkout's editable install lists no top-level modules

    used: set[str] = set()
    for path in target.rglob("*.py"):
        in_tests = path.relative_to(target).parts[0] == "tests"
        for module in _imported_top_level_modules(path) - set(sys.stdlib_module_names) - {"acme_deps"}:
            distributions = {canonicalize_name(name) for name in providers.get(module, [])}
            allowed = declared | for_tests if in_tests else declared
            assert distributions & allowed, f"{path.name} imports {module} ({distributions}), not declared"
            used |= distributions
    # pytest runs the tests without every one importing it; kpi-core's browser fixtures, where
    # conftest.py enables them, drive Chromium with Playwright, which kpi-core itself does not require.
    used.add("pytest")
    if "kpi_core.testing.browser" in (target / "tests" / "conftest.py").read_text():
        used.add("playwright")
    assert declared | for_tests <= used, "declared but never imported"
    assert "kpi-core" in declared


def test_an_unknown_kind_among_several_is_refused(tmp_path: Path):
    with pytest.raises(ScaffoldError, match="--kind must be one of"):
        create_plugin("acme-all", "kpi,chart", tmp_path)


def test_kpi_plugins_new_writes_the_package_where_asked(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plugins", "new", "acme-reports", "--kind", "report", "--directory", tmp_path])

    assert result.exit_code == 0, result.output
    assert f"Created {tmp_path / 'acme-reports'}" in result.output
    assert "ReportFormat(" in (tmp_path / "acme-reports" / "acme_reports" / "__init__.py").read_text()


@pytest.mark.parametrize(
    ("name", "message"),
    [("Acme", "lower-case"), ("acme tidy", "lower-case"), ("1acme", "lower-case"), ("click", "already installed")],
)
def test_kpi_plugins_new_refuses_a_bad_name_with_a_usage_error(tmp_path: Path, name: str, message: str):
    result = CliRunner().invoke(cli, ["plugins", "new", name, "--directory", tmp_path])

    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.iterdir())


def test_it_never_writes_into_a_folder_that_has_files(tmp_path: Path):
    (tmp_path / "acme-tidy").mkdir()
    (tmp_path / "acme-tidy" / "notes.txt").write_text("mine")

    with pytest.raises(ScaffoldError, match="not empty"):
        create_plugin("acme-tidy", "kpi", tmp_path)


def test_plugins_without_a_subcommand_still_lists_the_plugins(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plugins", "--json"], env={"KPI_DATA_DIR": str(tmp_path)})

    assert '"kpi_quality"' in result.output


# --- installed in a fresh environment ---------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment that sees this checkout's kpi-core and dependencies, nothing installed in it."""
    venv = tmp_path_factory.mktemp("venv")
    created = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv).stdout.strip()
    # addsitedir, not a bare path: the dev site's own .pth files (editable kpi-core and plugins) must apply too.
    dev_site = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "kpi_dev_environment.pth").write_text(f"import site; site.addsitedir({dev_site!r})\n")
    return python


@pytest.fixture(scope="module")
def child_env(postgres_databases: Databases) -> dict[str, str]:
    """The environment of the scaffolded tests: no KPI_* settings, the session's PostgreSQL, no cwd on sys.path."""
    ours = {name for name, _default, _doc in documented_settings()}
    env = {name: value for name, value in os.environ.items() if name not in ours and name != "PYTHONPATH"}
    env["KPI_TEST_POSTGRES_URL"] = postgres_databases.admin_url.render_as_string(hide_password=False)
    env["PYTHONSAFEPATH"] = "1"
    return env


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("kind", [*KINDS, "kpi,job,widget"])
def test_the_scaffolded_plugin_installs_with_one_command_and_passes_its_own_tests(
    fresh_venv: Path, child_env: dict[str, str], tmp_path: Path, kind: str
):
    name = f"scaffolded-{kind.replace(',', '-')}"
    target = create_plugin(name, kind, tmp_path)
    pip = (fresh_venv, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-cache-dir", "--quiet")

    installed = run(*pip, "--disable-pip-version-check", ".[test]", cwd=target, env=child_env)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    tests = run(fresh_venv, "-m", "pytest", "-q", cwd=target, env=child_env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout

    listed = run(fresh_venv, "-m", "kpi_core.cli", "plugins", "--json", cwd=tmp_path, env=child_env)
    assert f'"name": "{name.replace("-", "_")}"' in listed.stdout, listed.stdout + listed.stderr
