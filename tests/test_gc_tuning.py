"""The long-running processes collect garbage less often and freeze what start-up made (issue #19)."""

from __future__ import annotations

import json
import subprocess
import sys

from kpi_core.gc_tuning import YOUNG_GENERATION_THRESHOLD


def test_tuning_raises_the_young_threshold_and_freezes_the_start_up_heap():
    # In a process of its own: frozen objects are never collected, which a test process must not suffer.
    code = (
        "import gc, json; from kpi_core.gc_tuning import tune_for_service; before = gc.get_threshold(); "
        "tune_for_service(); print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, after, frozen = json.loads(done.stdout)

    assert after == [YOUNG_GENERATION_THRESHOLD, *before[1:]]
    assert frozen > 1000  # the modules and objects imported so far


def test_kpi_serve_tunes_the_collector_after_building_its_app(settings, database, monkeypatch):
    from kpi_core import cli, server

    steps = []
    monkeypatch.setattr(cli, "tune_for_service", lambda: steps.append("tune"))
    monkeypatch.setattr(server, "serve", lambda app, host, port, **_: steps.append(f"serve {app.name}"))

    cli._serve(settings)

    assert steps == ["tune", "serve kpi_core.web.app"]


def test_each_gunicorn_worker_tunes_the_collector_after_building_its_app(settings, database, monkeypatch):
    import kpi_core.gc_tuning
    from kpi_core.server import GunicornServer

    steps = []
    monkeypatch.setattr(kpi_core.gc_tuning, "tune_for_service", lambda: steps.append("tune"))

    app = GunicornServer(settings, workers=1).load()

    assert steps == ["tune"]
    assert app.name == "kpi_core.web.app"
