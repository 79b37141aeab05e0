"""The plugin is found through its entry point and declares both formats."""

from __future__ import annotations

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins


def test_plugin_is_discovered_through_its_entry_point_and_owns_both_formats(tmp_path):
    host = load_plugins(Settings.from_env({}, secret_key="x" * 40, data_dir=tmp_path))
    assert not [problem for problem in host.problems if problem.name == "reports_csv"]
    for key in ("csv", "csv_wide"):
        assert host.owner_of("kpi_report_formats", key) == "reports_csv"
        declared = host.report_formats[key]
        assert declared.media_type == "text/csv; charset=utf-8"
        assert declared.file_extension == "csv"


def test_formats_are_labelled_for_the_people_choosing_them(tmp_path):
    host = load_plugins(Settings.from_env({}, secret_key="x" * 40, data_dir=tmp_path))
    assert host.report_formats["csv"].label == "Spreadsheet (CSV), one row per value"
    assert host.report_formats["csv_wide"].label == "Spreadsheet (CSV), one column per KPI"
