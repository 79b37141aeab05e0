"""ETags sent back through a compressing server still match (issue #19's compression).

flask-compress appends the encoding to a strong tag (``"abc:gzip"``) and nginx's gzip weakens it
(``W/"abc"``); a client sends back what it got. Compared as sent, every If-Match was stale: each
edit of an evaluation through the compressing server was refused with 412.
"""

from __future__ import annotations

import gzip
import json

import pytest

from kpi_core.storage.models import Technician
from kpi_core.web.entity_tags import as_issued

URL = "/api/v1/evaluations"


@pytest.mark.parametrize(
    ("sent", "issued"),
    [
        ('"abc"', '"abc"'),
        ('"abc:gzip"', '"abc"'),
        ('"abc:br", "def:zstd"', '"abc", "def"'),
        ('W/"abc"', '"abc"'),
        ('W/"abc:deflate"', '"abc"'),
        ("*", "*"),
        ('"a:b"', '"a:b"'),  # not an encoding: left as sent, so it stays a mismatch
    ],
)
def test_tags_are_read_as_the_app_issued_them(sent, issued):
    assert as_issued(sent) == issued


@pytest.fixture
def evaluation(client, admin_headers, database) -> int:
    with database.session() as session:
        tina = Technician(external_ref="T1", name="Tina")
        session.add(tina)
        session.flush()
        technician_id = tina.id
    body = {"technician_id": technician_id, "period_start": "2026-10-01", "period_end": "2026-10-31"}
    response = client.post(URL, json=body, headers=admin_headers)
    assert response.status_code == 201
    return response.json["id"]


def test_an_evaluation_read_compressed_is_changed_with_the_tag_it_came_with(client, admin_headers, evaluation):
    read = client.get(f"{URL}/{evaluation}", headers={**admin_headers, "Accept-Encoding": "gzip"})
    assert read.headers["Content-Encoding"] == "gzip"
    assert read.headers["ETag"].endswith(':gzip"')
    answers = json.loads(gzip.decompress(read.data))["answers"]

    changed = client.patch(
        f"{URL}/{evaluation}",
        json={"answers": {**answers, "quality.workmanship": 4}},
        headers={**admin_headers, "If-Match": read.headers["ETag"]},
    )

    assert changed.status_code == 200, changed.json
    assert changed.json["answers"]["quality.workmanship"] == 4


def test_a_tag_weakened_by_a_proxy_still_changes_it_and_a_stale_one_does_not(client, admin_headers, evaluation):
    tag = client.get(f"{URL}/{evaluation}", headers=admin_headers).headers["ETag"]
    weakened = {**admin_headers, "If-Match": f"W/{tag}"}

    first = client.patch(f"{URL}/{evaluation}", json={"answers": {"quality.workmanship": 3}}, headers=weakened)
    again = client.patch(f"{URL}/{evaluation}", json={"answers": {"quality.workmanship": 2}}, headers=weakened)

    assert first.status_code == 200
    assert again.status_code == 412
