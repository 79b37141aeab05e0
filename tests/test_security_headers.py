"""Security headers on API answers and HTML pages, HSTS only over HTTPS, and CORS only
for configured origins. None of these requests reaches the database."""

from __future__ import annotations

import pytest
from flask import Flask

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app

ALLOWED_ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
PAGES = {
    "home page": "/",
    "API docs page": "/api/docs",
    "OpenAPI document": "/api/openapi.json",
    "API answer": "/api/v1/auth/me",
    "API error": "/api/v1/no-such-thing",
    "health": "/healthz",
}


@pytest.fixture(scope="module")
def make_app(tmp_path_factory: pytest.TempPathFactory):
    """``make_app(**settings)``; the apps are shared by the module: these requests change nothing."""

    def make(**overrides) -> Flask:
        directory = tmp_path_factory.mktemp("app")
        url = f"sqlite:///{directory / 'kpi.sqlite3'}"
        settings = Settings.from_env(
            {}, data_dir=directory / "data", database_url=url, secret_key=TEST_SECRET, **overrides
        )
        return create_app(settings, database=Database(url), plugins=load_plugins(settings))

    return make


@pytest.fixture(scope="module")
def client(make_app):
    return make_app().test_client()


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_script_src_allows_no_inline_scripts(client, path):
    directives = csp_directives(client.get(path))
    scripts = directives.get("script-src", directives.get("default-src"))

    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_no_page_may_be_framed(client, path):
    assert csp_directives(client.get(path))["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_content_types_are_not_sniffed(client, path):
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_referrer_policy_is_set(client, path):
    assert client.get(path).headers["Referrer-Policy"] in {
        "no-referrer",
        "strict-origin-when-cross-origin",
        "same-origin",
    }


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_hsts_is_sent_over_https(client, path):
    hsts = client.get(path, base_url="https://localhost").headers["Strict-Transport-Security"]

    assert int(hsts.split("max-age=")[1].split(";")[0]) >= 180 * 86400


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_hsts_is_not_sent_over_plain_http(client, path):
    assert "Strict-Transport-Security" not in client.get(path).headers


def test_html_pages_are_html(client):
    assert client.get("/").mimetype == "text/html"
    assert client.get("/api/docs").mimetype == "text/html"


def test_docs_page_loads_no_script_from_another_origin(client):
    html = client.get("/api/docs").get_data(as_text=True)

    assert "https://" not in html and "http://" not in html


def test_api_answers_are_not_cached(client):
    assert client.get("/api/v1/auth/me").headers["Cache-Control"] == "no-store"


# --- CORS ------------------------------------------------------------------------------------


def test_no_cors_by_default_even_for_a_cross_origin_request(client):
    response = client.get("/api/openapi.json", headers={"Origin": OTHER_ORIGIN})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_cors_preflight_by_default(client):
    response = client.options(
        "/api/v1/auth/login", headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"}
    )

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture(scope="module")
def cors_client(make_app):
    return make_app(cors_origins=(ALLOWED_ORIGIN,)).test_client()


def test_a_configured_origin_is_allowed(cors_client):
    response = cors_client.get("/api/openapi.json", headers={"Origin": ALLOWED_ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_a_configured_origin_passes_the_preflight(cors_client):
    response = cors_client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )

    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_a_configured_origin_is_allowed_on_error_answers_too(cors_client):
    response = cors_client.get("/api/v1/auth/me", headers={"Origin": ALLOWED_ORIGIN})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_another_origin_is_not_allowed_when_one_is_configured(cors_client):
    response = cors_client.get("/api/openapi.json", headers={"Origin": OTHER_ORIGIN})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_another_origin_fails_the_preflight_when_one_is_configured(cors_client):
    response = cors_client.options(
        "/api/v1/auth/login", headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"}
    )

    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_never_allows_any_origin(cors_client):
    response = cors_client.get("/api/openapi.json", headers={"Origin": ALLOWED_ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] != "*"
    assert response.headers.get("Access-Control-Allow-Credentials") != "true"


def test_cors_applies_to_the_api_only(cors_client):
    response = cors_client.get("/", headers={"Origin": ALLOWED_ORIGIN})

    assert "Access-Control-Allow-Origin" not in response.headers


PREFLIGHT = {"Access-Control-Request-Method": "POST"}
ORIGIN_CASES = {
    "allowed origin": ("GET", "/api/openapi.json", {"Origin": ALLOWED_ORIGIN}),
    "allowed preflight": ("OPTIONS", "/api/v1/auth/login", {"Origin": ALLOWED_ORIGIN, **PREFLIGHT}),
    "allowed origin, error answer": ("GET", "/api/v1/auth/me", {"Origin": ALLOWED_ORIGIN}),
    "other origin": ("GET", "/api/openapi.json", {"Origin": OTHER_ORIGIN}),
    "other origin's preflight": ("OPTIONS", "/api/v1/auth/login", {"Origin": OTHER_ORIGIN, **PREFLIGHT}),
    "no origin": ("GET", "/api/openapi.json", {}),
}


def vary(response) -> list[str]:
    return [value.strip().lower() for header in response.headers.getlist("Vary") for value in header.split(",")]


@pytest.mark.parametrize(("method", "path", "headers"), ORIGIN_CASES.values(), ids=ORIGIN_CASES.keys())
def test_every_api_answer_varies_on_origin_when_cors_is_on(cors_client, method, path, headers):
    response = cors_client.open(path, method=method, headers=headers)

    assert vary(response).count("origin") == 1


@pytest.fixture(scope="module")
def two_origins_client(make_app):
    return make_app(cors_origins=(ALLOWED_ORIGIN, "https://other.example")).test_client()


def test_vary_names_origin_once_with_several_origins_configured(two_origins_client):
    response = two_origins_client.get("/api/openapi.json", headers={"Origin": ALLOWED_ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert vary(response).count("origin") == 1
