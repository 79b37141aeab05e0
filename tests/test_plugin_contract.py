"""The plugin contract: the hooks a plugin may implement and the declarations it returns.

Every hook is specified (with its documentation) in kpi_core/hookspecs.py;
list hooks return frozen dataclasses from kpi_core/declarations.py, whose
construction rejects a malformed declaration with a message naming the field.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
from pathlib import Path
from typing import Any

import pytest

from kpi_core import hookimpl, hookspecs
from kpi_core.config import Settings
from kpi_core.declarations import (
    DECLARATION_TYPES,
    AlertRule,
    DeclarationError,
    FormField,
    ImportPreset,
    JobField,
    JobSpec,
    Metric,
    NotificationChannel,
    Permission,
    ReportFormat,
    Setting,
    Target,
    Widget,
)
from kpi_core.plugins import PluginHost, load_plugins

HOOKS = (
    "kpi_metrics",
    "kpi_form_fields",
    "kpi_report_formats",
    "kpi_jobs",
    "kpi_widgets",
    "kpi_settings",
    "kpi_import_presets",
    "kpi_job_fields",
    "kpi_notification_channels",
    "kpi_alert_rules",
    "kpi_permissions",
    "kpi_routes",
    "kpi_migrations",
    "kpi_startup",
)
LIST_HOOKS = {
    "kpi_metrics": Metric,
    "kpi_form_fields": FormField,
    "kpi_report_formats": ReportFormat,
    "kpi_jobs": JobSpec,
    "kpi_widgets": Widget,
    "kpi_settings": Setting,
    "kpi_import_presets": ImportPreset,
    "kpi_job_fields": JobField,
    "kpi_notification_channels": NotificationChannel,
    "kpi_alert_rules": AlertRule,
    "kpi_permissions": Permission,
}


def _expression(ctx: Any) -> Any:
    return ctx.tables["jobs"].c.id


def _render(report: Any, stream: Any) -> None:
    stream.write(b"report")


def _run(context: Any) -> None:
    return None


def metric(**changes: Any) -> Metric:
    fields: dict[str, Any] = {
        "key": "sample.done_rate",
        "label": "Done rate",
        "description": "Share of jobs done.",
        "formula": "done jobs / jobs",
        "unit": "ratio",
        "direction": "higher",
        "kind": "rate",
        "numerator": _expression,
        "denominator": _expression,
        "period_column": _expression,
    }
    return Metric(**(fields | changes))


def form_field(**changes: Any) -> FormField:
    return FormField(**({"key": "sample.tidiness", "label": "Tidiness", "type": "rating"} | changes))


def report_format(**changes: Any) -> ReportFormat:
    fields: dict[str, Any] = {
        "key": "txt",
        "label": "Plain text",
        "media_type": "text/plain",
        "file_extension": "txt",
        "render": _render,
    }
    return ReportFormat(**(fields | changes))


def job(**changes: Any) -> JobSpec:
    return JobSpec(**({"key": "sample.cleanup", "label": "Clean up", "run": _run} | changes))


def widget(**changes: Any) -> Widget:
    fields: dict[str, Any] = {
        "key": "sample.done_card",
        "title": "Done",
        "type": "kpi_card",
        "metrics": ("sample.done_rate",),
    }
    return Widget(**(fields | changes))


@pytest.fixture
def host(tmp_path: Path) -> PluginHost:
    """Every installed plugin, loaded without a database."""
    return load_plugins(Settings.from_env({}, data_dir=tmp_path, secret_key="contract-test-secret-" * 2))


# --- the hooks -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_specified_with_its_documentation(name: str):
    spec = getattr(hookspecs, name)
    assert hasattr(spec, f"{hookspecs.PROJECT_NAME}_spec"), f"{name} is not marked @hookspec"
    assert len(inspect.getdoc(spec) or "") > 80, f"{name} needs a docstring for plugin authors"


def test_the_contract_has_no_hook_beyond_those_documented():
    specified = {name for name, value in vars(hookspecs).items() if hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")}
    assert specified == set(HOOKS)


@pytest.mark.parametrize(("hook", "declaration"), LIST_HOOKS.items())
def test_each_list_hook_documents_the_declaration_it_returns(hook: str, declaration: type):
    assert DECLARATION_TYPES[hook] is declaration
    assert declaration.__name__ in inspect.getdoc(getattr(hookspecs, hook))


def test_list_hooks_take_no_arguments_and_startup_takes_the_app():
    for hook in LIST_HOOKS:
        assert not inspect.signature(getattr(hookspecs, hook)).parameters, hook
    assert list(inspect.signature(hookspecs.kpi_startup).parameters) == ["app"]


def test_the_host_knows_every_hook_of_the_contract(host: PluginHost):
    for name in HOOKS:
        assert hasattr(host.pm.hook, name)


# --- what plugins return ---------------------------------------------------------------------


def test_installed_plugins_return_declarations_of_the_type_each_hook_names(host: PluginHost):
    for hook, declared in host.declarations.items():
        assert all(isinstance(item, DECLARATION_TYPES[hook]) for item in declared.values()), hook
    assert host.metrics, "the installed plugins declare some KPIs"


def test_job_labels_of_installed_plugins_are_plain_words(host: PluginHost):
    # Admins read them on the jobs page: no setting's variable, no job key in them.
    import re

    technical = {key: spec.label for key, spec in host.jobs.items() if re.search(r"KPI_|\w\.\w|_", spec.label)}

    assert technical == {}


def test_declarations_are_listed_under_their_own_key(host: PluginHost):
    for declared in host.declarations.values():
        for key, item in declared.items():
            assert item.key == key


@pytest.mark.parametrize(
    ("declaration", "field"),
    [
        (metric(), "label"),
        (form_field(), "weight"),
        (report_format(), "media_type"),
        (job(), "schedule"),
        (widget(), "metrics"),
        (Target(green=0.9, amber=0.8), "green"),
    ],
    ids=lambda value: type(value).__name__ if dataclasses.is_dataclass(value) else value,
)
def test_declarations_are_frozen(declaration: Any, field: str):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(declaration, field, None)


def test_hookimpl_marks_implementations_of_this_contract():
    assert hookimpl.project_name == hookspecs.PROJECT_NAME


# --- metrics ---------------------------------------------------------------------------------


def test_a_well_formed_metric_is_accepted():
    declared = metric(default_target=Target(green=0.9, amber=0.8, weight=2), source="jobs")
    assert declared.key == "sample.done_rate"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"key": "done_rate"}, "key"),
        ({"key": "Sample.DoneRate"}, "key"),
        ({"key": "sample."}, "key"),
        ({"key": "sample.done-rate"}, "key"),
        ({"key": 42}, "key"),
        ({"label": ""}, "label"),
        ({"description": "   "}, "description"),
        ({"formula": None}, "formula"),
        ({"unit": ""}, "unit"),
        ({"direction": "up"}, "direction"),
        ({"kind": "median"}, "kind"),
        ({"source": "customers"}, "source"),
        ({"numerator": "SUM(done)"}, "numerator"),
        ({"denominator": None}, "denominator"),
        ({"period_column": "completed_at"}, "period_column"),
        ({"default_target": {"green": 0.9, "amber": 0.8}}, "default_target"),
        ({"empty_hint": None}, "empty_hint"),
        ({"empty_hint": "x" * 201}, "empty_hint"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else value,
)
def test_a_malformed_metric_is_rejected_naming_the_field(changes: dict[str, Any], named: str):
    with pytest.raises(DeclarationError, match=named):
        metric(**changes)


def test_a_rejected_metric_names_its_key():
    with pytest.raises(DeclarationError, match=r"sample\.done_rate"):
        metric(direction="sideways")


def test_a_higher_is_better_target_needs_green_at_least_amber():
    with pytest.raises(DeclarationError, match="green must be at least amber"):
        metric(default_target=Target(green=0.7, amber=0.8))


def test_a_lower_is_better_target_needs_green_at_most_amber():
    with pytest.raises(DeclarationError, match="green must be at most amber"):
        metric(direction="lower", default_target=Target(green=0.2, amber=0.1))


def test_a_target_may_put_green_and_amber_at_the_same_value():
    assert metric(default_target=Target(green=0.8, amber=0.8)).default_target == Target(0.8, 0.8)


def test_a_target_weight_cannot_be_negative():
    with pytest.raises(DeclarationError, match="weight"):
        metric(default_target=Target(green=0.9, amber=0.8, weight=-1))


def test_a_target_weight_of_zero_leaves_the_metric_out_of_the_score():
    assert metric(default_target=Target(green=0.9, amber=0.8, weight=0)).default_target.weight == 0


def test_declaration_errors_are_value_errors():
    # Plugin authors validating their own input may catch ValueError.
    assert issubclass(DeclarationError, ValueError)


# --- form fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared",
    [
        form_field(),
        form_field(type="yes_no", required=True),
        form_field(type="number", minimum=0, maximum=10),
        form_field(type="choice", choices=("poor", "fine", "great")),
        form_field(type="text", weight=0),
        form_field(weight=0),
    ],
    ids=["rating", "yes_no", "number", "choice", "text", "unscored"],
)
def test_well_formed_form_fields_are_accepted(declared: FormField):
    assert declared.key == "sample.tidiness"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"key": "tidiness"}, "key"),
        ({"label": ""}, "label"),
        ({"type": "stars"}, "type"),
        ({"weight": -1}, "weight"),
        ({"weight": "heavy"}, "weight"),
        ({"type": "text"}, "text fields cannot be scored"),
        ({"type": "choice"}, "choice field needs at least 2 choices"),
        ({"type": "choice", "choices": ("only",)}, "choice field needs at least 2 choices"),
        ({"type": "rating", "choices": ("a", "b")}, "only choice fields take choices"),
        ({"type": "number"}, "number field needs minimum and maximum"),
        ({"type": "number", "minimum": 0}, "number field needs minimum and maximum"),
        ({"type": "number", "minimum": 5, "maximum": 5}, "minimum must be below maximum"),
        ({"type": "number", "minimum": 10, "maximum": 1}, "minimum must be below maximum"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else value,
)
def test_a_malformed_form_field_is_rejected_naming_the_field(changes: dict[str, Any], named: str):
    with pytest.raises(DeclarationError, match=named):
        form_field(**changes)


# --- report formats --------------------------------------------------------------------------


def test_a_well_formed_report_format_renders_to_a_binary_stream():
    stream = io.BytesIO()
    report_format().render({}, stream)
    assert stream.getvalue() == b"report"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"key": "plain.text"}, "key"),
        ({"key": "TXT"}, "key"),
        ({"label": ""}, "label"),
        ({"media_type": "text"}, "media_type"),
        ({"file_extension": ".txt"}, "file_extension"),
        ({"render": None}, "render"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else value,
)
def test_a_malformed_report_format_is_rejected_naming_the_field(changes: dict[str, Any], named: str):
    with pytest.raises(DeclarationError, match=named):
        report_format(**changes)


# --- jobs ------------------------------------------------------------------------------------


def test_a_well_formed_job_may_have_a_cron_schedule_or_none():
    assert job(schedule="30 3 * * *").schedule == "30 3 * * *"
    assert job().schedule is None


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"key": "cleanup"}, "key"),
        ({"label": " "}, "label"),
        ({"run": "cleanup"}, "run"),
        ({"schedule": "every night"}, "schedule"),
        ({"schedule": "30 3 * *"}, "schedule"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 1.5}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"retries": 11}, "retries"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else value,
)
def test_a_malformed_job_is_rejected_naming_the_field(changes: dict[str, Any], named: str):
    with pytest.raises(DeclarationError, match=named):
        job(**changes)


# --- widgets ---------------------------------------------------------------------------------


def test_a_custom_widget_names_its_module_and_element_and_needs_no_metric():
    declared = widget(type="custom", metrics=(), module_url="/plugins/sample/widget.js", element="sample-widget")
    assert (declared.module_url, declared.element) == ("/plugins/sample/widget.js", "sample-widget")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"key": "card"}, "key"),
        ({"title": ""}, "title"),
        ({"type": "pie"}, "type"),
        ({"size": "huge"}, "size"),
        ({"metrics": ["sample.done_rate"]}, "metrics must be a tuple"),
        ({"metrics": ()}, "needs at least one metric"),
        ({"type": "custom"}, "module_url"),
        ({"type": "custom", "element": "sample-widget"}, "module_url"),
        ({"type": "custom", "module_url": "/w.js"}, "element"),
        ({"type": "custom", "module_url": "/w.js", "element": "widget"}, "element tag with a dash"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else value,
)
def test_a_malformed_widget_is_rejected_naming_the_field(changes: dict[str, Any], named: str):
    with pytest.raises(DeclarationError, match=named):
        widget(**changes)
