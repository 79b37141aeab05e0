"""The records every KPI is computed from: teams, technicians, customers, jobs, feedback, evaluations, targets.

Services here take a session, the caller's :class:`~kpi_core.accounts.scope.Scope`
and an :class:`~kpi_core.audit.trail.Actor`; they validate, apply the scope,
write the audit entry in the same transaction, and never commit.
"""
