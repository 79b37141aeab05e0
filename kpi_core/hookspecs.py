"""The plugin contract of Handyman KPI.

Every hook a plugin may implement, each with the docstring that is its
reference documentation. Implement a hook with ``@kpi_core.hookimpl`` in a
module (or class) named by an entry point in the group ``kpi_core.plugins``.
Hooks take keyword arguments only, so new arguments can be added without
breaking existing plugins: accept just the ones you use.

The list hooks return lists of the frozen dataclasses in
:mod:`kpi_core.declarations`. Keys are global: a key already declared by
another plugin is a load error for the later plugin, which is then not loaded
at all (never half-registered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from os import PathLike

    from flask import Flask
    from flask_smorest import Blueprint

    from kpi_core.declarations import (
        AlertRule,
        FormField,
        ImportPreset,
        JobField,
        JobSpec,
        Metric,
        NotificationChannel,
        Permission,
        ReportFormat,
        Setting,
        Widget,
    )

PROJECT_NAME = "kpi_core"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def kpi_metrics() -> list[Metric]:
    """Declare KPIs.

    Called once at start-up. Return a list of :class:`~kpi_core.declarations.Metric`:
    key, label, description, formula in words, unit, direction, kind (rate or
    mean), source (jobs or evaluations), and callables that build the SQLAlchemy
    expressions for the numerator, the denominator and the timestamp that places
    a fact in a period, from the :class:`~kpi_core.declarations.MetricContext`
    the host passes them. An optional ``default_target`` gives green/amber
    thresholds and a weight until an admin sets their own; an optional
    ``empty_hint`` tells the dashboard's reader, in words, what the KPI needs
    where it has no value (for example data that only an import brings).

    Honest numbers, all optional: ``outcome_window`` is how long after its
    period column a fact's outcome may still change, as a ``timedelta`` or the
    name of the plugin's setting holding it in days (the quality plugin's
    first-time fix names ``callback_window_days``); facts whose window is still
    open are left out of the value and counted as ``pending``, and the row is
    ``provisional`` (``outcome_settled`` marks facts already final inside the
    window, left out too but not pending; ``outcome_window_label`` is the
    reason shown for the facts left out).
    ``min_sample`` (a number or a setting name) is the fewest facts a value
    needs for a green/amber/red status, else ``KPI_STATUS_MIN_SAMPLE``.
    ``exclusions`` is an ordered tuple of
    :class:`~kpi_core.declarations.Exclusion` (reason code, label in words, SQL
    condition) that the drill-down uses to say why each fact left out of the
    sample is left out ("cancelled", "no arrival time recorded"); ``notes``,
    an ordered tuple of :class:`~kpi_core.declarations.Note` of the same
    shape, says something about a fact that is counted ("called back within
    the window", "its callback was disputed and the dispute accepted"): the
    drill-down gives each counted fact the first note that applies as its
    reason.

    ``version`` (default 1) names the definition: bump it in the release that
    changes what the KPI computes. The host combines the key, the version and
    the plugin settings the builders read (``context.setting``) into a
    *definition fingerprint* that every KPI answer, report and closed month's
    snapshot names, so a number is always tied to the definition it came from.
    """


@hookspec
def kpi_form_fields() -> list[FormField]:
    """Declare questions for the managers' evaluation form.

    Called once at start-up. Return a list of :class:`~kpi_core.declarations.FormField`:
    key, label, type (rating 1-5, yes_no, number, choice, text), required,
    weight in the evaluation score, and help text. Rating and number fields
    may say what the ends of their scale mean with ``scale_labels``, lowest
    first (``("Poor", "Excellent")``), which the form shows beside 1 and 5.
    Technicians answer the same questions about themselves in a
    self-appraisal, which the manager sees beside their own answers; set
    ``asked_of_technicians=False`` on a question only a manager can answer.
    The host assembles the form from every plugin's fields, versions it, and
    validates answers against it.
    """


@hookspec
def kpi_report_formats() -> list[ReportFormat]:
    """Declare report output formats.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.ReportFormat`: key, label, media type, file
    extension, and ``render(report, stream)``, which writes the host's report
    data to a binary stream. Rendering runs in a background job.
    """


@hookspec
def kpi_jobs() -> list[JobSpec]:
    """Declare background jobs.

    Called once at start-up. Return a list of :class:`~kpi_core.declarations.JobSpec`:
    key, label, ``run(context, **params)``, a default cron schedule (or None),
    a timeout in seconds and a number of retries. The host runs them on RQ
    when Redis is configured, else on its in-process runner.
    """


@hookspec
def kpi_widgets() -> list[Widget]:
    """Declare dashboard widgets.

    Called once at start-up. Return a list of :class:`~kpi_core.declarations.Widget`:
    a built-in widget type showing metric keys, or a custom element loaded from
    an ES module URL (serve it from your package's static folder). The host
    offers every widget to users, who choose and arrange them.
    """


@hookspec
def kpi_settings() -> list[Setting]:
    """Declare settings that admins may change.

    Called once at start-up. Return a list of :class:`~kpi_core.declarations.Setting`:
    a namespaced key, label, type (integer, number, boolean, text, choice),
    default, description, unit and bounds. Admins see and change them through
    ``/api/v1/plugins/settings``; values are validated against the declaration
    and audited. The plugin reads its own settings by name without the
    namespace: ``ctx.setting(name, default)`` in metric builders,
    ``context.plugin_settings[name]`` in jobs. A change invalidates cached KPI
    results.
    """


@hookspec
def kpi_import_presets() -> list[ImportPreset]:
    """Ship ready column mappings for the job exports of other systems.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.ImportPreset`: a namespaced key, a label
    naming the export (``"Housecall Pro: job report"``), a description, the
    public source that documents the export's columns, and an
    :class:`~kpi_core.declarations.ImportMapping` that fills each job field
    from those columns (a column, a fixed value, a value map, a date joined
    with a time, or a time minus a duration in minutes), with the export's
    date formats and time zone. The import page, ``POST
    /api/v1/imports/jobs?preset=<key>`` and ``kpi import jobs FILE --preset
    <key>`` use it like a saved mapping; a file without a column the preset
    reads is refused with one error naming every missing column. Follow the
    documented column names exactly and test the preset on a sample file
    that follows them.
    """


@hookspec
def kpi_job_fields() -> list[JobField]:
    """Declare extra fields of every job, for facts your KPIs need that the core job lacks.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.JobField`: a namespaced key
    (``safety.ppe_checked``), a label and help text in words, a type
    (boolean, integer, number, text, choice), whether it is required, bounds
    for numbers and the choices of a choice. The host stores the values (one
    typed value per job and field), validates them against the declaration,
    and shares them: job imports take a column named by the key (CSV, JSON
    Lines, or any file through a column mapping, whose page offers the
    field), the jobs API reads and writes them under ``fields``, and metric
    builders read them with ``ctx.job_field(key)``. A value that changes
    invalidates the cached KPI results of the job's months.
    """


@hookspec
def kpi_notification_channels() -> list[NotificationChannel]:
    """Declare ways of delivering messages: e-mail, webhooks, SMS, a chat app.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.NotificationChannel`: a key (one lower-case
    word, ``sms``), a label, ``send(message, context)``, the settings it reads,
    and whether a receiver can drop a repeated message by its delivery id
    (``deduplicates``). The host keeps every message in its outbox (the
    ``notification_messages`` table, written in the transaction of whatever
    caused it) and delivers it from a background job: ``send`` gets an
    :class:`~kpi_core.declarations.OutgoingMessage` (address, subject, plain
    text, an HTML fragment, JSON payload, attachments, delivery id, unsubscribe
    links) and a :class:`~kpi_core.declarations.ChannelContext` (settings, the
    plugin's settings, the data directory, a timeout). Return a short receipt
    in words, or raise :class:`~kpi_core.declarations.DeliveryFailed`
    (``permanent=True`` when trying again cannot help); the host retries other
    failures with back-off, then marks the message failed for admins to see and
    send again. ``send`` runs in a worker, possibly in another process than the
    one that queued the message: read everything from its arguments.
    """


@hookspec
def kpi_alert_rules() -> list[AlertRule]:
    """Ship default rules for alerts about your KPIs.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.AlertRule`: a namespaced key, the kind
    (``clearly_red`` for N consecutive complete periods, ``changed`` by more
    than a threshold against the period before, or ``callback_disputed``), the
    KPI it watches and the period (week or month). The host stores each rule
    once, the first time it sees the key; admins may then change it or turn it
    off (their changes stay; a rule a plugin declared cannot be deleted, only
    turned off). Rules are evaluated by the ``notify.alerts`` job after every
    import and on a schedule; an alert is raised once per rule, technician and
    period, sent to the technician's managers and emitted as the
    ``alert.raised`` webhook event.
    """


@hookspec
def kpi_permissions() -> list[Permission]:
    """Declare permissions for your routes and jobs to require.

    Called once at start-up. Return a list of
    :class:`~kpi_core.declarations.Permission`: a key in your plugin's
    namespace (``safety.incidents_read``), a label saying in words what it
    allows, and the roles that have it by default (admins always do). They
    stand beside the core's in docs/permissions.md, ``GET
    /api/v1/permissions`` and the admin page, where an admin may grant one
    to, or take it from, managers and technicians. Require one by its key:
    ``requires(blp, "safety.incidents_read")`` from ``kpi_core.routes`` on
    a route, ``JobSpec(permission="safety.incidents_import")`` on a job. A key
    in the core's namespaces, or one another plugin declares, is a load error.
    """


@hookspec
def kpi_routes() -> list[Blueprint]:
    """Add API operations, which the host serves under /api/v1/plugins/<plugin name>/.

    Called once at start-up. Return a list of flask-smorest ``Blueprint``
    objects (``MethodView`` classes, ``@blp.arguments`` and
    ``@blp.response`` with marshmallow schemas), made without a
    ``url_prefix`` (or with one that starts with the plugin's prefix). The
    host registers them under ``/api/v1/plugins/<plugin name>`` on every
    app, tags their operations ``plugin-<plugin name>`` in
    ``/api/openapi.json`` and answers errors in the one JSON error shape
    (``abort(404, message=...)``, also exported by ``kpi_core.routes``).
    Decorate every view with a rule from ``kpi_core.routes``: ``requires(blp, key)``
    (a login and a permission, the core's or your own from
    ``kpi_permissions``), ``signed_in(blp)`` (any login) or ``public(blp)``;
    an operation without one, a ``url_prefix`` outside the plugin's prefix,
    or an unknown permission is the plugin's load error. Inside a view,
    ``current_scope()`` says which technicians the caller may see (a
    technician: their own; a manager: their teams'; an admin: all),
    ``current_user()`` who they are, ``session()`` is the request's database
    session, ``audit(action, entity, entity_id, before=..., after=...)``
    records a change in the audit trail (call it for every change of data)
    and ``commit()`` keeps the changes; a request that does not commit, or
    fails, leaves nothing written. The fixture plugin in
    ``tests/fixtures/thirdparty_plugin`` (``api.py``) is a complete example.
    """


@hookspec
def kpi_migrations() -> str | PathLike[str] | None:
    """Point the host at the Alembic migrations of a plugin's own tables.

    Called once at start-up. Return the directory that holds the plugin's
    Alembic revision scripts, or None. They form a branch of the host's
    revision graph: the first revision has ``down_revision = None``,
    ``branch_labels = ("<plugin name>",)`` and ``depends_on`` the kpi-core
    revision whose tables it needs; later ones revise the branch. ``kpi db
    upgrade`` applies them with the core's, and ``kpi serve`` refuses to start
    until they are applied. A branch that breaks these rules is the plugin's
    load error. Uninstalling the plugin leaves its tables and its recorded
    revision in place; the host ignores both.
    """


@hookspec
def kpi_startup(app: Flask) -> None:
    """Set up anything a plugin needs once the Flask app exists.

    Called once per app instance after the host's own set-up, with the app.
    Use it to register a blueprint (for routes or a static folder) or read
    configuration. Return nothing. An exception here is reported as the
    plugin's load error and the app starts without that plugin's routes.
    """
