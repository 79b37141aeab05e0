"""Who may do what: the role x permission matrix, in one place.

Every API operation names one permission (kpi_core/web/access.py enforces
it); docs/permissions.md shows this matrix and a test keeps the two equal.
Which *records* a permitted user sees is decided by the scoping rules in
kpi_core/accounts/scope.py: technicians their own, managers their teams'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERMISSIONS: dict[str, str] = {
    "account.self": "Read one's own account, change one's own password, log out",
    "plugins.read": "List installed plugins and their load errors; read plugin settings",
    "plugins.configure": "Change and reset plugin settings",
    "users.read": "List and read user accounts",
    "users.manage": "Create, change, disable users and reset their passwords",
    "audit.read": "Read the audit trail",
    "teams.read": "List and read teams",
    "teams.manage": "Create, rename and delete teams",
    "technicians.read": "List and read technicians (scoped)",
    "technicians.manage": "Create, change and delete technicians (managers: in their teams)",
    "imports.run": "Import jobs and feedback from CSV or JSON Lines (managers: their teams' technicians)",
    "customers.read": "List and read customers",
    "customers.manage": "Create, change and delete customers",
    "jobs.read": "List and read jobs (scoped)",
    "jobs.manage": "Create, change and delete jobs (managers: their teams' technicians)",
    "feedback.read": "List and read customer feedback (scoped by the job's technician)",
    "feedback.manage": "Record, change and delete customer feedback (managers: their teams' jobs)",
    "job_runs.read": "List the declared background jobs and read their runs (tracebacks: admins only)",
    "job_runs.run": "Run a background job now",
    "schedules.read": "List and read the schedules of background jobs and reports",
    "schedules.manage": "Create, change and delete schedules",
    "reports.read": "List and read report runs and download their files (others' runs: admins only)",
    "reports.create": "Request PDF and CSV reports of the KPIs one may see; delete one's own report runs",
    "job_runs.dashboard": "Open the job queue's RQ dashboard at /admin/rq (when Redis is configured)",
    "evaluations.read": "Read the evaluation form; list and read evaluations (scoped; technicians: submitted ones)",
    "evaluations.write": "Create, change, submit, revise and delete evaluations (managers: their teams' technicians)",
    "evaluations.acknowledge": "Acknowledge one's own submitted evaluation, with an optional comment",
    "evaluations.calibrate": "Compare evaluators: each one's leniency against the others for the same technicians, "
    "and how their scores follow the KPIs (managers: over their teams' technicians)",
    "self_appraisals.read": "Read the self-appraisal form; list and read self-appraisals (technicians: their own; "
    "managers: their teams' submitted ones)",
    "self_appraisals.write": "Fill in, change and submit one's own self-appraisal (technicians, about themselves)",
    "targets.read": "List KPI targets and weights",
    "targets.manage": "Set and remove KPI targets and weights, for the company and per team",
    "periods.close": "Close a month (snapshot its KPI values) and close it again to accept a restatement",
    "kpis.read": "List KPI definitions; read KPI values and their drill-downs (scoped)",
    "dashboard.use": "Read the dashboard's widgets and save one's own layout of them",
    "integration_tokens.manage": "Create, list and revoke integration tokens, and read what each was used for",
    "disputes.read": "List and read disputes of callbacks (scoped through the original job's crew)",
    "disputes.open": "Dispute a callback's attribution (technicians: of jobs they were on; managers: their teams')",
    "disputes.decide": "Accept or reject disputes of callbacks (managers: of their teams' technicians)",
    "notifications.manage": "Read the log of messages sent (e-mail and other channels), send failed ones again, "
    "send a test e-mail and see where mail goes",
    "webhooks.manage": "Register, change and remove webhook endpoints; read their delivery log and replay deliveries",
    "notifications.subscribe": "Choose which messages one receives (scorecards, digests, alerts), on which channel "
    "and when, and set one's own e-mail address",
    "alerts.read": "List the alerts raised about KPIs (scoped: managers, their teams' technicians) and the rules",
    "alerts.manage": "Add, change, turn off and remove the rules that raise alerts",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "manager": frozenset(
        {"account.self", "plugins.read", "teams.read", "technicians.read", "technicians.manage", "imports.run"}
        | {"customers.read", "customers.manage", "jobs.read", "jobs.manage", "feedback.read", "feedback.manage"}
        | {"schedules.read", "reports.read", "reports.create"}
        | {"evaluations.read", "evaluations.write", "targets.read"}
        | {"evaluations.calibrate", "self_appraisals.read"}
        | {"kpis.read", "dashboard.use"}
        | {"disputes.read", "disputes.open", "disputes.decide"}
        | {"notifications.subscribe", "alerts.read"}
    ),
    "technician": frozenset(
        {"account.self", "teams.read", "technicians.read"}
        | {"jobs.read", "feedback.read"}
        | {"evaluations.read", "evaluations.acknowledge", "targets.read"}
        | {"self_appraisals.read", "self_appraisals.write"}
        | {"kpis.read", "dashboard.use"}
        | {"disputes.read", "disputes.open"}
        | {"notifications.subscribe"}
    ),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated user behind a request.

    A request made with an integration token has the token's own user, role and teams, and
    ``scope``: the permissions the token may use, a subset of its role's (None for a login).
    """

    user_id: int
    username: str
    role: str
    technician_id: int | None = None
    managed_team_ids: frozenset[int] = field(default_factory=frozenset)
    token_jti: str | None = None
    token_family: str | None = None
    must_change_password: bool = False
    integration_token_id: int | None = None
    scope: frozenset[str] | None = None

    def can(self, permission: str) -> bool:
        return self.role_can(permission) and (self.scope is None or permission in self.scope)

    def role_can(self, permission: str) -> bool:
        """Whether the principal's role has ``permission``, whatever a token's scope says."""
        if permission not in PERMISSIONS:
            raise KeyError(f"unknown permission {permission!r}")
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())
