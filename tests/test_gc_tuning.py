"""Fewer garbage collections while a large answer or an import is built, and only then (issue #19)."""

from __future__ import annotations

import gc
import threading
from datetime import date

import pytest

from kpi_core.gc_tuning import YOUNG_GENERATION_THRESHOLD, fewer_collections


@pytest.fixture
def default_threshold():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_threshold_is_raised_inside_the_block_and_restored_after(default_threshold):
    with fewer_collections():
        inside = gc.get_threshold()

    assert inside == (YOUNG_GENERATION_THRESHOLD, *default_threshold[1:])
    assert gc.get_threshold() == default_threshold


def test_the_threshold_is_restored_when_the_block_fails(default_threshold):
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the answer could not be built")

    assert gc.get_threshold() == default_threshold


def test_blocks_on_two_threads_share_one_raise_undone_by_the_last(default_threshold):
    first_inside, second_inside, first_left = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with fewer_collections():
            first_inside.set()
            second_inside.wait(10)
        first_left.set()

    def second():
        first_inside.wait(10)
        with fewer_collections():
            second_inside.set()
            first_left.wait(10)
            seen["after the first left"] = gc.get_threshold()[0]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert seen == {"after the first left": YOUNG_GENERATION_THRESHOLD}
    assert gc.get_threshold() == default_threshold


def test_a_computed_values_answer_is_built_with_fewer_collections(database, plugins, monkeypatch, default_threshold):
    from kpi_core.kpis import query as q
    from kpi_core.kpis import service

    built = service._values_body
    seen = []

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        return built(*args, **kwargs)

    monkeypatch.setattr(service, "_values_body", spy)
    query = q.KpiQuery(date(2026, 1, 1), date(2026, 3, 1))
    with database.session(write=False) as session:
        service.kpi_values(session, plugins, query, zone=service.ZoneInfo("UTC"))

    assert seen == [YOUNG_GENERATION_THRESHOLD]
    assert gc.get_threshold() == default_threshold


def test_an_import_reads_its_rows_with_fewer_collections(database, monkeypatch, default_threshold):
    from zoneinfo import ZoneInfo

    from kpi_core.accounts.scope import UNSCOPED
    from kpi_core.audit.trail import Actor
    from kpi_core.imports import jobs

    run = jobs.JobImport.run
    seen = []

    def spy(self, rows, progress=None):
        seen.append(gc.get_threshold()[0])
        return run(self, rows, progress)

    monkeypatch.setattr(jobs.JobImport, "run", spy)
    with database.session() as session:
        report = jobs.import_jobs(session, [], scope=UNSCOPED, actor=Actor.system("test"), zone=ZoneInfo("UTC"))

    assert report.rows == 0
    assert seen == [YOUNG_GENERATION_THRESHOLD]
    assert gc.get_threshold() == default_threshold
