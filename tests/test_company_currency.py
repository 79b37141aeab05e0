"""The company's currency (KPI_CURRENCY) and time zone: configured once, checked at start-up, and
handed to the dashboard (GET /api/v1/dashboard) and to report formats (ReportData.currency)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask

from kpi_core.config import Settings
from kpi_core.currencies import decimals, format_money, round_money
from kpi_core.errors import ConfigError
from kpi_core.web.app import create_app


def test_the_currency_defaults_to_us_dollars():
    assert Settings.from_env({}).currency == "USD"


def test_an_iso_4217_code_is_read_in_any_case():
    assert Settings.from_env({"KPI_CURRENCY": " eur "}).currency == "EUR"


@pytest.mark.parametrize("bad", ["EURO", "XYZ", "$", "", "US"])
def test_an_unknown_currency_is_a_config_error_naming_the_variable(bad):
    with pytest.raises(ConfigError, match=r"KPI_CURRENCY=.*is not an ISO 4217 currency code"):
        Settings.from_env({"KPI_CURRENCY": bad})


def test_amounts_round_to_the_currencys_smallest_unit():
    assert (decimals("USD"), decimals("JPY"), decimals("KWD")) == (2, 0, 3)
    assert str(round_money(13264.880000000001, "USD")) == "13264.88"
    assert format_money(262.8, "USD") == "$262.80"
    assert format_money(1262.6, "JPY") == "¥1,263"
    assert format_money(262.8, "CHF") == "CHF\u00a0262.80"


@pytest.fixture
def app(settings: Settings, database, plugins) -> Flask:
    return create_app(replace(settings, currency="EUR", timezone="America/Chicago"), database=database, plugins=plugins)


def test_the_dashboard_tells_every_page_the_companys_currency_and_time_zone(client, make_user, login):
    make_user("manager", username="mona")

    answer = client.get("/api/v1/dashboard", headers=login("mona")).json

    assert answer["company"] == {"currency": "EUR", "timezone": "America/Chicago"}


def test_the_openapi_document_describes_the_company_settings(client):
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]

    assert "company" in schemas["Dashboard"]["required"]
    assert set(schemas["Company"]["properties"]) == {"currency", "timezone"}
