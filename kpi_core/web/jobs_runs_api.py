"""/api/v1/job-runs (runs of background jobs) and /api/v1/background-jobs (the declared jobs).

The paths avoid /api/v1/jobs, which is the work orders. Each app gets one
runner (RQ with KPI_REDIS_URL, else in-process) when this blueprint is
registered; in demo mode the in-process scheduler runs on a thread of the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate

from kpi_core.accounts import grants
from kpi_core.accounts.permissions import Principal
from kpi_core.jobs import runs, uploads
from kpi_core.jobs.errors import QueueUnavailable
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.runner import Runner, make_runner
from kpi_core.kpis import after_writes
from kpi_core.storage.models import RUN_STATUSES, JobRun
from kpi_core.web.access import current_actor, current_principal, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import EXTENSION_KEY, app_state

RUNNER_KEY = "kpi_core.jobs.runner"
SCHEDULER_KEY = "kpi_core.jobs.scheduler"
REFRESH_KEY = "kpi_core.kpis.after_writes"

blp = Blueprint("job_runs", __name__, url_prefix="/api/v1/job-runs", description="Runs of background jobs")
jobs_blp = Blueprint(
    "background_jobs", __name__, url_prefix="/api/v1/background-jobs", description="Declared background jobs"
)


@blp.record_once
def _install_runner(setup: Any) -> None:
    app = setup.app
    state = app.extensions[EXTENSION_KEY]
    runner = make_runner(JobEnvironment(state.settings, state.database, state.plugins))
    app.extensions[RUNNER_KEY] = runner
    # The app keeps the trigger alive: its database holds it by a weak reference only.
    app.extensions[REFRESH_KEY] = after_writes.install(runner)
    if state.settings.demo and runner.backend == "inprocess":
        from kpi_core.jobs.scheduler import Scheduler, SchedulerThread

        thread = SchedulerThread(Scheduler(runner))
        app.extensions[SCHEDULER_KEY] = thread
        thread.start()


def runner() -> Runner:
    """The job runner of the current app."""
    return current_app.extensions[RUNNER_KEY]


class JobRunSchema(Schema):
    id = fields.Integer(required=True)
    job_key = fields.String(required=True)
    params = fields.Dict(required=True)
    status = fields.String(required=True, metadata={"enum": list(RUN_STATUSES)})
    progress = fields.Integer(required=True, metadata={"description": "0 to 100"})
    message = fields.String(allow_none=True, metadata={"description": "The job's latest progress message"})
    result = fields.Raw(allow_none=True, metadata={"description": "The job's JSON result once finished"})
    error = fields.String(allow_none=True, metadata={"description": "Why the latest attempt failed"})
    traceback = fields.Method("_traceback", allow_none=True, metadata={"type": "string", "description": "Admins only"})
    attempts = fields.Integer(required=True, metadata={"description": "Attempts started so far"})
    max_attempts = fields.Integer(required=True, metadata={"description": "1 + the job's retries"})
    backend = fields.String(required=True, metadata={"enum": ["rq", "inprocess"]})
    worker = fields.String(allow_none=True)
    requested_by_id = fields.Integer(allow_none=True)
    requested_by = fields.String(allow_none=True, metadata={"description": "User name, or scheduler"})
    schedule_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True, metadata={"description": "When a failed run retries"})

    def _traceback(self, run: JobRun) -> str | None:
        # Stack traces name files and internals: for the owner only, whoever else may read runs.
        return run.traceback if current_principal().role == "admin" else None


class JobRunInSchema(StrictSchema):
    job_key = fields.String(required=True, validate=validate.Length(min=1, max=120))
    params = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "Keyword arguments"})


class JobRunQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(RUN_STATUSES))
    job_key = fields.String(validate=validate.Length(max=120))


class BackgroundJobSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})
    schedule = fields.String(allow_none=True, metadata={"description": "Default cron schedule, or null"})
    timeout = fields.Integer(required=True, metadata={"description": "Seconds an attempt may take"})
    retries = fields.Integer(required=True, metadata={"description": "Retries, with back-off, after a failure"})
    takes_file = fields.Boolean(required=True, metadata={"description": "Started with a multipart upload in 'file'"})
    permission = fields.String(
        allow_none=True, metadata={"description": "A permission that lets non-admins run it, or null"}
    )


_START_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": JobRunInSchema},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["job_key", "file"],
                "properties": {
                    "job_key": {"type": "string"},
                    "params": {"type": "string", "description": "The keyword arguments as JSON text (an object)"},
                    "file": {"type": "string", "format": "binary", "description": "For a job that takes a file"},
                },
            }
        },
    },
}


def _start_body() -> dict[str, Any]:
    """The request's job key and params, from JSON or a multipart form; 422 naming the field otherwise."""
    if request.mimetype == "multipart/form-data":
        location = "form"
        given: Any = {key: request.form[key] for key in request.form}
        if "params" in given:
            try:
                given["params"] = json.loads(given["params"])
            except ValueError:
                abort(422, message="params: send the params as JSON text", errors={"form": {"params": ["Not JSON."]}})
    else:
        location = "json"
        given = request.get_json(silent=True)
        if not isinstance(given, dict):
            abort(
                422,
                message="Send a JSON object with job_key and params.",
                errors={"json": {"_schema": ["Invalid input type."]}},
            )
    try:
        return JobRunInSchema().load(given)
    except ValidationError as exc:
        abort(422, errors={location: exc.messages})
    raise AssertionError("unreachable")


def _has_the_jobs_permission(principal: Principal) -> bool:
    """Whether the job this request names declares a permission the caller has."""
    given = request.form if request.mimetype == "multipart/form-data" else (request.get_json(silent=True) or {})
    key = given.get("job_key") if isinstance(given, Mapping) else None
    spec = runner().jobs.get(key) if isinstance(key, str) else None
    if spec is None or spec.permission is None:
        return False
    return grants.may(db_session(), app_state().plugins.permissions, principal, spec.permission)


@blp.route("")
class JobRuns(MethodView):
    @requires(blp, "job_runs.read")
    @blp.arguments(JobRunQuerySchema, location="query")
    @blp.response(200, JobRunSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listJobRuns", summary="List job runs, newest first")
    def get(self, query: dict[str, Any]) -> Any:
        """Runs of background jobs, filtered by status and job key."""
        return runs.run_query(status=query.get("status"), job_key=query.get("job_key"))

    @requires(blp, "job_runs.run", unless=_has_the_jobs_permission)
    @blp.response(202, JobRunSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="Unknown job, bad params, or a missing or unwanted file")
    @blp.alt_response(503, schema=ErrorSchema, description="The job queue is unavailable (see Retry-After)")
    @blp.doc(operationId="startJobRun", summary="Run a background job now", requestBody=_START_BODY)
    def post(self) -> Any:
        """Queue a run of a declared job; poll GET /api/v1/job-runs/{id} for its progress and result.

        A job that takes a file (``takes_file`` in GET /api/v1/background-jobs) is started with a
        multipart upload: the file in ``file``, the key in ``job_key``, the params as JSON text in
        ``params``. Admins may run any job; others a job whose ``permission`` their role has."""
        body = _start_body()
        upload = None
        if request.mimetype == "multipart/form-data" and "file" in request.files:
            sent = request.files["file"]
            upload = uploads.keep(app_state().settings, sent.stream, sent.filename, sent.mimetype)
        try:
            run_id = runner().enqueue(
                body["job_key"], body["params"], requested_by=current_actor(), session=db_session(), upload=upload
            )
        except QueueUnavailable as exc:
            abort(503, message=str(exc), headers={"Retry-After": str(exc.retry_after)})
        commit()
        run = runs.get_run(db_session(), run_id)
        return run, {"Location": url_for("job_runs.JobRunItem", run_id=run_id)}


def _asked_for_the_run(principal: Principal) -> bool:
    """Whether the caller asked for the run this request names (they may read their own runs)."""
    run_id = request.view_args.get("run_id") if request.view_args else None
    run = db_session().get(JobRun, run_id) if isinstance(run_id, int) else None
    return run is not None and run.requested_by_id == principal.user_id


@blp.route("/<int:run_id>")
class JobRunItem(MethodView):
    @requires(blp, "job_runs.read", unless=_asked_for_the_run)
    @blp.response(200, JobRunSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such run")
    @blp.doc(operationId="getJobRun", summary="Read a job run")
    def get(self, run_id: int) -> Any:
        """One run: status, progress, result, or error (and, for admins, the traceback)."""
        return runs.get_run(db_session(), run_id)


@jobs_blp.route("")
class BackgroundJobs(MethodView):
    @requires(jobs_blp, "job_runs.read")
    @jobs_blp.response(200, BackgroundJobSchema(many=True))
    @jobs_blp.doc(operationId="listBackgroundJobs", summary="List the declared background jobs")
    def get(self) -> list[dict[str, Any]]:
        """Every job the loaded plugins declare (kpi_jobs), with its defaults."""
        job_runner = runner()
        plugins = job_runner.env.plugins
        return [
            {
                "key": spec.key,
                "label": spec.label,
                "plugin": plugins.owner_of("kpi_jobs", spec.key),
                "schedule": spec.schedule,
                "timeout": spec.timeout,
                "retries": spec.retries,
                "takes_file": spec.takes_file,
                "permission": spec.permission,
            }
            for spec in sorted(job_runner.jobs.values(), key=lambda spec: spec.key)
        ]
