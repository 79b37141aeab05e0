"""The API describes itself: a valid OpenAPI 3.1 document, a self-hosted docs page, and the plugin list."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import User
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
SWAGGER_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "api-docs.js")


class BrokenPlugin:
    @hookimpl
    def kpi_widgets(self):
        raise RuntimeError("widget registry unavailable")


@pytest.fixture
def plugins(tmp_path: Path) -> PluginHost:
    settings = Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
    return load_plugins(settings, extra=[("broken", BrokenPlugin())])


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database: what is tested here does not depend on the database kind."""
    database = Database(sqlite_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str, database: Database, plugins: PluginHost) -> Flask:
    settings = Settings.from_env({}, data_dir=tmp_path / "data", database_url=sqlite_url, secret_key=TEST_SECRET)
    return create_app(settings, database=database, plugins=plugins)


@pytest.fixture
def manager_headers(app: Flask, database: Database) -> dict[str, str]:
    """An Authorization header of a manager, who may list plugins."""
    with database.session() as session:
        user = User(username="manager", password_hash="unused", role="manager")
        session.add(user)
        session.flush()
        token = app.extensions["kpi_core"].authenticator.issue_for(user).access_token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


class PageAssets(HTMLParser):
    """The scripts and stylesheets a page loads, and any inline script content."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.spec_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self._in_script = True
            if attributes.get("src"):
                self.urls.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])
        if attributes.get("data-spec-url"):
            self.spec_urls.append(attributes["data-spec-url"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


@pytest.fixture
def docs_page(client) -> PageAssets:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = PageAssets()
    page.feed(response.get_data(as_text=True))
    return page


def test_openapi_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_openapi_document_lists_the_plugins_endpoint(spec):
    assert "get" in spec["paths"]["/api/v1/plugins"]


def test_every_operation_has_an_operation_id(spec):
    missing = [f"{method} {path}" for method, path, operation in operations(spec) if not operation.get("operationId")]

    assert missing == []


def test_operation_ids_are_unique(spec):
    ids = [operation["operationId"] for _, _, operation in operations(spec)]

    assert len(ids) == len(set(ids))


def test_every_operation_has_a_summary(spec):
    missing = [f"{method} {path}" for method, path, operation in operations(spec) if not operation.get("summary")]

    assert missing == []


def test_every_operation_has_a_declared_tag(spec):
    declared = {tag["name"] for tag in spec.get("tags", [])}
    untagged = [
        f"{method} {path}"
        for method, path, operation in operations(spec)
        if not operation.get("tags") or not set(operation["tags"]) <= declared
    ]

    assert untagged == []


def test_docs_page_loads_only_local_assets(docs_page):
    remote = [url for url in docs_page.urls if url.startswith(("http://", "https://", "//"))]

    assert docs_page.urls
    assert remote == []


def test_docs_page_assets_are_served_from_under_api_docs(docs_page):
    # Self-contained under one prefix, so a proxy or the SPA's own /static cannot shadow them.
    assert [url for url in docs_page.urls if not url.startswith("/api/docs/")] == []


def test_docs_page_loads_swagger_ui_and_our_script(docs_page):
    names = {url.rsplit("/", 1)[-1] for url in docs_page.urls}

    assert set(SWAGGER_ASSETS) <= names


def test_docs_page_assets_are_served(client, docs_page):
    statuses = {url: client.get(url).status_code for url in docs_page.urls}

    assert statuses == dict.fromkeys(docs_page.urls, 200)


def test_docs_page_has_no_inline_script(docs_page):
    assert docs_page.inline_scripts == []


def test_docs_page_points_swagger_ui_at_the_served_document(client, docs_page):
    assert docs_page.spec_urls == ["/api/openapi.json"]
    assert client.get(docs_page.spec_urls[0]).is_json


@pytest.fixture
def listing(client, manager_headers) -> dict:
    response = client.get("/api/v1/plugins", headers=manager_headers)
    assert response.status_code == 200, response.json
    return response.json


def test_plugins_endpoint_lists_every_loaded_plugin_as_the_host_does(listing, plugins):
    assert listing["plugins"] == [asdict(info) for info in plugins.plugins.values()]


def test_plugins_endpoint_lists_every_problem_as_the_host_does(listing, plugins):
    assert listing["problems"] == [asdict(problem) for problem in plugins.problems]
    assert [problem["name"] for problem in listing["problems"]] == ["broken"]
    assert "widget registry unavailable" in listing["problems"][0]["reason"]


def test_plugins_endpoint_shows_what_the_core_contributes(listing):
    core = next(plugin for plugin in listing["plugins"] if plugin["name"] == "core")

    assert core["builtin"] is True
    assert "core.refresh_statistics" in core["contributes"]["kpi_jobs"]


def _unbounded_integers(schema: dict, spec: dict, where: str, seen: set[str]) -> list[str]:
    """Integer fields a client may send with no upper bound: such a number reaches the database
    driver, which cannot bind past 64 bits (an OverflowError, a 500)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        schema = spec["components"]["schemas"][name]
    found = []
    types = schema.get("type")
    is_integer = types == "integer" or (isinstance(types, list) and "integer" in types)
    bounded = "maximum" in schema or "exclusiveMaximum" in schema
    if is_integer and not schema.get("readOnly") and not bounded:
        found.append(where)
    for name, child in schema.get("properties", {}).items():
        if not child.get("readOnly"):
            found += _unbounded_integers(child, spec, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += _unbounded_integers(schema["items"], spec, f"{where}[]", seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key, []):
            found += _unbounded_integers(child, spec, where, seen)
    return found


def test_every_integer_a_client_sends_has_an_upper_bound(spec):
    unbounded = []
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            # flask-smorest's page has no maximum; SQLPage.window stops its OFFSET at MAX_ID instead.
            if parameter.get("in") == "query" and parameter["name"] != "page":
                where = f"{method} {path} ?{parameter['name']}"
                unbounded += _unbounded_integers(parameter.get("schema", {}), spec, where, set())
        for media in operation.get("requestBody", {}).get("content", {}).values():
            unbounded += _unbounded_integers(media.get("schema", {}), spec, f"{method} {path} body", set())

    assert unbounded == [], "\n".join(unbounded)
