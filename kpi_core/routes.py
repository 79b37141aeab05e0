"""What a plugin's API operations (``kpi_routes``) may use of the host.

Decorate every view of a plugin's flask-smorest Blueprint with one rule:

- ``requires(blp, "safety.incidents_read")``: a login whose role has the
  permission (the core's, or one a plugin declares with ``kpi_permissions``);
- ``signed_in(blp)``: any login;
- ``public(blp)``: anyone, no login.

Put the rule above ``@blp.arguments``/``@blp.response``, as the core does::

    blp = Blueprint("incidents", __name__, description="Safety incidents")

    @blp.route("/incidents")
    class Incidents(MethodView):
        @requires(blp, "safety.incidents_read")
        @blp.response(200, IncidentSchema(many=True))
        def get(self):
            incidents = safety_incidents
            return session().execute(
                select(incidents).where(current_scope().technicians(incidents.c.technician_id))
            ).all()

Inside a view, ``current_scope()`` limits a query to the technicians the
caller may see, ``current_user()`` says who they are, ``session()`` is the
request's database session, ``audit(...)`` records a change in the audit
trail in that session's transaction, and ``commit()`` keeps the change
(nothing is written unless the view commits; an error undoes it all). Errors
go through flask-smorest's ``abort(status, message=...)``, which answers in
the host's one JSON error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_smorest import abort
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import PERMISSIONS, Principal
from kpi_core.accounts.scope import Scope
from kpi_core.audit import trail
from kpi_core.web import access
from kpi_core.web.db import commit as _commit
from kpi_core.web.db import db_session

__all__ = ["abort", "audit", "commit", "current_scope", "current_user", "public", "requires", "session", "signed_in"]

public = access.public
signed_in = access.signed_in


def requires(blp: Any, permission: str) -> Any:
    """Allow the operation only to logged-in users who have ``permission`` (the core's or a plugin's)."""
    if permission in PERMISSIONS:
        return access.requires(blp, permission)
    return access.requires_declared(blp, permission)


def current_scope() -> Scope:
    """The technicians the caller may see: ``current_scope().technicians(column)`` is a WHERE clause.

    A technician sees their own records, a manager their teams' technicians',
    an admin everything. Answer a record outside the scope with 404, as if it
    did not exist.
    """
    return access.current_scope()


def current_user() -> Principal:
    """The logged-in caller: ``user_id``, ``username``, ``role``, ``technician_id``, ``managed_team_ids``."""
    return access.current_principal()


def session() -> Session:
    """The request's database session (read-only for GET)."""
    return db_session()


def commit() -> None:
    """Keep what the view changed; without it the request's changes are undone."""
    _commit()


def audit(
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record a change of data in the audit trail, in the request's transaction (then ``commit()``).

    ``action`` is namespaced by the plugin (``safety.incident_closed``);
    ``entity`` names the kind of record, ``entity_id`` which one; ``before``
    and ``after`` are its fields before and after (the trail keeps the
    difference). Who did it, from where and in which request is added.
    """
    trail.record(db_session(), access.current_actor(), action, entity, entity_id, before=before, after=after)
