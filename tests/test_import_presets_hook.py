"""kpi_import_presets (issue #18, point 4): plugins ship ready column mappings for known exports.

The third-party fixture plugin (tests/fixtures/thirdparty_plugin) declares a
preset for its users' spreadsheet: the API lists it and an import reads a file
through it. A preset key another plugin has already declared, or a malformed
preset, is that plugin's load error, reported by name.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.declarations import DeclarationError, FieldRule, ImportMapping, ImportPreset
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.models import Job, Technician
from kpi_core.web.app import create_app
from tests.test_dashboard_api import thirdparty_plugin

SPREADSHEET = "Job,Who,Trade,Done?,Day,Time\nS-1,T1,Roofing,Yes,14/07/2026,16:30\nS-2,T1,roofing,no,,\n"


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    plugins = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin())])
    return create_app(settings, database=database, plugins=plugins)


def preset(key: str = "other.sheet", **mapping: object) -> ImportPreset:
    fields = {"external_ref": FieldRule("column", column="Ref")}
    return ImportPreset(key, "Other sheet", "Another layout.", "https://example.com/columns",
                        ImportMapping(fields=mapping.get("fields", fields)))  # fmt: skip


def test_a_third_party_plugins_preset_is_listed_with_its_mapping(client, admin_headers):
    response = client.get("/api/v1/imports/jobs/presets", headers=admin_headers)

    assert response.status_code == 200
    listed = {item["key"]: item for item in response.json}
    fixture = listed["fixture.spreadsheet"]
    assert (fixture["label"], fixture["source"]) == (
        "Fixture spreadsheet",
        "tests/fixtures/thirdparty_plugin (a made-up layout, for tests)",
    )
    assert fixture["mapping"]["fields"]["completed_at"] == {"kind": "date_time", "column": "Day", "time_column": "Time"}
    assert fixture["mapping"]["timezone"] == "Europe/London"
    assert "housecall_pro.job_report" in listed  # the bundled plugin's, through the same hook


def test_an_import_reads_a_file_through_a_third_party_preset(client, admin_headers, database):
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))

    response = client.post(
        "/api/v1/imports/jobs",
        data={"file": (io.BytesIO(SPREADSHEET.encode()), "sheet.csv")},
        query_string={"preset": "fixture.spreadsheet"},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    with database.session(write=False) as session:
        jobs = {job.external_ref: job for job in session.scalars(select(Job))}
    assert (jobs["S-1"].status, jobs["S-1"].category) == ("completed", "roofing")
    assert jobs["S-1"].completed_at == datetime(2026, 7, 14, 15, 30, tzinfo=UTC)  # 16:30 in London (BST)
    assert jobs["S-2"].status == "scheduled"


def test_an_unknown_preset_is_refused_naming_the_installed_ones(client, admin_headers):
    response = client.post(
        "/api/v1/imports/jobs",
        data={"file": (io.BytesIO(SPREADSHEET.encode()), "sheet.csv")},
        query_string={"preset": "nobody.sheet"},
        headers=admin_headers,
    )

    assert response.status_code == 422
    (message,) = response.json["errors"]["query"]["preset"]
    assert message.startswith("no import preset 'nobody.sheet' (presets: fixture.spreadsheet, housecall_pro.job_report")


def test_a_preset_key_another_plugin_declared_is_the_later_plugins_load_error(settings):
    class Copycat:
        @hookimpl
        def kpi_import_presets(self) -> list[ImportPreset]:
            return [preset("fixture.spreadsheet")]

    host = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin()), ("copycat", Copycat())])

    assert host.owner_of("kpi_import_presets", "fixture.spreadsheet") == "fixture_cancellations"
    (problem,) = [problem for problem in host.problems if problem.name == "copycat"]
    assert problem.stage == "duplicate"
    assert "'fixture.spreadsheet' is already declared by plugin 'fixture_cancellations'" in problem.reason


def test_a_malformed_preset_is_its_plugins_load_error_naming_the_fault(settings):
    class Careless:
        @hookimpl
        def kpi_import_presets(self) -> list[ImportPreset]:
            bad = {"started_at": FieldRule("minus_minutes", base="completed_at", column="Minutes")}
            return [preset(fields=bad)]

    host = load_plugins(settings, extra=[("careless", Careless())])

    (problem,) = [problem for problem in host.problems if problem.name == "careless"]
    assert problem.stage == "declaration"
    assert "base 'completed_at' must be another field of the mapping" in problem.reason
    assert "careless" not in host.plugins


@pytest.mark.parametrize(
    ("rule", "fault"),
    [
        (lambda: FieldRule("column"), "a column rule needs column"),
        (lambda: FieldRule("fixed", value="x", column="Y"), "a fixed rule takes no column"),
        (lambda: FieldRule("value_map", column="S", values={"a": 1}), "values must map source values"),
        (lambda: FieldRule("sum", column="S"), "kind must be one of"),
    ],
)
def test_a_malformed_rule_is_refused_naming_its_fault(rule, fault):
    with pytest.raises(DeclarationError, match=fault):
        rule()


def test_a_preset_needs_its_documented_source():
    with pytest.raises(DeclarationError, match="source must be a non-empty string"):
        ImportPreset("a.b", "A", "B", "", ImportMapping(fields={"status": FieldRule("fixed", value="completed")}))
