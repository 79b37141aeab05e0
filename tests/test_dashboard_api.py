"""/api/v1/dashboard: the widgets of every plugin (a third party's custom widget included) and each
user's layout of them; and the single-page app served at / and its client-side routes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.models import DashboardLayout, Technician
from kpi_core.web.app import create_app
from kpi_core.web.spa import CONFIG_KEY

URL = "/api/v1/dashboard"
FIXTURE_PACKAGE = Path(__file__).parent / "fixtures" / "thirdparty_plugin" / "kpi_fixture_cancellations"


def thirdparty_plugin() -> ModuleType:
    """The third-party fixture plugin, imported from its source folder (as its entry point would)."""
    name = FIXTURE_PACKAGE.name
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, FIXTURE_PACKAGE / "__init__.py", submodule_search_locations=[str(FIXTURE_PACKAGE)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    plugins = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin())])
    return create_app(settings, database=database, plugins=plugins)


@pytest.fixture
def technician_ref(database: Database) -> str:
    with database.session() as session:
        session.add(Technician(external_ref="T-1", name="Tess Tech"))
    return "T-1"


@pytest.fixture
def manager(make_user, login) -> dict[str, str]:
    make_user("manager", username="manager")
    return login("manager")


def dashboard(client, headers) -> tuple[dict, str]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.json
    return response.json, response.headers["ETag"]


def put_layout(client, headers, layout, etag):
    return client.put(f"{URL}/layout", json={"layout": layout}, headers={**headers, "If-Match": etag})


def test_lists_every_plugins_widgets_with_the_plugin_name(client, manager):
    body, _etag = dashboard(client, manager)
    by_key = {widget["key"]: widget for widget in body["widgets"]}
    assert by_key["quality.ftf_card"]["plugin"] == "kpi_quality"
    assert by_key["timeliness.on_time_heatmap"]["plugin"] == "kpi_timeliness"
    assert by_key["quality.leaderboard"]["metrics"] == ["quality.first_time_fix_rate", "quality.avg_customer_rating"]
    custom = by_key["fixture.cancellations"]
    assert custom["plugin"] == "fixture_cancellations"
    assert (custom["type"], custom["element"]) == ("custom", "fixture-widget")
    assert custom["module_url"] == "/plugins/fixture_cancellations/static/widget.js"


def test_default_layout_shows_every_widget_cards_first(client, manager):
    body, _etag = dashboard(client, manager)
    assert body["customized"] is False
    keys = [item["widget"] for item in body["layout"]]
    assert sorted(keys) == sorted(widget["key"] for widget in body["widgets"])
    types = {widget["key"]: widget["type"] for widget in body["widgets"]}
    assert [types[key] for key in keys[:3]] == ["kpi_card"] * 3
    assert types[keys[-1]] == "heatmap"


def test_saved_layout_is_kept_per_user(client, manager, make_user, login, technician_ref):
    _body, etag = dashboard(client, manager)
    layout = [{"widget": "quality.leaderboard", "size": "full"}, {"widget": "fixture.cancellations"}]
    response = put_layout(client, manager, layout, etag)
    assert response.status_code == 200, response.json
    expected = [{"widget": "quality.leaderboard", "size": "full"}, {"widget": "fixture.cancellations", "size": "small"}]
    assert response.json["layout"] == expected
    body, _etag = dashboard(client, manager)
    assert (body["layout"], body["customized"]) == (expected, True)

    make_user("technician", username="tech", technician_ref=technician_ref)
    other, _etag = dashboard(client, login("tech"))
    assert other["customized"] is False
    assert len(other["layout"]) == len(other["widgets"])


def test_unknown_widget_is_named_by_its_position(client, manager, database):
    _body, etag = dashboard(client, manager)
    layout = [{"widget": "quality.ftf_card"}, {"widget": "quality.rating_card"}, {"widget": "nope.widget"}]
    response = put_layout(client, manager, layout, etag)
    assert response.status_code == 422, response.json
    assert "nope.widget" in response.json["errors"]["json"]["layout[2].widget"][0]
    with database.session() as session:
        assert session.query(DashboardLayout).count() == 0


def test_a_widget_appears_once(client, manager):
    _body, etag = dashboard(client, manager)
    response = put_layout(client, manager, [{"widget": "quality.ftf_card"}, {"widget": "quality.ftf_card"}], etag)
    assert response.status_code == 422
    assert "layout[1].widget" in response.json["errors"]["json"]


def test_bad_size_and_unknown_fields_are_rejected(client, manager):
    _body, etag = dashboard(client, manager)
    response = put_layout(client, manager, [{"widget": "quality.ftf_card", "size": "huge"}], etag)
    assert response.status_code == 422
    assert "size" in response.json["errors"]["json"]["layout"]["0"]
    response = put_layout(client, manager, [{"widget": "quality.ftf_card", "colour": "red"}], etag)
    assert response.status_code == 422


def test_changing_the_layout_needs_the_current_etag(client, manager):
    _body, etag = dashboard(client, manager)
    response = client.put(f"{URL}/layout", json={"layout": []}, headers=manager)
    assert response.status_code == 428
    assert put_layout(client, manager, [], etag).status_code == 200
    assert put_layout(client, manager, [{"widget": "quality.ftf_card"}], etag).status_code == 412


def test_reset_brings_back_the_default(client, manager):
    _body, etag = dashboard(client, manager)
    response = put_layout(client, manager, [], etag)
    assert response.json["layout"] == []
    response = client.delete(f"{URL}/layout", headers={**manager, "If-Match": response.headers["ETag"]})
    assert response.status_code == 200, response.json
    assert response.json["customized"] is False
    assert len(response.json["layout"]) == len(response.json["widgets"])


def test_widgets_of_a_removed_plugin_drop_out_of_saved_layouts(client, manager, make_user, database):
    _body, etag = dashboard(client, manager)
    put_layout(client, manager, [{"widget": "quality.ftf_card"}, {"widget": "fixture.cancellations"}], etag)
    with database.session() as session:
        stored = session.query(DashboardLayout).one()
        stored.widgets = [*stored.widgets, {"widget": "gone.widget", "size": "small"}]
    body, _etag = dashboard(client, manager)
    assert [item["widget"] for item in body["layout"]] == ["quality.ftf_card", "fixture.cancellations"]


def test_every_role_has_a_dashboard_and_anonymous_users_none(client, make_user, login, technician_ref):
    for role in ("admin", "manager", "technician"):
        make_user(role, username=f"a_{role}", technician_ref=technician_ref if role == "technician" else None)
        assert client.get(URL, headers=login(f"a_{role}")).status_code == 200
    assert client.get(URL).status_code == 401


# --- the single-page app ------------------------------------------------------------------


@pytest.fixture
def built(app: Flask, tmp_path: Path) -> Path:
    """A stand-in build: index.html and one hashed asset."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script type="module" src="/assets/app-1a2b3c.js"></script>')
    (dist / "assets" / "app-1a2b3c.js").write_text("console.log('app')")
    app.config[CONFIG_KEY] = str(dist)
    return dist


@pytest.mark.parametrize("path", ["/", "/login", "/dashboard", "/technicians/7", "/admin/users", "/jobs"])
def test_index_answers_every_client_route_uncached(client, built, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"/assets/app-1a2b3c.js" in response.data
    assert response.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_hashed_assets_are_cached_for_a_year_as_javascript(client, built):
    response = client.get("/assets/app-1a2b3c.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/assets/missing-123.js").status_code == 404


def test_api_paths_are_never_the_app(client, built):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/jobs/", "/no-such-page", "/dashboard/", "/reportsx"])
def test_an_unknown_page_opened_in_a_browser_is_the_app_with_404(client, built, path):
    # The app then shows its own "Page not found", in its words, instead of raw JSON.
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert b"/assets/app-1a2b3c.js" in response.data
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/jobs/", "/assets/missing-1.js", "/metrics/x"])
def test_machine_paths_keep_the_json_404_even_from_a_browser(client, built, path):
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.is_json


def test_an_unknown_page_asked_for_json_stays_json(client, built):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.is_json


def test_without_a_build_the_home_page_says_how_to_build(client, app, tmp_path):
    app.config[CONFIG_KEY] = str(tmp_path / "nothing-here")
    response = client.get("/dashboard")
    assert response.status_code == 503
    assert b"npm ci &amp;&amp; npm run build" in response.data
    assert b"/api/docs" in response.data


def test_plugin_widget_modules_are_served_as_javascript(client):
    response = client.get("/plugins/fixture_cancellations/static/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert b"customElements.define" in response.data


def test_a_third_party_kpis_empty_hint_is_listed_with_its_definition(client, manager):
    """The dashboard says what a KPI without a value needs in the words its plugin declared."""
    listed = {kpi["key"]: kpi for kpi in client.get("/api/v1/kpis", headers=manager).json}
    assert listed["fixture.cancellation_rate"]["empty_hint"] == (
        "No booked jobs yet: cancellations are counted from the jobs you import."
    )
    assert listed["timeliness.on_time_arrival_rate"]["empty_hint"] == ""
