"""/api/v1/imports/mappings: column mappings saved by name and reused (issue #18, point 3).

Saving, renaming, changing and deleting a mapping is audited; a name is
unique; a mapping is checked whole when saved; an import names a saved
mapping by ``mapping_name``. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from kpi_core.storage.models import AuditEntry, Job, Technician

URL = "/api/v1/imports/mappings"
MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Work order"},
        "technician_ref": {"kind": "column", "column": "Tech"},
        "category": {"kind": "column", "column": "Trade"},
        "status": {"kind": "value_map", "column": "Stage", "values": {"done": "completed"}},
        "completed_at": {"kind": "column", "column": "Closed"},
    },
    "timezone": "Europe/Berlin",
    "datetime_format": "%d.%m.%Y %H:%M",
    "date_format": None,
    "time_format": None,
}


def audit(database, action: str) -> list[AuditEntry]:
    with database.session(write=False) as session:
        query = select(AuditEntry).where(AuditEntry.entity == "import_mapping", AuditEntry.action == action)
        return list(session.scalars(query))


@pytest.fixture
def saved(client, admin_headers) -> dict:
    response = client.post(URL, json={"name": "Our old system", "mapping": MAPPING}, headers=admin_headers)
    assert response.status_code == 201, response.json
    return response.json


def test_a_saved_mapping_is_stored_as_given_and_its_creation_audited(saved, client, admin_headers, database):
    assert (saved["name"], saved["mapping"]) == ("Our old system", MAPPING)
    listed = client.get(URL, headers=admin_headers).json
    assert [item["name"] for item in listed] == ["Our old system"]
    (entry,) = audit(database, "create")
    assert (entry.entity_id, entry.username) == (str(saved["id"]), "admin")
    assert entry.changes["mapping"][1]["fields"]["status"]["values"] == {"done": "completed"}


def test_a_manager_saves_and_reads_mappings_too(client, make_user, login):
    make_user("manager", username="mona")
    headers = login("mona")

    created = client.post(URL, json={"name": "Mona's", "mapping": MAPPING}, headers=headers)

    assert created.status_code == 201, created.json
    assert client.get(f"{URL}/{created.json['id']}", headers=headers).status_code == 200


def test_a_technician_cannot_read_saved_mappings(client, make_user, login, database):
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))
    make_user("technician", username="tess", technician_ref="T1")

    assert client.get(URL, headers=login("tess")).status_code == 403


def test_a_name_in_use_is_409_naming_name(saved, client, admin_headers):
    response = client.post(URL, json={"name": "Our old system", "mapping": MAPPING}, headers=admin_headers)

    assert response.status_code == 409
    assert list(response.json["errors"]["json"]) == ["name"]


def test_a_mapping_the_import_cannot_take_is_not_saved(client, admin_headers, database):
    fields = {key: value for key, value in MAPPING["fields"].items() if key != "category"}

    response = client.post(URL, json={"name": "Broken", "mapping": {"fields": fields}}, headers=admin_headers)

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["mapping.fields.category"]
    assert audit(database, "create") == []


def test_a_rule_of_an_unknown_kind_is_refused_naming_it(client, admin_headers):
    fields = {**MAPPING["fields"], "status": {"kind": "magic", "column": "Stage"}}

    response = client.post(URL, json={"name": "Broken", "mapping": {"fields": fields}}, headers=admin_headers)

    assert response.status_code == 422
    assert "kind" in response.json["errors"]["json"]["mapping"]["fields"]["status"]["value"]


def test_renaming_and_changing_need_the_etag_and_are_audited(saved, client, admin_headers, database):
    url = f"{URL}/{saved['id']}"
    changed = {**MAPPING, "timezone": "Europe/Vienna"}
    assert client.patch(url, json={"name": "Renamed"}, headers=admin_headers).status_code == 428
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    response = client.patch(
        url, json={"name": "Renamed", "mapping": changed}, headers={**admin_headers, "If-Match": etag}
    )

    assert response.status_code == 200, response.json
    assert (response.json["name"], response.json["mapping"]["timezone"]) == ("Renamed", "Europe/Vienna")
    (entry,) = audit(database, "update")
    assert entry.changes["name"] == ["Our old system", "Renamed"]


def test_deleting_needs_the_etag_and_is_audited(saved, client, admin_headers, database):
    url = f"{URL}/{saved['id']}"
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    assert client.delete(url, headers={**admin_headers, "If-Match": etag}).status_code == 204

    assert client.get(url, headers=admin_headers).status_code == 404
    assert len(audit(database, "delete")) == 1


def test_an_import_reads_its_file_through_a_saved_mapping_named_in_the_query(saved, client, admin_headers, database):
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))
    content = b"Work order;Tech;Trade;Stage;Closed\nWO-7;T1;Electrical;Done;02.03.2026 10:00\n"

    response = client.post(
        "/api/v1/imports/jobs",
        data={"file": (io.BytesIO(content), "export.csv")},
        query_string={"mapping_name": "Our old system"},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    with database.session(write=False) as session:
        job = session.scalars(select(Job)).one()
    assert (job.external_ref, job.category, job.status) == ("WO-7", "electrical", "completed")
    assert job.completed_at.isoformat() == "2026-03-02T09:00:00+00:00"  # 10:00 in Berlin (UTC+1)


def test_an_import_naming_an_unknown_saved_mapping_is_refused_naming_it(client, admin_headers, database):
    response = client.post(
        "/api/v1/imports/jobs",
        data={"file": (io.BytesIO(b"a,b\n1,2\n"), "export.csv")},
        query_string={"mapping_name": "Nobody's"},
        headers=admin_headers,
    )

    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"mapping_name": ["no saved mapping is named “Nobody's”"]}}
