"""KPI answers carry an ETag naming all they depend on: 304 while nothing changed (issue #19)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kpi_core.storage.models import Job, Technician

VALUES = "/api/v1/kpis/values"
SCORECARDS = "/api/v1/scorecards"
JANUARY = {"kpi": "quality.first_time_fix_rate", "start": "2026-01-01", "end": "2026-02-01", "group_by": "technician"}


@pytest.fixture
def technician(database) -> int:
    with database.session() as session:
        ada = Technician(external_ref="ADA", name="Ada")
        session.add(ada)
        session.flush()
        session.add(
            Job(
                external_ref="J-1",
                technician_id=ada.id,
                category="plumbing",
                status="completed",
                completed_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
            )
        )
        return ada.id


def test_an_unchanged_answer_is_304_and_a_change_makes_a_new_tag(client, admin_headers, technician):
    first = client.get(VALUES, query_string=JANUARY, headers=admin_headers)
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    assert first.headers["Cache-Control"] == "private, no-cache"
    tag = first.headers["ETag"]

    again = client.get(VALUES, query_string=JANUARY, headers={**admin_headers, "If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag and again.headers["X-KPI-Cache"] == "not-modified"

    created = client.post(
        "/api/v1/jobs",
        json={
            "external_ref": "J-2",
            "technician_id": technician,
            "category": "plumbing",
            "status": "completed",
            "completed_at": "2026-01-20T12:00:00Z",
        },
        headers=admin_headers,
    )
    assert created.status_code == 201, created.get_json()
    after = client.get(VALUES, query_string=JANUARY, headers={**admin_headers, "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["ETag"] != tag
    assert sum(row["denominator"] for row in after.get_json()) == 2


@pytest.mark.parametrize("sent", ['"not-ours"', "garbage without quotes", 'W/"weak"', '""'])
def test_a_foreign_or_malformed_tag_gets_the_full_answer(client, admin_headers, technician, sent):
    response = client.get(VALUES, query_string=JANUARY, headers={**admin_headers, "If-None-Match": sent})
    assert response.status_code == 200 and response.get_json()


def test_another_callers_tag_is_not_theirs(client, admin_headers, make_user, login, technician):
    tag = client.get(VALUES, query_string=JANUARY, headers=admin_headers).headers["ETag"]
    make_user("manager", username="boss")
    manager = login("boss")
    response = client.get(VALUES, query_string=JANUARY, headers={**manager, "If-None-Match": tag})
    assert response.status_code == 200 and response.headers["ETag"] != tag


def test_scorecards_answer_304_too(client, admin_headers, technician):
    params = {"start": "2026-01-01", "end": "2026-02-01", "period": "month"}
    first = client.get(SCORECARDS, query_string=params, headers=admin_headers)
    assert first.status_code == 200
    again = client.get(
        SCORECARDS, query_string=params, headers={**admin_headers, "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_answers_are_compressed_and_a_compressed_tag_still_revalidates(client, admin_headers, technician):
    params = {"group_by": "company", "start": "2025-01-01", "end": "2026-02-01"}  # every KPI: over 1 KB
    first = client.get(VALUES, query_string=params, headers={**admin_headers, "Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in first.headers["Vary"]
    import gzip
    import json

    assert {row["kpi"] for row in json.loads(gzip.decompress(first.data))} >= {JANUARY["kpi"]}
    tag = first.headers["ETag"]  # "<tag>:gzip": flask-compress names the encoding in the tag
    again = client.get(
        VALUES, query_string=params, headers={**admin_headers, "Accept-Encoding": "gzip", "If-None-Match": tag}
    )
    assert again.status_code == 304


def test_compression_is_off_behind_a_proxy_that_compresses(settings, database, plugins, admin_headers, technician):
    import dataclasses

    from kpi_core.web.app import create_app

    app = create_app(dataclasses.replace(settings, compress=False), database=database, plugins=plugins)
    params = {"group_by": "company", "start": "2025-01-01", "end": "2026-02-01"}
    response = app.test_client().get(VALUES, query_string=params, headers={**admin_headers, "Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers


def test_an_answers_compressed_bytes_are_kept_per_encoding_and_nothing_else_is(
    client, admin_headers, technician, monkeypatch
):
    import brotli
    import flask_compress.flask_compress as compressor

    compressed = []
    real = compressor._compress_data
    monkeypatch.setattr(compressor, "_compress_data", lambda *a: compressed.append(a[2]) or real(*a))
    params = {"group_by": "company", "start": "2025-01-01", "end": "2026-02-01"}
    brotli_headers = {**admin_headers, "Accept-Encoding": "br"}

    first = client.get(VALUES, query_string=params, headers=brotli_headers)
    again = client.get(VALUES, query_string=params, headers=brotli_headers)
    gzipped = client.get(VALUES, query_string=params, headers={**admin_headers, "Accept-Encoding": "gzip"})

    # Compressed once per encoding, then served as kept: the same bytes, the same tag.
    assert compressed == ["br", "gzip"]
    assert again.headers["Content-Encoding"] == "br" and again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]
    assert brotli.decompress(again.data) == client.get(VALUES, query_string=params, headers=admin_headers).data
    assert gzipped.headers["Content-Encoding"] == "gzip"

    # Any other response is compressed each time and never kept.
    kept = len(compressed)
    for _ in range(2):
        listed = client.get("/api/v1/kpis", headers=brotli_headers)
        assert listed.headers["Content-Encoding"] == "br"
    assert len(compressed) == kept + 2
