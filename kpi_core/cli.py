"""The `kpi` command: serve, demo, database, plugins and users."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from kpi_core.config import Settings
from kpi_core.errors import ConfigError, KpiError, SchemaOutOfDate
from kpi_core.logs import configure as configure_logging
from kpi_core.plugins import PluginHost, disabled_revisions, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import (
    current_revisions,
    describe_changes,
    downgrade,
    reached,
    schema_state,
    script_directory,
    upgrade,
)


class KpiGroup(click.Group):
    """Turns the product's own errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpiError as exc:
            raise click.ClickException(str(exc)) from None


def _settings(**overrides: Any) -> Settings:
    # Migration chatter would bury the one line that matters when a command refuses.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(cls=KpiGroup)
@click.version_option(package_name="kpi-core")
def cli() -> None:
    """Handyman KPI: KPIs for field-service technicians."""


@cli.command()
@click.option("--host", help="Address to listen on (KPI_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (KPI_PORT, default 8000).")
@click.option("--workers", type=click.IntRange(min=0), help="gunicorn worker processes (KPI_WEB_WORKERS; 0: waitress).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web app and API (waitress, or gunicorn with --workers N)."""
    settings = _settings(host=host, port=port, web_workers=workers)
    configure_logging(settings.log_level, settings.log_format)
    _serve(settings)


def _serve(settings: Settings, banner: Callable[[], None] | None = None) -> None:
    from kpi_core.server import prepare_metrics_dir, serve_gunicorn
    from kpi_core.server import serve as run_server

    # First: prometheus-client chooses multi-process mode at import, and loading the plugins imports it.
    metrics = prepare_metrics_dir() if settings.web_workers else None
    database = Database(settings.effective_database_url)
    plugins = _plugins(settings)
    # The plugins' own tables count: a plugin whose migrations are not applied would fail at its first query.
    state = schema_state(database.engine, plugins.migration_locations)
    if not state.is_current:
        raise SchemaOutOfDate(state.describe())
    if metrics is not None:
        database.dispose()  # each gunicorn worker opens its own connections after the fork
        click.echo(f"Serving on http://{settings.host}:{settings.port}/ with {settings.web_workers} gunicorn workers")
        serve_gunicorn(settings, settings.web_workers, metrics)
        return
    from kpi_core.web.app import create_app

    app = create_app(settings, database=database, plugins=plugins)
    if banner:
        banner()
    click.echo(f"Serving on http://{settings.host}:{settings.port}/ (Ctrl+C to stop)")
    run_server(app, settings.host, settings.port)


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option("--no-serve", is_flag=True, help="Prepare the demo database and exit.")
def demo(host: str | None, port: int | None, no_serve: bool) -> None:
    """Run the demo: SQLite in the data directory, seeded data, an admin login, the server."""
    from kpi_core.demo.credentials import ensure_demo_admin
    from kpi_core.demo.seed import seed_if_empty
    from kpi_core.notify.channels import where_messages_go

    # The demo is always the SQLite file in the data directory, never a configured server database.
    settings = _settings(host=host, port=port, demo=True, database_url="")
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    configure_logging("WARNING")
    database = Database(settings.effective_database_url)
    click.echo(f"Data directory: {settings.data_dir.resolve()}")
    plugins = _plugins(settings)
    upgrade(database.engine, locations=plugins.migration_locations)
    with click.progressbar(length=100, label="Seeding demo data", show_percent=True) as bar:
        done = 0

        def advance(percent: int) -> None:
            nonlocal done
            bar.update(percent - done)
            done = percent

        summary = seed_if_empty(database, plugins, settings, progress=advance)
        advance(100)
    click.echo(summary.describe())
    for line in where_messages_go(settings, plugins):
        click.echo(line)
    login = ensure_demo_admin(database, settings)

    def banner() -> None:
        click.echo(f"Admin login: {login.username} / {login.password}")

    if no_serve:
        banner()
        return
    _serve(settings, banner)


def _plugins(settings: Settings) -> PluginHost:
    return load_plugins(settings)


@cli.group()
def db() -> None:
    """Database schema: upgrade and inspect."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations, kpi-core's and the installed plugins' (safe to run again)."""
    settings = _settings()
    database = Database(settings.effective_database_url)
    locations = _plugins(settings).migration_locations
    script = script_directory(database.engine, locations)
    before = reached(script, current_revisions(database.engine))
    upgrade(database.engine, locations=locations)
    applied = describe_changes(script, reached(script, current_revisions(database.engine)) - before)
    click.echo("applied: " + ", ".join(applied) if applied else "nothing to apply")
    click.echo(schema_state(database.engine, locations, disabled_revisions(settings.disabled_plugins)).describe())


@db.command("current")
def db_current() -> None:
    """Show the schema revision of the database and whether it is current."""
    settings = _settings()
    engine = Database(settings.effective_database_url).engine
    state = schema_state(engine, _plugins(settings).migration_locations, disabled_revisions(settings.disabled_plugins))
    click.echo(state.describe())
    if not state.is_current:
        sys.exit(1)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations to REVISION, e.g. `kpi_productivity@base` to drop a plugin's tables before uninstalling it."""
    settings = _settings()
    database = Database(settings.effective_database_url)
    locations = _plugins(settings).migration_locations
    script = script_directory(database.engine, locations)
    before = reached(script, current_revisions(database.engine))
    downgrade(database.engine, revision, locations=locations)
    now = current_revisions(database.engine)
    reverted = describe_changes(script, before - reached(script, now))
    if not reverted:
        click.echo(f"nothing to revert: the database is already at or below {revision}")
        return
    click.echo("reverted: " + ", ".join(reverted))
    shown = ", ".join(sorted(now)) or "empty"
    click.echo(
        f"the database schema is now at {shown}; `kpi serve` refuses to start until `kpi db upgrade` "
        "applies them again (uninstall or disable a plugin whose branch you removed first)"
    )


@cli.group("plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List plugins, what they contribute, and any that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    host = _plugins(_settings())
    if as_json:
        payload = {
            "plugins": [asdict(info) for info in host.plugins.values()],
            "problems": [asdict(problem) for problem in host.problems],
        }
        click.echo(json.dumps(payload, indent=2))
        if host.problems:
            sys.exit(1)
        return
    for info in host.plugins.values():
        kind = "built-in" if info.builtin else info.module
        click.echo(f"{info.name} {info.version} ({kind})")
        for hook, keys in info.contributes.items():
            click.echo(f"  {hook}: {', '.join(keys)}")
    for problem in host.problems:
        click.secho(f"NOT LOADED {problem.name} [{problem.stage}]: {problem.reason}", fg="red", err=True)
    if host.problems:
        sys.exit(1)


@plugins_command.command("new")
@click.argument("name")
@click.option(
    "--kind",
    type=str,
    default="kpi",
    show_default=True,
    help="The starting point: kpi, report, job or widget, or several joined by ',' (kpi,job,widget).",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create the NAME folder (default: here).",
)
def plugins_new(name: str, kind: str, directory: Path) -> None:
    """Write a ready plugin package NAME: pyproject with the entry point, module, tests, README."""
    from kpi_core.scaffold import ScaffoldError, create_plugin

    try:
        target = create_plugin(name, kind, directory)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Created {target}")
    click.echo(f"  cd {target} && pip install -e '.[test]' && pytest   # install it, run its tests")
    click.echo("  kpi plugins                                          # see it loaded")


@cli.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "technician"]))
@click.option(
    "--technician",
    "technician_ref",
    help="External reference of the technician record (technicians).",
)
@click.option("--team", "teams", multiple=True, help="Team the manager manages (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(
    username: str,
    role: str,
    technician_ref: str | None,
    teams: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a user. The password is prompted for (or read from stdin), never an argument."""
    from kpi_core.accounts.users import NewUser, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _settings()
    database = _current_database(settings)
    with database.session() as session:
        user = create_user(
            session,
            NewUser(
                username=username,
                password=password,
                role=role,
                technician_ref=technician_ref,
                team_names=teams,
            ),
            _cli_actor(),
        )
        click.echo(f"Created {user.role} {user.username!r} (id {user.id}).")


def _cli_actor() -> Any:
    import getpass

    from kpi_core.audit.trail import Actor

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor.system(f"cli:{who}")


@users.command("list")
def users_list() -> None:
    """List users with role and state."""
    from kpi_core.accounts.users import list_users

    database = _current_database(_settings())
    with database.session(write=False) as session:
        for user in list_users(session):
            state = "disabled" if user.disabled else "active"
            extra = " (must change password)" if user.must_change_password else ""
            click.echo(f"{user.id:>5}  {user.username:<30} {user.role:<11} {state}{extra}")


def _user_id(session: Any, username: str) -> int:
    from sqlalchemy import select

    from kpi_core.storage.models import User

    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise click.ClickException(f"no user named {username!r}")
    return user_id


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user: they cannot log in and their tokens stop working."""
    from kpi_core.accounts.users import UserChanges, update_user

    database = _current_database(_settings())
    with database.session() as session:
        update_user(session, _user_id(session, username), UserChanges(disabled=True), _cli_actor())
    click.echo(f"Disabled {username!r}.")


@users.command("reset-password")
@click.argument("username")
def users_reset_password(username: str) -> None:
    """Give a user a temporary password that they must change at next login."""
    from kpi_core.accounts.users import reset_password

    database = _current_database(_settings())
    with database.session() as session:
        _user, temporary = reset_password(session, _user_id(session, username), _cli_actor())
    click.echo(f"Temporary password for {username!r}: {temporary}")
    click.echo("They must change it at their next login.")


@cli.group("import")
def import_group() -> None:
    """Import jobs or customer feedback from CSV or JSON Lines (all or nothing); jobs also from any CSV or XLSX
    file through a column mapping."""


@dataclass(frozen=True)
class _MappingChoice:
    saved: str | None = None
    preset: str | None = None
    sheet: str | None = None


def _import_file(
    kind: str, path: Path, dry_run: bool, create_technicians: bool, mapped: _MappingChoice | None = None
) -> None:
    from kpi_core.accounts.scope import UNSCOPED
    from kpi_core.errors import Invalid
    from kpi_core.imports.feedback import FEEDBACK_COLUMNS, import_feedback
    from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
    from kpi_core.imports.mapped import import_mapped_jobs
    from kpi_core.imports.progress import ReadProgress
    from kpi_core.imports.readers import FileRejected, detect_format, read_rows
    from kpi_core.imports.saved import choose_mapping

    settings = _settings()
    database = _current_database(settings)
    fmt = detect_format("", path.name)
    mapped = mapped or _MappingChoice()
    # Jobs read the plugins' job fields (columns named by their keys) and their presets.
    plugins = _plugins(settings) if kind == "jobs" else None
    job_fields = plugins.job_fields if plugins is not None else {}
    columns = (*JOB_COLUMNS, *job_fields) if kind == "jobs" else FEEDBACK_COLUMNS
    session = database.open_session(write=True)
    try:
        presets = plugins.import_presets if plugins is not None and mapped.preset else {}
        mapping = choose_mapping(session, presets, saved=mapped.saved, preset=mapped.preset, location="option")
        with path.open("rb") as raw, click.progressbar(length=path.stat().st_size, label=f"Importing {kind}") as bar:
            stream = io.BufferedReader(ReadProgress(raw, bar.update))
            common = {"scope": UNSCOPED, "actor": _cli_actor(), "zone": settings.zone, "dry_run": dry_run}
            if kind == "jobs" and (mapping is not None or fmt == "xlsx"):
                report = import_mapped_jobs(
                    session, stream, fmt, mapping, sheet=mapped.sheet, create_technicians=create_technicians,
                    job_fields=job_fields, **common,
                )  # fmt: skip
            elif kind == "jobs":
                report = import_jobs(
                    session, read_rows(stream, fmt, columns), create_technicians=create_technicians,
                    job_fields=job_fields, **common,
                )  # fmt: skip
            else:
                report = import_feedback(session, read_rows(stream, fmt, columns), **common)
        if report.ok and not dry_run:
            runner = _after_import(session, settings, database, plugins, kind, report)
            session.commit()
            runner.shutdown(wait=True)  # in-process (no Redis): the alerts run finishes before we exit
    except FileRejected as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    except Invalid as exc:
        option = {"mapping_name": "--mapping", "preset": "--preset"}.get(exc.field, f"the mapping's {exc.field}")
        raise click.ClickException(f"{option}: {exc.message}") from None
    finally:
        session.rollback()
        session.close()
    for error in report.errors:
        click.secho(f"row {error.row}, {error.column or 'row'}: {error.message}", fg="red", err=True)
    if report.error_count > len(report.errors):
        click.secho(f"... and {report.error_count - len(report.errors)} more errors", fg="red", err=True)
    click.echo(report.describe() + (" (dry run: nothing written)" if dry_run and report.ok else ""))
    if not report.ok:
        sys.exit(1)


def _after_import(session: Any, settings: Any, database: Any, plugins: Any, kind: str, report: Any) -> Any:
    """As after an import through the API: the webhooks' import.finished event and the alerts job, in the
    import's transaction; the runner the alerts run went to."""
    from kpi_core.imports.finished import import_finished
    from kpi_core.jobs.execute import JobEnvironment
    from kpi_core.jobs.runner import make_runner

    env = JobEnvironment(settings, database, plugins or _plugins(settings))
    runner = make_runner(env)
    if import_finished(session, runner, _cli_actor(), kind, report) is not None:
        click.echo("Checking the alert rules on the new facts ...")
    return runner


@import_group.command("jobs")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.option("--create-technicians", is_flag=True, help="Create technicians for unknown technician_ref.")
@click.option(
    "--mapping", "mapping_name", metavar="NAME", help="Read the file through the column mapping saved as NAME."
)
@click.option(
    "--preset", metavar="KEY", help="Read the file through a plugin's import preset (kpi plugins lists them)."
)
@click.option("--sheet", metavar="NAME", help="XLSX: the sheet to read, when the workbook has several.")
def import_jobs_command(
    path: Path, dry_run: bool, create_technicians: bool, mapping_name: str | None, preset: str | None, sheet: str | None
) -> None:
    """Import jobs from a CSV, XLSX or JSON Lines file (by external_ref; safe to repeat).

    A file in other columns than the import's own (an export of another system) is read through a
    column mapping: one saved on the import page (--mapping NAME) or a plugin's preset (--preset KEY).
    """
    _import_file("jobs", path, dry_run, create_technicians, _MappingChoice(mapping_name, preset, sheet))


@import_group.command("feedback")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
def import_feedback_command(path: Path, dry_run: bool) -> None:
    """Import customer feedback from a CSV or JSON Lines file (by job_ref; replaces earlier feedback)."""
    _import_file("feedback", path, dry_run, False)


@cli.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; name the first entry where it breaks."""
    from kpi_core.audit.trail import verify_chain

    database = _current_database(_settings())
    with database.session(write=False) as session:
        result = verify_chain(session)
    if result.ok:
        click.echo(f"Audit trail intact: {result.checked} entries verified.")
        return
    click.secho(
        f"Audit trail BROKEN at entry {result.broken_at}: {result.reason} "
        f"({result.checked} entries before it verified).",
        fg="red",
        err=True,
    )
    sys.exit(1)


def _current_database(settings: Settings) -> Database:
    database = Database(settings.effective_database_url)
    state = schema_state(database.engine)
    if not state.is_current:
        raise SchemaOutOfDate(state.describe())
    return database


@cli.command()
@click.option("--burst", is_flag=True, help="Work until the queue is empty, then exit.")
@click.option("--name", help="Worker name shown by RQ (default: host and process id).")
@click.option(
    "--maintenance-interval",
    type=int,
    default=60,
    show_default=True,
    help="Seconds between clean-ups that find the jobs of workers that died and retry them.",
)
def worker(burst: bool, name: str | None, maintenance_interval: int) -> None:
    """Run background jobs from the Redis queue (KPI_REDIS_URL): an RQ worker."""
    import redis

    from kpi_core.jobs.worker import run_worker

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.redis_url:
        raise click.ClickException(
            "KPI_REDIS_URL is not set, so there is no queue to work: without Redis, "
            "`kpi demo`, `kpi serve` and `kpi scheduler` run jobs in their own process"
        )
    _current_database(settings).dispose()
    try:
        run_worker(settings, burst=burst, name=name, maintenance_interval=maintenance_interval)
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at KPI_REDIS_URL: {exc}") from None


@cli.command()
@click.option("--interval", type=float, default=30, show_default=True, help="Seconds between checks.")
@click.option("--once", is_flag=True, help="Fire what is due now, wait for in-process jobs, and exit.")
def scheduler(interval: float, once: bool) -> None:
    """Fire due schedules, each occurrence once however many schedulers run.

    With KPI_REDIS_URL the runs go to the queue for `kpi worker`; without
    it they run in this process.
    """
    import signal
    import threading

    from kpi_core.jobs.execute import JobEnvironment
    from kpi_core.jobs.runner import make_runner
    from kpi_core.jobs.scheduler import Scheduler

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    env = JobEnvironment(settings, _current_database(settings), _plugins(settings))
    runner = make_runner(env)
    loop = Scheduler(runner, interval=interval)
    try:
        if once:
            loop.prepare()
            fired = loop.tick()
            started = sum(1 for item in fired if item.run_id)
            click.echo(f"Fired {started} runs; skipped {len(fired) - started} missed occurrences.")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"Scheduler running: checking every {interval:g} s (Ctrl+C to stop)")
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        loop.run(stop)
    finally:
        runner.shutdown(wait=True)


@cli.group()
def backup() -> None:
    """Back up, verify, list and restore the database."""


def _describe_backup(manifest: Any) -> str:
    rows = sum(manifest.row_counts.values())
    schema = ", ".join(manifest.schema_revisions) or "none"
    return f"{manifest.file}  {manifest.created_at}  {manifest.size} bytes  {rows} rows  schema {schema}"


@backup.command("create")
def backup_create() -> None:
    """Back up the database into <data dir>/backups (keeps the newest KPI_BACKUP_KEEP)."""
    from kpi_core.storage.backup import create_backup

    settings = _settings()
    database = _current_database(settings)
    manifest = create_backup(settings, database.engine, keep=settings.backup_keep)
    click.echo(f"Backup written: {manifest.path}")
    click.echo(f"  {_describe_backup(manifest)}")
    click.echo(f"  sha256 {manifest.sha256}")


@backup.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify(file: Path) -> None:
    """Check a backup against its manifest (checksum, opens, row counts)."""
    from kpi_core.storage.backup import verify_backup

    manifest = verify_backup(file)
    click.echo(f"OK: {_describe_backup(manifest)}")


@backup.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(file: Path, yes: bool) -> None:
    """Replace the database with a verified backup; the replaced database is kept as a backup.

    Stop the app, workers and scheduler first: on PostgreSQL their open
    transactions would hold the restore up.
    """
    from kpi_core.storage.backup import restore_backup, verify_backup
    from kpi_core.storage.db import describe_url

    settings = _settings()
    database = Database(settings.effective_database_url)
    manifest = verify_backup(file)
    if not yes:
        click.confirm(f"Replace the database {describe_url(database.engine)} with {manifest.file}?", abort=True)
    kept = restore_backup(settings, database.engine, file)
    click.echo(f"Restored {manifest.file}.")
    if kept is not None:
        click.echo(f"The database it replaced is kept as {kept.path}")
    state = schema_state(database.engine)
    if not state.is_current:
        click.echo(state.describe())


@backup.command("list")
def backup_list() -> None:
    """List the backups in <data dir>/backups, oldest first."""
    from kpi_core.storage.backup import backup_dir, list_backups

    settings = _settings()
    found = list_backups(settings)
    if not found:
        click.echo(f"No backups in {backup_dir(settings)}")
    for manifest in found:
        click.echo(_describe_backup(manifest))


def main() -> None:
    cli(prog_name="kpi")


if __name__ == "__main__":
    main()
