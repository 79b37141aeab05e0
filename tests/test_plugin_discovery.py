"""Discovery of plugins at start-up, and what happens when one of them is broken.

Plugins come from the entry-point group ``kpi_core.plugins``; the host's own
features (``kpi_core.builtin``, plugin "core") go through the same hooks. A
plugin that fails to import, declares something malformed, raises in a hook or
takes a key another plugin has is reported by name and reason (PluginHost,
log, ``kpi plugins``, ``GET /api/v1/plugins``), leaves no trace, and the rest
start. Most tests add small inline plugins through ``load_plugins(extra=...)``;
the command line and the third-party test install real distributions.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import kpi_core
import kpi_core.builtin
from kpi_core import hookimpl
from kpi_core.accounts.users import NewUser, create_user
from kpi_core.cli import cli
from kpi_core.config import Settings, documented_settings
from kpi_core.declarations import FormField, Metric, Widget
from kpi_core.errors import PluginLoadError
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.testing.fixtures import TEST_PASSWORD
from kpi_core.web.app import create_app

SECRET = "discovery-test-secret-key-long-enough-for-hs256"
FIXTURE_PROJECT = Path(__file__).parent / "fixtures" / "thirdparty_plugin"
WORKSPACE_PLUGINS = {"kpi_quality": "kpi-quality", "kpi_timeliness": "kpi-timeliness"}


@pytest.fixture(autouse=True)
def no_kpi_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _default, _doc in documented_settings():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings without a database (plugins are loaded without one)."""

    def make(**overrides: Any) -> Settings:
        return Settings.from_env({}, **({"data_dir": tmp_path / "data", "secret_key": SECRET} | overrides))

    return make


@pytest.fixture
def host(make_settings: Callable[..., Settings]) -> PluginHost:
    return load_plugins(make_settings())


@dataclass
class Api:
    """A test client of an app, with an admin's Authorization header."""

    client: FlaskClient
    headers: dict[str, str]

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, headers=self.headers)


@pytest.fixture
def api_for(make_settings: Callable[..., Settings], sqlite_url: str) -> Iterator[Callable[[PluginHost], Api]]:
    """Builds the app around a plugin host, on a migrated SQLite database, and logs an admin in."""
    database = Database(sqlite_url)
    upgrade(database.engine)

    def build(plugins: PluginHost) -> Api:
        app = create_app(make_settings(database_url=sqlite_url), plugins=plugins, database=database)
        with database.session() as session:
            create_user(session, NewUser(username="admin", password=TEST_PASSWORD, role="admin"))
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": TEST_PASSWORD})
        assert login.status_code == 200, login.json
        return Api(client, {"Authorization": f"Bearer {login.json['access_token']}"})

    yield build
    database.dispose()


# --- inline plugins --------------------------------------------------------------------------


def _jobs_id(ctx: Any) -> Any:
    return ctx.tables["jobs"].c.id


def sample_metric(key: str) -> Metric:
    return Metric(
        key=key,
        label="Sample",
        description="A sample KPI.",
        formula="jobs / jobs",
        unit="ratio",
        direction="higher",
        kind="rate",
        numerator=_jobs_id,
        denominator=_jobs_id,
        period_column=_jobs_id,
    )


class QuoteKpis:
    """A well-behaved plugin: one KPI and a card for it."""

    @hookimpl
    def kpi_metrics(self) -> list[Metric]:
        return [sample_metric("quotes.win_rate")]

    @hookimpl
    def kpi_widgets(self) -> list[Widget]:
        return [Widget("quotes.win_card", "Quotes won", "kpi_card", metrics=("quotes.win_rate",))]


class ReturnsDicts:
    """Returns plain dicts where the contract asks for Metric objects."""

    @hookimpl
    def kpi_metrics(self) -> list[Any]:
        return [{"key": "dicts.rate", "label": "Rate"}]

    @hookimpl
    def kpi_form_fields(self) -> list[FormField]:
        return [FormField("dicts.tidiness", "Tidiness", "rating")]


class ReturnsOneMetric:
    """Returns a single Metric where the contract asks for a list."""

    @hookimpl
    def kpi_metrics(self) -> Metric:
        return sample_metric("single.rate")


class DeclaresMalformedWidget:
    """Its kpi_widgets builds a Widget of an unknown type: the Widget raises DeclarationError."""

    @hookimpl
    def kpi_metrics(self) -> list[Metric]:
        return [sample_metric("malformed.rate")]

    @hookimpl
    def kpi_widgets(self) -> list[Widget]:
        return [Widget("malformed.pie", "Pie", "pie", metrics=("malformed.rate",))]


class HookRaises:
    """Its kpi_form_fields fails at run time, after its kpi_metrics worked."""

    @hookimpl
    def kpi_metrics(self) -> list[Metric]:
        return [sample_metric("raising.rate")]

    @hookimpl
    def kpi_form_fields(self) -> list[FormField]:
        raise RuntimeError("licence server unreachable")


class TakesQualityKey:
    """Declares a KPI key that the quality plugin already has, beside one of its own."""

    @hookimpl
    def kpi_metrics(self) -> list[Metric]:
        return [sample_metric("copycat.rate"), sample_metric("quality.first_time_fix_rate")]


@dataclass(frozen=True)
class Failing:
    name: str
    plugin: object
    stage: str
    reason: str
    own_key: str  # the key of another of its declarations, which must not appear either


FAILING = [
    Failing("dicts", ReturnsDicts(), "declaration", "kpi_metrics() returned dict, expected Metric", "dicts.tidiness"),
    Failing("single", ReturnsOneMetric(), "declaration", "kpi_metrics() must return a list, got Metric", "single.rate"),
    Failing(
        "malformed", DeclaresMalformedWidget(), "declaration", "kpi_widgets() raised DeclarationError", "malformed.rate"
    ),
    Failing("raising", HookRaises(), "declaration", "RuntimeError: licence server unreachable", "raising.rate"),
    Failing(
        "copycat", TakesQualityKey(), "duplicate", "'quality.first_time_fix_rate' is already declared", "copycat.rate"
    ),
]


@pytest.fixture(params=FAILING, ids=lambda failing: failing.name)
def failing(request: pytest.FixtureRequest) -> Failing:
    return request.param


@pytest.fixture
def host_with_failing(make_settings: Callable[..., Settings], failing: Failing) -> PluginHost:
    """Installed plugins, a good inline plugin, and one failing plugin loaded between them."""
    return load_plugins(make_settings(), extra=[(failing.name, failing.plugin), ("quotes", QuoteKpis())])


# --- discovery -------------------------------------------------------------------------------


def test_the_builtin_core_plugin_goes_through_the_same_hooks(host: PluginHost):
    core = host.plugins["core"]
    assert (core.builtin, core.version, core.module) == (True, kpi_core.__version__, "kpi_core.builtin")
    assert host.pm.get_plugin("core") is kpi_core.builtin
    assert host.owner_of("kpi_jobs", "core.refresh_statistics") == "core"
    assert "core.refresh_statistics" in core.contributes["kpi_jobs"]


@pytest.mark.parametrize(("name", "distribution"), WORKSPACE_PLUGINS.items())
def test_installed_plugins_are_discovered_from_their_entry_points(host: PluginHost, name: str, distribution: str):
    info = host.plugins[name]
    assert (info.builtin, info.module, info.version) == (False, name, metadata.version(distribution))
    assert host.pm.get_plugin(name) is importlib.import_module(name)
    assert info.contributes["kpi_metrics"]


def test_each_declaration_is_owned_by_the_plugin_that_declared_it(host: PluginHost):
    assert host.owner_of("kpi_metrics", "quality.first_time_fix_rate") == "kpi_quality"
    assert host.owner_of("kpi_widgets", "timeliness.on_time_card") == "kpi_timeliness"


def test_a_clean_installation_loads_with_no_problems(host: PluginHost):
    assert host.problems == []


def test_an_inline_plugin_contributes_through_the_hooks(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(), extra=[("quotes", QuoteKpis())])
    assert host.plugins["quotes"].contributes == {
        "kpi_metrics": ["quotes.win_rate"],
        "kpi_widgets": ["quotes.win_card"],
    }
    assert host.metrics["quotes.win_rate"].label == "Sample"
    assert host.owner_of("kpi_widgets", "quotes.win_card") == "quotes"


# --- a failing plugin ------------------------------------------------------------------------


def test_a_failing_plugin_is_reported_by_name_stage_and_reason(host_with_failing: PluginHost, failing: Failing):
    [problem] = host_with_failing.problems
    assert (problem.name, problem.stage) == (failing.name, failing.stage)
    assert failing.reason in problem.reason


def test_a_failing_plugin_is_logged_as_an_error(
    make_settings: Callable[..., Settings], failing: Failing, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.ERROR, logger="kpi_core.plugins"):
        load_plugins(make_settings(), extra=[(failing.name, failing.plugin)])
    [record] = [record for record in caplog.records if record.name == "kpi_core.plugins"]
    assert record.levelno == logging.ERROR
    assert failing.name in record.getMessage()
    assert failing.reason in record.getMessage()


def test_the_other_plugins_load_beside_a_failing_one(host_with_failing: PluginHost):
    assert {"core", "kpi_quality", "kpi_timeliness", "quotes"} <= set(host_with_failing.plugins)
    assert "quotes.win_rate" in host_with_failing.metrics
    assert host_with_failing.owner_of("kpi_metrics", "quality.first_time_fix_rate") == "kpi_quality"


def test_a_failing_plugin_is_not_half_registered(host_with_failing: PluginHost, failing: Failing):
    assert failing.name not in host_with_failing.plugins
    assert host_with_failing.pm.get_plugin(failing.name) is None
    assert all(failing.own_key not in declared for declared in host_with_failing.declarations.values())
    assert all(owner != failing.name for owner in host_with_failing.owners.values())


def test_a_failing_plugin_is_listed_with_its_reason_by_the_plugins_api(
    host_with_failing: PluginHost, failing: Failing, api_for: Callable[[PluginHost], Api]
):
    listing = api_for(host_with_failing).get("/api/v1/plugins").json

    [problem] = listing["problems"]
    assert (problem["name"], problem["stage"]) == (failing.name, failing.stage)
    assert failing.reason in problem["reason"]
    assert failing.name not in {plugin["name"] for plugin in listing["plugins"]}
    assert "quotes" in {plugin["name"] for plugin in listing["plugins"]}


def test_readyz_names_a_failing_plugin_but_stays_ready(
    make_settings: Callable[..., Settings], api_for: Callable[[PluginHost], Api]
):
    response = api_for(load_plugins(make_settings(), extra=[("raising", HookRaises())])).get("/readyz")

    assert response.status_code == 200
    [problem] = response.json["checks"]["plugins"]["problems"]
    assert problem.startswith("raising: ") and "licence server unreachable" in problem


def test_the_first_plugin_to_declare_a_key_keeps_it(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(), extra=[("copycat", TakesQualityKey())])
    [problem] = host.problems
    assert "already declared by plugin 'kpi_quality'" in problem.reason
    assert host.owner_of("kpi_metrics", "quality.first_time_fix_rate") == "kpi_quality"


def test_two_inline_plugins_declaring_one_key_keep_the_first(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(), extra=[("quotes", QuoteKpis()), ("quotes_again", QuoteKpis())])
    [problem] = host.problems
    assert (problem.name, problem.stage) == ("quotes_again", "duplicate")
    assert "already declared by plugin 'quotes'" in problem.reason


def test_a_plugin_declaring_one_key_twice_is_rejected(make_settings: Callable[..., Settings]):
    class Twice:
        @hookimpl
        def kpi_metrics(self) -> list[Metric]:
            return [sample_metric("twice.rate"), sample_metric("twice.rate")]

    host = load_plugins(make_settings(), extra=[("twice", Twice())])

    [problem] = host.problems
    assert (problem.name, problem.stage) == ("twice", "duplicate")
    assert "'twice.rate' twice" in problem.reason
    assert "twice.rate" not in host.metrics


def test_a_hook_implementation_with_arguments_the_hook_lacks_is_rejected_at_registration(
    make_settings: Callable[..., Settings],
):
    class WantsSession:
        @hookimpl
        def kpi_metrics(self, session: Any) -> list[Metric]:
            return []

    host = load_plugins(make_settings(), extra=[("wants_session", WantsSession())])

    [problem] = host.problems
    assert (problem.name, problem.stage) == ("wants_session", "register")
    assert "session" in problem.reason
    assert host.pm.get_plugin("wants_session") is None


def test_a_declaration_error_raised_in_a_hook_is_reported_with_its_field(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(), extra=[("malformed", DeclaresMalformedWidget())])
    [problem] = host.problems
    assert "DeclarationError" in problem.reason and "type must be one of" in problem.reason


# --- kpi_startup -----------------------------------------------------------------------------


class StartupFails:
    """Declares a KPI, then fails to set itself up once the app exists."""

    @hookimpl
    def kpi_metrics(self) -> list[Metric]:
        return [sample_metric("startup.rate")]

    @hookimpl
    def kpi_startup(self, app: Any) -> None:
        raise RuntimeError("cannot open the vendor's certificate")


def test_a_plugin_whose_startup_raises_is_reported_and_withdrawn(
    make_settings: Callable[..., Settings], api_for: Callable[[PluginHost], Api]
):
    plugins = load_plugins(make_settings(), extra=[("startup", StartupFails())])

    api = api_for(plugins)

    [problem] = plugins.problems
    assert (problem.name, problem.stage) == ("startup", "startup")
    assert "RuntimeError: cannot open the vendor's certificate" in problem.reason
    assert "startup" not in plugins.plugins
    assert "startup.rate" not in plugins.metrics
    assert plugins.pm.get_plugin("startup") is None
    assert "startup" not in {plugin["name"] for plugin in api.get("/api/v1/plugins").json["plugins"]}


def test_strict_mode_makes_a_startup_failure_fatal(make_settings: Callable[..., Settings], sqlite_url: str):
    settings = make_settings(strict_plugins=True)
    plugins = load_plugins(settings, extra=[("startup", StartupFails())])
    with pytest.raises(PluginLoadError, match="startup: kpi_startup raised RuntimeError"):
        create_app(settings, plugins=plugins, database=Database(sqlite_url))


# --- KPI_DISABLED_PLUGINS and KPI_STRICT_PLUGINS -------------------------------------------


def test_disabled_plugins_are_not_loaded_and_declare_nothing(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(disabled_plugins=("kpi_quality", "kpi_timeliness")))
    assert not {"kpi_quality", "kpi_timeliness"} & set(host.plugins)
    assert not [key for key in host.metrics if key.startswith(("quality.", "timeliness."))]
    assert not [key for key in host.form_fields if key.startswith(("quality.", "timeliness."))]
    assert host.problems == []


def test_the_disabled_list_is_read_from_the_environment(tmp_path: Path):
    settings = Settings.from_env({"KPI_DISABLED_PLUGINS": "kpi_quality, quotes"}, data_dir=tmp_path, secret_key=SECRET)
    host = load_plugins(settings, extra=[("quotes", QuoteKpis())])
    assert not {"kpi_quality", "quotes"} & set(host.plugins)
    assert "kpi_timeliness" in host.plugins


def test_disabling_a_plugin_that_is_not_installed_is_a_config_problem(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(disabled_plugins=("kpi_qualty",)))
    [problem] = host.problems
    assert (problem.name, problem.stage) == ("kpi_qualty", "config")
    assert "not installed" in problem.reason
    assert "kpi_quality" in host.plugins


def test_the_builtin_core_cannot_be_disabled(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(disabled_plugins=("core",)))
    [problem] = host.problems
    assert (problem.name, problem.stage) == ("core", "config")
    assert "cannot be disabled" in problem.reason
    assert "core.refresh_statistics" in host.jobs


def test_strict_mode_makes_a_failing_plugin_fatal_naming_it(make_settings: Callable[..., Settings], failing: Failing):
    with pytest.raises(PluginLoadError, match="KPI_STRICT_PLUGINS") as raised:
        load_plugins(make_settings(strict_plugins=True), extra=[(failing.name, failing.plugin)])
    assert f"{failing.name}: " in str(raised.value)
    assert failing.reason in str(raised.value)


def test_strict_mode_makes_a_config_problem_fatal(make_settings: Callable[..., Settings]):
    with pytest.raises(PluginLoadError, match="kpi_qualty"):
        load_plugins(make_settings(strict_plugins=True, disabled_plugins=("kpi_qualty",)))


def test_strict_mode_loads_a_healthy_installation(make_settings: Callable[..., Settings]):
    host = load_plugins(make_settings(strict_plugins=True), extra=[("quotes", QuoteKpis())])
    assert "quotes" in host.plugins


# --- installed distributions and `kpi plugins` ---------------------------------------------


@dataclass
class SitePackages:
    """A folder on sys.path where a test installs one-module distributions, laid out as pip does."""

    path: Path
    modules: list[str] = field(default_factory=list)

    def install(self, module: str, source: str, *, plugin: str | None = None, version: str = "1.0") -> None:
        (self.path / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = self.path / f"{module}-{version}.dist-info"
        dist_info.mkdir()
        name = module.replace("_", "-")
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (dist_info / "entry_points.txt").write_text(f"[kpi_core.plugins]\n{plugin or module} = {module}\n")
        self.modules.append(module)
        importlib.invalidate_caches()


@pytest.fixture
def site_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SitePackages]:
    site = SitePackages(tmp_path / "site-packages")
    site.path.mkdir()
    monkeypatch.syspath_prepend(str(site.path))
    yield site
    for module in site.modules:
        sys.modules.pop(module, None)


GOOD_SOURCE = """
    from kpi_core import hookimpl
    from kpi_core.declarations import FormField

    @hookimpl
    def kpi_form_fields():
        return [FormField("acme.tidiness", "Tidiness", "rating")]
"""

BROKEN_SOURCES = {
    "raises_on_import": (
        "import acme_sdk_not_installed\n",
        "ModuleNotFoundError: No module named 'acme_sdk_not_installed'",
    ),
    "returns_dicts": (
        """
        from kpi_core import hookimpl

        @hookimpl
        def kpi_metrics():
            return [{"key": "acme.rate"}]
        """,
        "kpi_metrics() returned dict, expected Metric",
    ),
    "raises_declaration_error": (
        """
        from kpi_core import hookimpl
        from kpi_core.declarations import FormField

        @hookimpl
        def kpi_form_fields():
            return [FormField("acme.notes", "Notes", "text")]
        """,
        "text fields cannot be scored",
    ),
    "hook_raises": (
        """
        from kpi_core import hookimpl

        @hookimpl
        def kpi_jobs():
            raise KeyError("ACME_TOKEN")
        """,
        "kpi_jobs() raised KeyError: 'ACME_TOKEN'",
    ),
    "duplicate_key": (
        """
        from kpi_core import hookimpl
        from kpi_core.declarations import FormField

        @hookimpl
        def kpi_form_fields():
            return [FormField("core.overall_comment", "Comment", "text", weight=0)]
        """,
        "'core.overall_comment' is already declared by plugin 'core'",
    ),
}


@pytest.fixture(params=sorted(BROKEN_SOURCES))
def broken_distribution(request: pytest.FixtureRequest, site_packages: SitePackages) -> tuple[str, str]:
    """Installs a good plugin (acme_good) and one broken one; returns (broken plugin name, reason)."""
    source, reason = BROKEN_SOURCES[request.param]
    site_packages.install("acme_good", GOOD_SOURCE)
    site_packages.install(f"acme_{request.param}", source)
    return f"acme_{request.param}", reason


def invoke(*args: str, env: dict[str, str] | None = None, tmp_path: Path) -> Any:
    return CliRunner().invoke(cli, list(args), env={"KPI_DATA_DIR": str(tmp_path / "data"), **(env or {})})


def test_kpi_plugins_names_a_broken_plugin_and_why_and_exits_1(broken_distribution: tuple[str, str], tmp_path: Path):
    name, reason = broken_distribution

    result = invoke("plugins", tmp_path=tmp_path)

    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("NOT LOADED")]
    assert line.startswith(f"NOT LOADED {name} [")
    assert reason in line
    assert "acme_good 1.0" in result.stdout
    assert "  kpi_form_fields: acme.tidiness" in result.stdout
    assert "Traceback" not in result.output


def test_kpi_plugins_json_lists_a_broken_plugin_beside_the_loaded_ones(
    broken_distribution: tuple[str, str], tmp_path: Path
):
    name, reason = broken_distribution

    result = invoke("plugins", "--json", tmp_path=tmp_path)

    listing = json.loads(result.stdout)
    [problem] = listing["problems"]
    assert problem["name"] == name and reason in problem["reason"]
    loaded = {plugin["name"]: plugin for plugin in listing["plugins"]}
    assert name not in loaded
    assert loaded["acme_good"]["contributes"] == {"kpi_form_fields": ["acme.tidiness"]}
    assert {"core", "kpi_quality"} <= set(loaded)


def test_kpi_plugins_json_exits_1_when_a_plugin_failed_like_the_text_listing(
    site_packages: SitePackages, tmp_path: Path
):
    # Scripts check the exit status whatever the output format.
    site_packages.install("acme_raises_on_import", BROKEN_SOURCES["raises_on_import"][0])
    assert invoke("plugins", "--json", tmp_path=tmp_path).exit_code == 1


def test_kpi_plugins_in_strict_mode_fails_in_one_line_without_a_traceback(
    broken_distribution: tuple[str, str], tmp_path: Path
):
    name, reason = broken_distribution

    result = invoke("plugins", env={"KPI_STRICT_PLUGINS": "1"}, tmp_path=tmp_path)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: KPI_STRICT_PLUGINS is on")
    assert f"{name}: " in line and reason in line


def test_kpi_disabled_plugins_hides_a_plugin_from_kpi_plugins(site_packages: SitePackages, tmp_path: Path):
    site_packages.install("acme_good", GOOD_SOURCE)

    result = invoke("plugins", "--json", env={"KPI_DISABLED_PLUGINS": "acme_good,kpi_quality"}, tmp_path=tmp_path)

    names = {plugin["name"] for plugin in json.loads(result.stdout)["plugins"]}
    assert not {"acme_good", "kpi_quality"} & names
    assert {"core", "kpi_timeliness"} <= names


def test_two_distributions_registering_one_plugin_name_load_one_and_report_the_other(
    site_packages: SitePackages, make_settings: Callable[..., Settings]
):
    site_packages.install("acme_first", GOOD_SOURCE, plugin="acme", version="1.0")
    site_packages.install("acme_second", GOOD_SOURCE, plugin="acme", version="2.0")

    host = load_plugins(make_settings())

    [problem] = host.problems
    assert (problem.name, problem.stage) == ("acme", "duplicate")
    assert "acme-first" in problem.reason and "acme-second" in problem.reason
    assert host.plugins["acme"].version in {"1.0", "2.0"}
    assert host.form_fields["acme.tidiness"]


# --- a real third-party distribution, built and installed by pip ----------------------------


def pip_install(project: Path, target: Path) -> Path:
    """Build ``project`` into a wheel and install it into ``target``, offline, as an integrator would."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


@pytest.fixture(scope="session")
def fixture_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kpi-fixture-cancellations, installed from tests/fixtures/thirdparty_plugin."""
    return pip_install(FIXTURE_PROJECT, tmp_path_factory.mktemp("fixture-plugin-site"))


@pytest.fixture(scope="session")
def broken_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kpi-fixture-broken, whose import fails, installed from tests/fixtures/thirdparty_plugin/broken."""
    return pip_install(FIXTURE_PROJECT / "broken", tmp_path_factory.mktemp("broken-plugin-site"))


def kpi_env(tmp_path: Path, *sites: Path, **settings: str) -> dict[str, str]:
    """The environment of a `kpi` process: ours without KPI_* settings, plus ``sites`` and ``settings``."""
    ours = {name for name, _default, _doc in documented_settings()}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    env["PYTHONPATH"] = os.pathsep.join(str(site) for site in sites)
    env["KPI_DATA_DIR"] = str(tmp_path / "data")
    return env | settings


def kpi(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpi_core.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_an_installed_third_party_plugin_is_discovered_with_its_version_and_kpi(
    fixture_plugin_site: Path, tmp_path: Path
):
    result = kpi("plugins", "--json", env=kpi_env(tmp_path, fixture_plugin_site), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    plugin = {plugin["name"]: plugin for plugin in listing["plugins"]}["fixture_cancellations"]
    assert (plugin["version"], plugin["module"], plugin["builtin"]) == ("1.2.3", "kpi_fixture_cancellations", False)
    assert plugin["contributes"] == {
        "kpi_form_fields": ["fixture.cancellations_explained"],
        "kpi_import_presets": ["fixture.spreadsheet"],
        "kpi_job_fields": ["fixture.ppe_checked"],
        "kpi_jobs": ["fixture.import_cancellations"],
        "kpi_metrics": ["fixture.cancellation_rate", "fixture.ppe_checked_rate"],
        "kpi_permissions": ["fixture.cancel_jobs"],
        "kpi_routes": [
            "GET /api/v1/plugins/fixture_cancellations/ping",
            "GET /api/v1/plugins/fixture_cancellations/technicians",
            "POST /api/v1/plugins/fixture_cancellations/jobs/<string:external_ref>/cancel",
        ],
        "kpi_widgets": ["fixture.cancellations"],
    }
    assert listing["problems"] == []


@pytest.mark.slow
def test_an_installed_third_party_plugin_can_be_disabled_by_name(fixture_plugin_site: Path, tmp_path: Path):
    env = kpi_env(tmp_path, fixture_plugin_site, KPI_DISABLED_PLUGINS="fixture_cancellations")

    result = kpi("plugins", "--json", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert "fixture_cancellations" not in {plugin["name"] for plugin in listing["plugins"]}
    assert "fixture.cancellation_rate" not in result.stdout
    assert listing["problems"] == []


@pytest.mark.slow
def test_an_installed_plugin_that_fails_to_import_is_named_and_the_rest_are_listed(
    fixture_plugin_site: Path, broken_plugin_site: Path, tmp_path: Path
):
    result = kpi("plugins", env=kpi_env(tmp_path, fixture_plugin_site, broken_plugin_site), cwd=tmp_path)

    assert result.returncode == 1
    assert (
        "NOT LOADED fixture_broken [import]: ModuleNotFoundError: No module named 'kpi_fixture_missing_sdk'"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "fixture_cancellations 1.2.3 (kpi_fixture_cancellations)" in result.stdout
    assert "  kpi_metrics: fixture.cancellation_rate" in result.stdout
    assert "kpi_quality" in result.stdout


@pytest.mark.slow
def test_kpi_serve_in_strict_mode_refuses_to_start_with_a_broken_plugin(
    broken_plugin_site: Path, tmp_path: Path, sqlite_url: str
):
    database = Database(sqlite_url)
    upgrade(database.engine)
    database.dispose()
    env = kpi_env(
        tmp_path, broken_plugin_site, KPI_DATABASE_URL=sqlite_url, KPI_SECRET_KEY=SECRET, KPI_STRICT_PLUGINS="1"
    )

    result = kpi("serve", "--port", "1", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "KPI_STRICT_PLUGINS" in line
    assert "fixture_broken: ModuleNotFoundError: No module named 'kpi_fixture_missing_sdk'" in line


@pytest.mark.slow
def test_the_third_party_plugin_passes_its_own_tests_once_installed(fixture_plugin_site: Path, tmp_path: Path):
    env = kpi_env(tmp_path, fixture_plugin_site, PYTHONSAFEPATH="1")

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(FIXTURE_PROJECT)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # Every test the plugin ships ran (none skipped for want of the host).
    shipped = sum(path.read_text().count("\ndef test_") for path in (FIXTURE_PROJECT / "tests").glob("test_*.py"))
    assert f"{shipped} passed" in result.stdout
