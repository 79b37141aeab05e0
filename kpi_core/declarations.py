"""The declarative objects that plugins return from their hooks.

Every hook in :mod:`kpi_core.hookspecs` returns a list of these frozen
dataclasses. They describe *what* a plugin contributes; the host decides how
to validate, list, document and compute with them. Construction validates the
fields, so a malformed declaration fails inside the plugin's own hook and the
host reports that plugin by name instead of half-registering it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
"""Keys are namespaced by the plugin: ``family.name`` (lower case, dots)."""

Direction = Literal["higher", "lower"]
MetricKind = Literal["rate", "mean"]
MetricSource = Literal["jobs", "evaluations"]
FieldType = Literal["rating", "yes_no", "number", "choice", "text"]
WidgetType = Literal["kpi_card", "trend", "leaderboard", "heatmap", "table", "custom"]
SettingType = Literal["integer", "number", "boolean", "text", "choice"]

DIRECTIONS: tuple[str, ...] = ("higher", "lower")
METRIC_KINDS: tuple[str, ...] = ("rate", "mean")
METRIC_SOURCES: tuple[str, ...] = ("jobs", "evaluations")
FIELD_TYPES: tuple[str, ...] = ("rating", "yes_no", "number", "choice", "text")
WIDGET_TYPES: tuple[str, ...] = ("kpi_card", "trend", "leaderboard", "heatmap", "table", "custom")
WIDGET_SIZES: tuple[str, ...] = ("small", "medium", "large", "full")
SETTING_TYPES: tuple[str, ...] = ("integer", "number", "boolean", "text", "choice")
JobFieldType = Literal["boolean", "integer", "number", "text", "choice"]
JOB_FIELD_TYPES: tuple[str, ...] = ("boolean", "integer", "number", "text", "choice")
JOB_FIELD_KEY_MAX = 120
JOB_FIELD_TEXT_MAX = 1000
"""Longest text a ``text`` job field holds."""
JOB_FIELD_INTEGER_MAX = 2**53 - 1
"""Largest whole number an ``integer`` job field holds (and the smallest its negative): what JSON carries exactly."""
EMPTY_HINT_MAX = 200
"""Longest ``Metric.empty_hint``: one sentence beside a card, not a manual."""


class DeclarationError(ValueError):
    """A plugin declaration is malformed; the message names the field."""


def _require_key(kind: str, key: object) -> None:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise DeclarationError(f"{kind} key {key!r} must be namespaced lower-case words, like 'quality.first_time_fix'")


def _require_text(kind: str, key: str, name: str, value: object, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise DeclarationError(f"{kind} {key!r}: {name} must be a non-empty string")


def _require_choice(kind: str, key: str, name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DeclarationError(f"{kind} {key!r}: {name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class Target:
    """Default thresholds and weight for a metric.

    ``green`` and ``amber`` are values of the metric: with direction
    ``higher`` a value >= green is green, >= amber is amber, else red; with
    ``lower`` the comparisons are reversed. ``weight`` is the metric's share
    in a technician's composite score (0 leaves it out of the score).
    """

    green: float
    amber: float
    weight: float = 1.0

    def check(self, key: str, direction: str) -> None:
        if self.weight < 0:
            raise DeclarationError(f"metric {key!r}: target weight must be >= 0")
        ordered = self.green >= self.amber if direction == "higher" else self.green <= self.amber
        if not ordered:
            better = "at least" if direction == "higher" else "at most"
            raise DeclarationError(f"metric {key!r}: target green must be {better} amber for direction {direction!r}")


@dataclass(frozen=True)
class MetricContext:
    """What the host hands a metric's expression builders (``numerator``, ``denominator``, exclusions, notes).

    Expression builders must use only these objects. Attribute by attribute:

    ``tables``
        The core tables a KPI may read, by name, as SQLAlchemy ``Table``
        objects: ``jobs``, ``feedback``, ``evaluations``, ``technicians``,
        ``customers`` and ``callback_disputes`` (the disputes of callbacks'
        attribution: ``callback_job_id``, ``original_job_id``, ``status``
        open, accepted or rejected). Their columns are in docs/schema.md. For
        a ``jobs`` metric the engine selects from ``jobs`` left-joined to
        ``feedback`` (one row per job); for an ``evaluations`` metric, from
        ``evaluations``; a builder's expression is about that row:
        ``jobs = ctx.tables["jobs"]; return jobs.c.status == "completed"``.
    ``epoch(column)``
        Seconds since 1970-01-01 UTC of a timestamp column, on every
        supported database, so a duration is a difference:
        ``ctx.epoch(jobs.c.completed_at) - ctx.epoch(jobs.c.started_at)``.
    ``settings`` and ``setting(name, default)``
        The declaring plugin's settings in force (``kpi_settings``), by name
        without the namespace; ``setting`` gives ``default`` where the name
        is missing (a context built by hand in a test):
        ``ctx.setting("callback_window_days", 30) * 86400``.
    ``job_field(key)`` and ``read_job_field``
        ``job_field`` is the value of a plugin's job field (``kpi_job_fields``)
        for the row's job, as a SQL expression of the field's type (NULL
        without a value): ``ctx.job_field("safety.ppe_checked").is_(True)``.
        ``read_job_field`` is how the host answers it; leave it to the host
        (without it ``job_field`` raises ``KeyError``).
    """

    tables: Mapping[str, Any]
    epoch: Callable[[Any], Any]
    settings: Mapping[str, Any] = field(default_factory=dict)
    read_job_field: Callable[[str], Any] | None = None

    def setting(self, name: str, default: Any) -> Any:
        """The plugin setting ``name``, or ``default`` where it is not set."""
        return self.settings.get(name, default)

    def job_field(self, key: str) -> Any:
        """The job field ``key`` of the fact row's job: a SQL expression of its type, NULL without a value.

        ``key`` is a :class:`JobField` of any installed plugin; the expression is boolean, integer,
        number or text as the field's type is. For ``jobs`` metrics:
        ``ctx.job_field("safety.ppe_checked").is_(True)`` is a condition. KeyError where no
        installed plugin declares ``key``.
        """
        if self.read_job_field is None:
            raise KeyError(f"no installed plugin declares the job field {key!r}")
        return self.read_job_field(key)


ExpressionBuilder = Callable[[MetricContext], Any]

MAX_VERSION = 1_000_000
"""A metric's ``version`` is a whole number from 1 to this."""

REASON_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
WINDOW_OPEN = "window_open"
"""The reason code of facts left out because their outcome window is still open (see ``Metric.outcome_window``)."""
NOT_IN_SAMPLE = "not_in_sample"
"""The reason code of facts outside the sample that no declared exclusion explains."""


@dataclass(frozen=True)
class Exclusion:
    """Why a fact is left out of a metric's sample: a reason code, its label in words, and the condition.

    ``condition(context)`` builds a SQL boolean over the metric's fact row
    (true: this reason applies). A metric's exclusions are ordered: a fact
    left out gets the first reason whose condition holds.
    """

    code: str
    label: str
    condition: ExpressionBuilder

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not REASON_CODE.match(self.code):
            raise DeclarationError(f"exclusion {self.code!r}: code must be lower case letters, digits and _")
        _require_text("exclusion", self.code, "label", self.label)
        if not callable(self.condition):
            raise DeclarationError(f"exclusion {self.code!r}: condition must be a callable(context)")


@dataclass(frozen=True)
class Note:
    """Something worth saying about a fact that *is* counted: a reason code, its label in words, and the condition.

    ``condition(context)`` builds a SQL boolean over the metric's fact row
    (true: the note applies). The drill-down gives a counted fact (in the
    numerator or in the denominator only) the first of its metric's notes
    whose condition holds, as its ``reason`` and ``reason_label``: the
    first-time fix says which jobs were called back, and which count as
    fixed only because their callback was disputed and the dispute accepted.
    """

    code: str
    label: str
    condition: ExpressionBuilder

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not REASON_CODE.match(self.code):
            raise DeclarationError(f"note {self.code!r}: code must be lower case letters, digits and _")
        _require_text("note", self.code, "label", self.label)
        if not callable(self.condition):
            raise DeclarationError(f"note {self.code!r}: condition must be a callable(context)")


@dataclass(frozen=True)
class Metric:
    """A KPI: an aggregate computed in the database over one row per fact.

    For each fact row of ``source`` (a job, or an evaluation), ``numerator``
    and ``denominator`` build SQLAlchemy column expressions; the engine SUMs
    both over every group and period and divides. A *rate* uses 1/0 flags
    (value in 0..1, with a Wilson interval); a *mean* uses the value as the
    numerator and 1 where the value exists as the denominator. Rows where the
    denominator is 0 or NULL are not in the sample. ``period_column`` builds
    the timestamp that places a fact in a period. ``empty_hint`` (optional,
    at most 200 characters, in words) is what the dashboard tells a reader
    where the metric has no value, when the reason is particular to it: what
    data it needs and how to get it in ("Utilisation needs shift data:
    import the technicians' shifts"); without it the generic "no jobs in this
    period" text is shown.

    Honest numbers (all optional):

    - ``outcome_window``: how long after its period column a fact's outcome
      may still change (a ``timedelta``, or the name of the plugin's setting
      that holds it as a number of days, e.g. ``"callback_window_days"``).
      Facts whose window is still open are left out of the value and counted
      as ``pending``; the value is ``provisional`` while any are.
      ``outcome_window_label`` says so in words in the drill-down;
      ``outcome_settled(context)``, a SQL condition, marks facts whose outcome
      is already final inside the window (a job already called back): they
      are left out with the rest of the open window (counting the failures
      known so far without the successes still to come would bias the value
      down) but are not ``pending``, since they cannot change.
    - ``min_sample``: the fewest facts in a value's sample for it to get a
      green/amber/red status (a whole number, or a setting name); by default
      ``KPI_STATUS_MIN_SAMPLE``. Below it the status is ``insufficient``.
    - ``exclusions``: an ordered tuple of :class:`Exclusion` saying why a
      fact is not in the sample (cancelled, not completed, no arrival time
      recorded...): the drill-down lists each fact left out with the first
      reason that applies.
    - ``notes``: an ordered tuple of :class:`Note` saying something about a
      fact that is counted (called back; counted as fixed because its
      callback's attribution was disputed and accepted): the drill-down gives
      each counted fact the first note that applies. Note codes differ from
      each other and from the exclusion codes.

    ``version`` (a whole number from 1, default 1) names the definition: bump
    it whenever a release changes what the metric computes (its numerator,
    denominator, period column or sample), so that values computed before and
    after can be told apart. The host makes a *definition fingerprint* of the
    key, the version and the plugin settings the builders read through
    ``context.setting``; every KPI answer, report and closed month's snapshot
    names the fingerprint it was computed with.
    """

    key: str
    label: str
    description: str
    formula: str
    unit: str
    direction: Direction
    kind: MetricKind
    numerator: ExpressionBuilder
    denominator: ExpressionBuilder
    period_column: ExpressionBuilder
    source: MetricSource = "jobs"
    default_target: Target | None = None
    empty_hint: str = ""
    outcome_window: timedelta | str | None = None
    outcome_window_label: str = "Outcome not known yet: its window is still open"
    outcome_settled: ExpressionBuilder | None = None
    min_sample: int | str | None = None
    exclusions: tuple[Exclusion, ...] = ()
    notes: tuple[Note, ...] = ()
    version: int = 1

    def outcome_window_of(self, ctx: MetricContext) -> timedelta | None:
        """The outcome window as a duration: declared, or the plugin setting it names (in days)."""
        window = self.outcome_window
        if isinstance(window, str):
            days = ctx.setting(window, None)
            return timedelta(days=days) if isinstance(days, int | float) and days > 0 else None
        return window

    def min_sample_of(self, ctx: MetricContext, default: int) -> int:
        """The fewest facts a value needs for a status: declared, the plugin setting it names, or ``default``."""
        minimum = self.min_sample
        if isinstance(minimum, str):
            minimum = ctx.setting(minimum, None)
        return int(minimum) if isinstance(minimum, int | float) and minimum >= 0 else default

    def __post_init__(self) -> None:
        _require_key("metric", self.key)
        for name in ("label", "description", "formula", "unit"):
            _require_text("metric", self.key, name, getattr(self, name))
        if not isinstance(self.empty_hint, str) or len(self.empty_hint) > EMPTY_HINT_MAX:
            raise DeclarationError(
                f"metric {self.key!r}: empty_hint must be a string of at most {EMPTY_HINT_MAX} characters"
            )
        _require_choice("metric", self.key, "direction", self.direction, DIRECTIONS)
        _require_choice("metric", self.key, "kind", self.kind, METRIC_KINDS)
        _require_choice("metric", self.key, "source", self.source, METRIC_SOURCES)
        for name in ("numerator", "denominator", "period_column"):
            if not callable(getattr(self, name)):
                raise DeclarationError(f"metric {self.key!r}: {name} must be a callable(context)")
        if self.default_target is not None:
            if not isinstance(self.default_target, Target):
                raise DeclarationError(f"metric {self.key!r}: default_target must be a Target")
            self.default_target.check(self.key, self.direction)
        self._check_honesty()
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 1 <= self.version <= MAX_VERSION:
            raise DeclarationError(f"metric {self.key!r}: version must be a whole number from 1 to {MAX_VERSION}")

    def _check_honesty(self) -> None:
        window = self.outcome_window
        if window is not None and not (
            (isinstance(window, timedelta) and window > timedelta(0)) or (isinstance(window, str) and window)
        ):
            raise DeclarationError(
                f"metric {self.key!r}: outcome_window must be a positive timedelta or the name of a plugin setting"
            )
        _require_text("metric", self.key, "outcome_window_label", self.outcome_window_label)
        if self.outcome_settled is not None and not callable(self.outcome_settled):
            raise DeclarationError(f"metric {self.key!r}: outcome_settled must be a callable(context)")
        minimum = self.min_sample
        if minimum is not None and not (
            (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum >= 0)
            or (isinstance(minimum, str) and minimum)
        ):
            raise DeclarationError(f"metric {self.key!r}: min_sample must be a whole number >= 0 or a setting name")
        if not isinstance(self.exclusions, tuple) or not all(isinstance(e, Exclusion) for e in self.exclusions):
            raise DeclarationError(f"metric {self.key!r}: exclusions must be a tuple of Exclusion")
        codes = [exclusion.code for exclusion in self.exclusions]
        if len(set(codes)) != len(codes) or {WINDOW_OPEN, NOT_IN_SAMPLE} & set(codes):
            raise DeclarationError(
                f"metric {self.key!r}: exclusion codes must be distinct and not {WINDOW_OPEN} or {NOT_IN_SAMPLE}"
            )
        if not isinstance(self.notes, tuple) or not all(isinstance(note, Note) for note in self.notes):
            raise DeclarationError(f"metric {self.key!r}: notes must be a tuple of Note")
        notes = [note.code for note in self.notes]
        if len(set(notes)) != len(notes) or {WINDOW_OPEN, NOT_IN_SAMPLE, *codes} & set(notes):
            raise DeclarationError(
                f"metric {self.key!r}: note codes must be distinct, and not {WINDOW_OPEN}, {NOT_IN_SAMPLE} "
                "or an exclusion's code"
            )


@dataclass(frozen=True)
class FormField:
    """One question on the managers' evaluation form.

    Types: ``rating`` (1-5), ``yes_no``, ``number`` (between ``minimum`` and
    ``maximum``), ``choice`` (one of ``choices``) and ``text`` (free text,
    never scored). ``weight`` is the field's share in the evaluation score; a
    field with weight 0 is asked but not scored. For ``choice`` fields the
    choices are ordered worst to best when scored. ``scale_labels``, for
    ``rating`` and ``number`` fields, says in words what the two ends of the
    scale mean, lowest first: ``("Poor", "Excellent")`` labels 1 and 5.
    ``asked_of_technicians`` decides whether the question is also on the
    self-appraisal form, where technicians answer it about themselves (False
    for a question only a manager can answer).
    """

    key: str
    label: str
    type: FieldType
    required: bool = False
    weight: float = 1.0
    help_text: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    scale_labels: tuple[str, ...] = ()
    asked_of_technicians: bool = True

    def __post_init__(self) -> None:
        _require_key("form field", self.key)
        _require_text("form field", self.key, "label", self.label)
        _require_choice("form field", self.key, "type", self.type, FIELD_TYPES)
        if not isinstance(self.weight, int | float) or self.weight < 0:
            raise DeclarationError(f"form field {self.key!r}: weight must be a number >= 0")
        if self.type == "choice" and len(self.choices) < 2:
            raise DeclarationError(f"form field {self.key!r}: a choice field needs at least 2 choices")
        if self.type != "choice" and self.choices:
            raise DeclarationError(f"form field {self.key!r}: only choice fields take choices")
        if self.type == "number" and (self.minimum is None or self.maximum is None):
            raise DeclarationError(f"form field {self.key!r}: a number field needs minimum and maximum")
        if self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise DeclarationError(f"form field {self.key!r}: minimum must be below maximum")
        if self.type == "text" and self.weight:
            raise DeclarationError(f"form field {self.key!r}: text fields cannot be scored; use weight=0")
        if not isinstance(self.asked_of_technicians, bool):
            raise DeclarationError(f"form field {self.key!r}: asked_of_technicians must be True or False")
        if self.scale_labels:
            if self.type not in ("rating", "number"):
                raise DeclarationError(f"form field {self.key!r}: only rating and number fields take scale_labels")
            labels = self.scale_labels
            words = all(isinstance(label, str) and label.strip() for label in labels)
            if not isinstance(labels, tuple) or len(labels) != 2 or not words:
                raise DeclarationError(
                    f"form field {self.key!r}: scale_labels must be a tuple of two labels, lowest first, "
                    "such as ('Poor', 'Excellent')"
                )


ReportRenderer = Callable[[Any, IO[bytes]], None]


@dataclass(frozen=True)
class ReportFormat:
    """A report output format.

    ``render(report, stream)`` writes the report (the host's report-data
    object, the same numbers the API answers) to a binary stream.
    """

    key: str
    label: str
    media_type: str
    file_extension: str
    render: ReportRenderer

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not re.match(r"^[a-z][a-z0-9_]*$", self.key):
            raise DeclarationError(f"report format key {self.key!r} must be a lower-case word like 'pdf'")
        _require_text("report format", self.key, "label", self.label)
        if not isinstance(self.media_type, str) or "/" not in self.media_type:
            raise DeclarationError(f"report format {self.key!r}: media_type must look like 'type/subtype'")
        if not isinstance(self.file_extension, str) or not re.match(r"^[a-z0-9]+$", self.file_extension):
            raise DeclarationError(f"report format {self.key!r}: file_extension must be like 'pdf' (no dot)")
        if not callable(self.render):
            raise DeclarationError(f"report format {self.key!r}: render must be callable(report, stream)")


JobCallable = Callable[..., Any]


@dataclass(frozen=True)
class JobSpec:
    """A background job the runner can execute, now or on a schedule.

    ``run(context, **params)`` does the work; ``context`` is the host's job
    context (database access, progress reporting, settings). ``schedule`` is
    a default cron expression (five fields) or ``None`` for on-demand only.
    ``timeout`` is in seconds; ``retries`` failed attempts are retried with
    back-off before the job is marked failed.

    ``takes_file=True``: the job needs an uploaded file. ``POST
    /api/v1/job-runs`` then takes a multipart upload (the file in the field
    ``file``, the job's key in ``job_key``, its keyword arguments as JSON text
    in ``params``); the host keeps the file for the run (never in ``params``)
    and the job reads it as ``context.file`` (an :class:`UploadedFile`).
    ``permission`` is the key of a permission (the core's or one a plugin
    declares with ``kpi_permissions``) that lets its holders run this job
    through the API, beside admins (``job_runs.run``); they may then read the
    runs they asked for.
    """

    key: str
    label: str
    run: JobCallable
    schedule: str | None = None
    timeout: int = 600
    retries: int = 2
    takes_file: bool = False
    permission: str | None = None

    def __post_init__(self) -> None:
        _require_key("job", self.key)
        if not isinstance(self.takes_file, bool):
            raise DeclarationError(f"job {self.key!r}: takes_file must be True or False")
        permission = self.permission
        if permission is not None and (not isinstance(permission, str) or not KEY_PATTERN.match(permission)):
            raise DeclarationError(f"job {self.key!r}: permission must be a permission's key or None")
        _require_text("job", self.key, "label", self.label)
        if not callable(self.run):
            raise DeclarationError(f"job {self.key!r}: run must be callable(context, **params)")
        if self.schedule is not None and (not isinstance(self.schedule, str) or len(self.schedule.split()) != 5):
            raise DeclarationError(f"job {self.key!r}: schedule must be a 5-field cron expression or None")
        if not isinstance(self.timeout, int) or self.timeout <= 0:
            raise DeclarationError(f"job {self.key!r}: timeout must be a positive number of seconds")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            raise DeclarationError(f"job {self.key!r}: retries must be between 0 and 10")


@dataclass(frozen=True)
class Widget:
    """A dashboard widget.

    Either a built-in ``type`` (``kpi_card``, ``trend``, ``leaderboard``,
    ``heatmap``, ``table``) showing ``metrics``, or ``type="custom"`` with
    ``module_url`` (an ES module the dashboard imports at run time) and
    ``element`` (the custom element tag it defines, with a dash).
    """

    key: str
    title: str
    type: WidgetType
    metrics: tuple[str, ...] = ()
    size: str = "medium"
    module_url: str | None = None
    element: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_key("widget", self.key)
        _require_text("widget", self.key, "title", self.title)
        _require_choice("widget", self.key, "type", self.type, WIDGET_TYPES)
        _require_choice("widget", self.key, "size", self.size, WIDGET_SIZES)
        if not isinstance(self.metrics, tuple):
            raise DeclarationError(f"widget {self.key!r}: metrics must be a tuple of metric keys")
        if self.type == "custom":
            if not self.module_url or not self.element or "-" not in self.element:
                raise DeclarationError(
                    f"widget {self.key!r}: a custom widget needs module_url and an element tag with a dash"
                )
        elif not self.metrics:
            raise DeclarationError(f"widget {self.key!r}: a {self.type} widget needs at least one metric")


class SettingValueError(ValueError):
    """A value does not suit a setting; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class Setting:
    """A setting of a plugin that admins may change (through the API and the admin page).

    ``key`` is namespaced like every key (``quality.callback_window_days``);
    the plugin reads it by the part after the first dot:
    ``ctx.setting("callback_window_days", 30)`` in a metric builder,
    ``context.plugin_settings`` in a job. ``type`` is ``integer``,
    ``number``, ``boolean``, ``text`` or ``choice`` (one of ``choices``);
    ``minimum``/``maximum`` bound numbers. ``default`` applies until an admin
    sets a value. Changing a setting used by a metric invalidates cached KPI
    results.
    """

    key: str
    label: str
    type: SettingType
    default: Any
    description: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_key("setting", self.key)
        _require_text("setting", self.key, "label", self.label)
        _require_choice("setting", self.key, "type", self.type, SETTING_TYPES)
        if self.type == "choice" and not self.choices:
            raise DeclarationError(f"setting {self.key!r}: a choice setting needs choices")
        try:
            self.parse(self.default)
        except SettingValueError as exc:
            raise DeclarationError(f"setting {self.key!r}: default {self.default!r} is invalid: {exc}") from None

    @property
    def name(self) -> str:
        """The key without its namespace: what the plugin reads it by."""
        return self.key.split(".", 1)[1]

    def parse(self, value: Any) -> Any:
        """``value`` as this setting's type; SettingValueError says what is wrong."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise SettingValueError("must be true or false")
            return value
        if self.type in ("integer", "number"):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric or (self.type == "integer" and isinstance(value, float) and not value.is_integer()):
                raise SettingValueError(f"must be {'a whole number' if self.type == 'integer' else 'a number'}")
            if value != value or value in (float("inf"), float("-inf")):
                raise SettingValueError("must be a finite number")
            if self.minimum is not None and value < self.minimum:
                raise SettingValueError(f"must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise SettingValueError(f"must be at most {self.maximum:g}")
            return int(value) if self.type == "integer" else float(value)
        if not isinstance(value, str):
            raise SettingValueError("must be a string")
        if self.type == "choice" and value not in self.choices:
            raise SettingValueError(f"must be one of {', '.join(self.choices)}")
        if len(value) > 1000:
            raise SettingValueError("must be at most 1000 characters")
        return value


class JobFieldValueError(ValueError):
    """A value does not suit a job field; the message says why, for the person who gave it."""


@dataclass(frozen=True)
class JobField:
    """An extra field of every job, declared by a plugin: a fact its KPIs need that the core job lacks.

    ``key`` is namespaced (``safety.ppe_checked``, at most 120 characters);
    ``label`` and ``help_text`` say in words what it records. ``type`` is
    ``boolean``, ``integer``, ``number``, ``text`` (at most 1,000
    characters) or ``choice`` (one of ``choices``); ``minimum``/``maximum``
    bound numbers. A ``required`` field must be given for every job created
    and in every row of an import. Job imports take the field as a column
    named by its key, the jobs API as ``fields.<key>``, and metric builders
    read it with ``ctx.job_field(key)``.
    """

    key: str
    label: str
    type: JobFieldType
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help_text: str = ""

    def __post_init__(self) -> None:
        _require_key("job field", self.key)
        if len(self.key) > JOB_FIELD_KEY_MAX:
            raise DeclarationError(f"job field {self.key!r}: key must be at most {JOB_FIELD_KEY_MAX} characters")
        _require_text("job field", self.key, "label", self.label)
        _require_choice("job field", self.key, "type", self.type, JOB_FIELD_TYPES)
        if not isinstance(self.required, bool):
            raise DeclarationError(f"job field {self.key!r}: required must be True or False")
        _require_text("job field", self.key, "help_text", self.help_text, allow_empty=True)
        if self.type == "choice":
            choices = self.choices
            if not isinstance(choices, tuple) or not choices or len(set(choices)) != len(choices):
                raise DeclarationError(f"job field {self.key!r}: a choice field needs a tuple of distinct choices")
            if not all(isinstance(choice, str) and choice.strip() == choice and choice for choice in choices):
                raise DeclarationError(f"job field {self.key!r}: choices must be non-empty text without outer spaces")
        elif self.choices:
            raise DeclarationError(f"job field {self.key!r}: only choice fields take choices")
        bounds = [bound for bound in (self.minimum, self.maximum) if bound is not None]
        if bounds and self.type not in ("integer", "number"):
            raise DeclarationError(f"job field {self.key!r}: only integer and number fields take minimum and maximum")
        if not all(isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) for b in bounds):
            raise DeclarationError(f"job field {self.key!r}: minimum and maximum must be finite numbers")
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise DeclarationError(f"job field {self.key!r}: minimum must not be above maximum")

    def parse(self, value: Any) -> Any:
        """``value`` (as JSON gives it) as this field's type; JobFieldValueError says what is wrong."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise JobFieldValueError("must be true or false")
            return value
        if self.type in ("integer", "number"):
            return self._number(value)
        if not isinstance(value, str):
            raise JobFieldValueError("must be text")
        if self.type == "choice":
            if value not in self.choices:
                raise JobFieldValueError(f"must be one of {', '.join(self.choices)}")
            return value
        if len(value) > JOB_FIELD_TEXT_MAX:
            raise JobFieldValueError(f"must be at most {JOB_FIELD_TEXT_MAX:,} characters")
        if "\x00" in value:
            raise JobFieldValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise JobFieldValueError("must be valid text: it contains a broken character") from None
        return value

    def _number(self, value: Any) -> int | float:
        whole = self.type == "integer"
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (whole and isinstance(value, float) and not value.is_integer()):
            raise JobFieldValueError("must be a whole number" if whole else "must be a number")
        if not math.isfinite(value):
            raise JobFieldValueError("must be a finite number")
        if whole and abs(value) > JOB_FIELD_INTEGER_MAX:
            raise JobFieldValueError(f"must be between {-JOB_FIELD_INTEGER_MAX} and {JOB_FIELD_INTEGER_MAX}")
        if self.minimum is not None and value < self.minimum:
            raise JobFieldValueError(f"must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise JobFieldValueError(f"must be at most {self.maximum:g}")
        return int(value) if whole else float(value)


RULE_KINDS: tuple[str, ...] = ("column", "fixed", "value_map", "date_time", "minus_minutes")
IMPORT_FIELD = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
"""A job field of an import: a column of the jobs import (``status``) or a plugin's namespaced field."""
MAX_MAPPED_MINUTES = 100_000
"""The largest duration a ``minus_minutes`` rule subtracts (about 69 days), as for ``estimated_minutes``."""


@dataclass(frozen=True)
class FieldRule:
    """How a mapped import fills one job field from each row of the source file.

    ``kind`` is one of:

    - ``column``: the value of the source ``column``;
    - ``fixed``: ``value``, the same on every row;
    - ``value_map``: the value of ``column`` translated by ``values`` (source
      value -> job value, such as ``{"pro_canceled": "cancelled"}``); source
      values are compared ignoring case and surrounding spaces, and a value the
      map does not name is kept as it is (and checked like any other);
    - ``date_time``: a date from ``column`` joined with a time of day from
      ``time_column``;
    - ``minus_minutes``: the time in the job field ``base`` (filled by another
      rule of the same mapping) minus the number of minutes in ``column``, such
      as the start of work as the finish minus the time on the job.

    Source columns are matched by name ignoring case and surrounding spaces.
    """

    kind: str
    column: str | None = None
    value: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    time_column: str | None = None
    base: str | None = None

    def __post_init__(self) -> None:
        _require_choice("field rule", self.kind, "kind", self.kind, RULE_KINDS)
        needs = {
            "column": ("column",),
            "fixed": ("value",),
            "value_map": ("column", "values"),
            "date_time": ("column", "time_column"),
            "minus_minutes": ("base", "column"),
        }[self.kind]
        for name in ("column", "value", "values", "time_column", "base"):
            given = getattr(self, name)
            if name in needs and not given:
                raise DeclarationError(f"a {self.kind} rule needs {name}")
            if name not in needs and given:
                raise DeclarationError(f"a {self.kind} rule takes no {name}")
        for name in ("column", "time_column"):
            column = getattr(self, name)
            if column is not None and (not isinstance(column, str) or not column.strip() or len(column) > 200):
                raise DeclarationError(f"{name} must be a column name of 1 to 200 characters")
        if self.value is not None and (not isinstance(self.value, str) or len(self.value) > 200):
            raise DeclarationError("value must be text of at most 200 characters")
        if self.values:
            pairs = self.values.items() if isinstance(self.values, Mapping) else None
            if pairs is None or not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
                raise DeclarationError("values must map source values (text) to job values (text)")
            if len(self.values) > 200:
                raise DeclarationError("values may translate at most 200 source values")
        if self.base is not None and (not isinstance(self.base, str) or not IMPORT_FIELD.match(self.base)):
            raise DeclarationError(f"base {self.base!r} must name a job field, such as 'completed_at'")

    def columns(self) -> tuple[str, ...]:
        """The source columns this rule reads."""
        return tuple(name for name in (self.column, self.time_column) if name)


@dataclass(frozen=True)
class ImportMapping:
    """How the columns of any CSV or XLSX file become the jobs an import writes.

    ``fields`` maps each job field filled (``external_ref``, ``status``,
    ``completed_at``, ...: the columns ``GET /api/v1/imports/jobs/columns``
    lists) to its :class:`FieldRule`; a field not named stays empty. Times are
    read with ``datetime_format`` (a ``strptime`` format such as
    ``"%m/%d/%Y %I:%M %p"``; ``None``: ISO 8601), the date and time of a
    ``date_time`` rule with ``date_format`` and ``time_format`` (``None``: ISO
    ``2026-03-02`` and ``14:30``), and a time without an offset is in
    ``timezone`` (an IANA name; ``None``: the company's). Spreadsheet date
    cells need no format. The host checks the fields against the jobs import
    when the mapping is used; rows are then validated as in any import.
    """

    fields: Mapping[str, FieldRule]
    timezone: str | None = None
    datetime_format: str | None = None
    date_format: str | None = None
    time_format: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fields, Mapping) or not self.fields:
            raise DeclarationError("a mapping needs fields: each job field it fills, with its rule")
        for name, rule in self.fields.items():
            if not isinstance(name, str) or not IMPORT_FIELD.match(name):
                raise DeclarationError(f"mapping field {name!r} must name a job field, such as 'status'")
            if not isinstance(rule, FieldRule):
                raise DeclarationError(f"mapping field {name!r}: the rule must be a FieldRule")
            if rule.kind == "minus_minutes":
                based = self.fields.get(rule.base or "")
                if based is None or based.kind == "minus_minutes" or rule.base == name:
                    raise DeclarationError(
                        f"mapping field {name!r}: base {rule.base!r} must be another field of the mapping, "
                        "filled by a column or a date and time"
                    )
        if self.timezone is not None:
            _require_zone(self.timezone)
        for name in ("datetime_format", "date_format", "time_format"):
            _require_format(name, getattr(self, name))

    def columns(self) -> tuple[str, ...]:
        """Every source column the mapping reads, once each, in the order of its fields."""
        return tuple(dict.fromkeys(column for rule in self.fields.values() for column in rule.columns()))


def _require_zone(name: object) -> None:
    try:
        ZoneInfo(name)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DeclarationError(f"timezone {name!r} must be an IANA time zone such as 'America/Chicago'") from None


def _require_format(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or "%" not in value or len(value) > 60:
        raise DeclarationError(f"{name} must be a strptime format such as '%m/%d/%Y', or None for ISO 8601")
    try:
        datetime.strptime(datetime(2026, 3, 2, 14, 30).strftime(value), value)
    except ValueError:
        raise DeclarationError(f"{name} {value!r} is not a format that reads back what it writes") from None


@dataclass(frozen=True)
class ImportPreset:
    """A ready mapping for the job export of a known system, which the import page offers by its label.

    ``key`` is namespaced (``housecall_pro.job_report``); ``label`` names the
    export in words; ``description`` says in a sentence or two which export
    it reads and how to produce it; ``source`` is where the export's columns
    are publicly documented (a URL), which a preset must follow; ``mapping``
    is the :class:`ImportMapping`. Anyone may copy a preset into a saved
    mapping and change it.
    """

    key: str
    label: str
    description: str
    source: str
    mapping: ImportMapping

    def __post_init__(self) -> None:
        _require_key("import preset", self.key)
        _require_text("import preset", self.key, "label", self.label)
        _require_text("import preset", self.key, "description", self.description)
        _require_text("import preset", self.key, "source", self.source)
        if not isinstance(self.mapping, ImportMapping):
            raise DeclarationError(f"import preset {self.key!r}: mapping must be an ImportMapping")


CHANNEL_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
"""A notification channel's key: one lower-case word (``email``, ``webhook``, ``sms``)."""
DEFAULT_CHANNEL_TIMEOUT = 60


class DeliveryFailed(Exception):
    """Raised by a channel's ``send`` when a message was not delivered; the message says why, in words.

    ``permanent=True`` when trying again cannot help (the address is invalid, the
    receiver refused the recipient, the URL is refused): the message is marked
    failed at once. Otherwise the host retries it with back-off and marks it
    failed when its attempts are spent. Any other exception counts as a
    temporary failure, described by its type and text.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: its file name, media type and bytes (a rendered PDF report, say)."""

    name: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as the host hands it to a channel's ``send``: everything needed to deliver it.

    ``to`` is the address in the channel's own terms (an e-mail address, a
    URL, a phone number). ``subject`` and ``text`` (plain text) are always
    given; ``html`` is an HTML fragment (the e-mail channel puts it inside its
    layout) or None; ``payload`` is JSON data for machine receivers
    (webhooks); ``event`` names what happened (``report.finished``) for event
    messages. ``delivery_id`` is stable across every attempt of this message:
    send it where the receiver can see it (the e-mail's Message-ID, a webhook
    header), so that a receiver can drop a repeat. ``attempt`` counts from 1.
    ``unsubscribe_url`` (an https URL that turns the subscription off with one
    POST, RFC 8058) and ``unsubscribe_page`` (a page with a button, for a link
    in the body) are given for messages sent to a user under a subscription.
    ``secret`` is the signing secret of the receiving endpoint, where it has
    one; ``options`` holds the recipient's options for the channel (a webhook
    endpoint's ``format``: ``kpi`` or ``slack``).
    """

    id: int
    channel: str
    to: str
    subject: str
    text: str
    delivery_id: str
    idempotency_key: str
    html: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    event: str | None = None
    kind: str | None = None
    attempt: int = 1
    created_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    unsubscribe_url: str | None = None
    unsubscribe_page: str | None = None
    secret: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelContext:
    """What the host hands a channel besides the message.

    ``settings`` are the host's settings (``KPI_*``, such as ``smtp_url``);
    ``plugin_settings`` the channel plugin's own settings by name (see
    ``kpi_settings``); ``data_dir`` the host's data directory, for channels
    that write files; ``timeout`` the seconds one send may take before the
    host gives up on it.
    """

    settings: Any
    plugin_settings: Mapping[str, Any] = field(default_factory=dict)
    data_dir: Any = None
    timeout: int = DEFAULT_CHANNEL_TIMEOUT


ChannelSender = Callable[[OutgoingMessage, ChannelContext], str | None]


@dataclass(frozen=True)
class NotificationChannel:
    """A way of delivering messages to people or systems: e-mail, webhooks, SMS, a chat app.

    ``key`` is one lower-case word (``email``); ``label`` names it in words.
    ``send(message, context)`` delivers one
    :class:`OutgoingMessage` and returns a short receipt in words (``"250
    accepted by mail.example.com"``) or None; it raises :class:`DeliveryFailed`
    (or any exception) when the message was not delivered. ``settings`` names
    the settings it reads (``KPI_SMTP_URL``, or its plugin settings' keys), so
    the admin page can say what to set. ``describe(context)``, optional, says
    in one sentence where messages go now ("written as .eml files to
    var/mail"). ``check_address(address)``, optional, returns why an address
    cannot receive this channel's messages, or None. ``deduplicates`` says
    that a receiver can tell a repeat of a message from a new one by its
    ``delivery_id``: only then does the host send a message again after the
    worker sending it died mid-send (see docs/notifications.md).
    ``timeout`` is the longest one send may take, in seconds. ``attachments``
    says that ``send`` delivers ``message.attachments`` (files, such as a
    subscription's PDF); people may ask for attachments only on such channels.
    """

    key: str
    label: str
    send: ChannelSender
    settings: tuple[str, ...] = ()
    description: str = ""
    describe: Callable[[ChannelContext], str] | None = None
    check_address: Callable[[str], str | None] | None = None
    deduplicates: bool = False
    timeout: int = DEFAULT_CHANNEL_TIMEOUT
    attachments: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not CHANNEL_KEY.match(self.key):
            raise DeclarationError(f"notification channel key {self.key!r} must be a lower-case word like 'email'")
        _require_text("notification channel", self.key, "label", self.label)
        _require_text("notification channel", self.key, "description", self.description, allow_empty=True)
        if not callable(self.send):
            raise DeclarationError(f"notification channel {self.key!r}: send must be callable(message, context)")
        for name in ("describe", "check_address"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise DeclarationError(f"notification channel {self.key!r}: {name} must be callable or None")
        if not isinstance(self.settings, tuple) or not all(isinstance(name, str) and name for name in self.settings):
            raise DeclarationError(f"notification channel {self.key!r}: settings must be a tuple of setting names")
        for flag in ("deduplicates", "attachments"):
            if not isinstance(getattr(self, flag), bool):
                raise DeclarationError(f"notification channel {self.key!r}: {flag} must be True or False")
        if not isinstance(self.timeout, int) or isinstance(self.timeout, bool) or not 1 <= self.timeout <= 3600:
            raise DeclarationError(f"notification channel {self.key!r}: timeout must be 1 to 3600 seconds")


ALERT_RULE_KINDS: tuple[str, ...] = ("clearly_red", "changed", "callback_disputed")
ALERT_RULE_PERIODS: tuple[str, ...] = ("week", "month")
ALERT_RULE_DIRECTIONS: tuple[str, ...] = ("worse", "either")


@dataclass(frozen=True)
class AlertRule:
    """A default rule for raising alerts about a KPI, which a plugin ships for admins to keep, change or turn off.

    ``kind`` is ``clearly_red`` (the value's 95 % interval lies wholly in the
    red band for ``periods`` consecutive complete periods: a rate KPI with a
    target), ``changed`` (the value moved by more than ``threshold``, in the
    KPI's own unit, a fraction for rates: 0.1 is 10 points, against the period
    before; ``direction`` ``worse`` or ``either``), or ``callback_disputed`` (a
    callback of a technician's job was disputed; ``kpi`` names the KPI it
    concerns, or None). ``period`` is ``week`` or ``month``. The host makes
    one stored rule of each declaration, once (an admin's changes stay), and
    evaluates every rule after each import and on a schedule.
    """

    key: str
    kind: str
    kpi: str | None = None
    period: str = "month"
    periods: int = 2
    threshold: float | None = None
    direction: str = "worse"
    enabled: bool = True

    def __post_init__(self) -> None:
        _require_key("alert rule", self.key)
        _require_choice("alert rule", self.key, "kind", self.kind, ALERT_RULE_KINDS)
        _require_choice("alert rule", self.key, "period", self.period, ALERT_RULE_PERIODS)
        _require_choice("alert rule", self.key, "direction", self.direction, ALERT_RULE_DIRECTIONS)
        if self.kpi is not None and (not isinstance(self.kpi, str) or not KEY_PATTERN.match(self.kpi)):
            raise DeclarationError(f"alert rule {self.key!r}: kpi must be a KPI's key or None")
        if self.kind != "callback_disputed" and self.kpi is None:
            raise DeclarationError(f"alert rule {self.key!r}: a {self.kind} rule needs the kpi it watches")
        if isinstance(self.periods, bool) or not isinstance(self.periods, int) or not 1 <= self.periods <= 24:
            raise DeclarationError(f"alert rule {self.key!r}: periods must be 1 to 24")
        if self.kind == "changed":
            threshold = self.threshold
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < math.inf:
                raise DeclarationError(f"alert rule {self.key!r}: a changed rule needs a threshold above 0")
        if not isinstance(self.enabled, bool):
            raise DeclarationError(f"alert rule {self.key!r}: enabled must be True or False")


ROLE_NAMES: tuple[str, ...] = ("admin", "manager", "technician")


@dataclass(frozen=True)
class Permission:
    """A permission a plugin adds beside the core's, for its routes and jobs to require.

    ``key`` is namespaced by the plugin (``safety.incidents_manage``), never
    in one of the core's namespaces (``jobs.``, ``users.``, ...); ``label``
    says in words what it allows ("Record and close safety incidents");
    ``roles`` are the roles that have it by default. Admins always have it;
    an admin may grant it to, or take it from, managers and technicians
    (``PUT /api/v1/permissions/<key>``, audited), and that choice stays.
    """

    key: str
    label: str
    roles: tuple[str, ...] = ("admin",)

    def __post_init__(self) -> None:
        _require_key("permission", self.key)
        _require_text("permission", self.key, "label", self.label)
        roles = self.roles
        if isinstance(roles, str) or not isinstance(roles, tuple | list):
            raise DeclarationError(f"permission {self.key!r}: roles must be a tuple of role names")
        for role in roles:
            _require_choice("permission", self.key, "roles", role, ROLE_NAMES)
        object.__setattr__(self, "roles", tuple(role for role in ROLE_NAMES if role == "admin" or role in roles))


@dataclass(frozen=True)
class UploadedFile:
    """The file uploaded with a run of a job that ``takes_file`` (``context.file``).

    ``name`` is the file name the uploader's browser gave (for messages only),
    ``media_type`` what it said the file is, ``size`` its length in bytes and
    ``path`` where the host keeps it for the run. ``open()`` reads it as
    bytes; wrap it in ``io.TextIOWrapper(f, "utf-8")`` for text.
    """

    name: str
    media_type: str
    size: int
    path: Any

    def open(self) -> IO[bytes]:
        """The file's bytes, from the start."""
        return open(self.path, "rb")


DECLARATION_TYPES: dict[str, type] = {
    "kpi_metrics": Metric,
    "kpi_form_fields": FormField,
    "kpi_report_formats": ReportFormat,
    "kpi_jobs": JobSpec,
    "kpi_widgets": Widget,
    "kpi_settings": Setting,
    "kpi_import_presets": ImportPreset,
    "kpi_job_fields": JobField,
    "kpi_notification_channels": NotificationChannel,
    "kpi_permissions": Permission,
    "kpi_alert_rules": AlertRule,
}
"""Which declaration class each list-returning hook must return."""
