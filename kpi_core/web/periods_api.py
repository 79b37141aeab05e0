"""/api/v1/periods: closing a month, so that its KPI values stay as they were discussed.

A closed month's values are answered from the snapshot taken when it was closed
(``closed: true`` on each row); a later change to its facts is shown beside them
as ``restated`` until an admin closes the month again with ``reclose``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import func, select

from kpi_core.kpis import closing
from kpi_core.storage.models import PeriodClose, User
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("periods", __name__, url_prefix="/api/v1/periods", description="Closed months and their snapshots")


class CloseInSchema(StrictSchema):
    reclose = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Close a month closed already again, accepting the values as the facts and definitions "
            "give them now (its restatement); without it, closing a closed month answers 409"
        },
    )


class ClosedMonthSchema(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM"})
    start = CalendarDate(required=True, metadata={"description": "The month's first day"})
    closed_at = fields.DateTime(required=True)
    closed_by = fields.String(allow_none=True, metadata={"description": "Who closed it (null: the automatic close)"})
    automatic = fields.Boolean(required=True, metadata={"description": "Closed by the automatic close"})
    settled = fields.Boolean(
        required=True,
        metadata={"description": "Every outcome window of the month was over when it was closed (no value pending)"},
    )
    rows = fields.Integer(required=True, metadata={"description": "KPI x group values its snapshot holds"})
    closes = fields.Integer(required=True, metadata={"description": "Times it was closed (1: never re-closed)"})
    fingerprints = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Each KPI's definition fingerprint when it was closed"},
    )


def _view(row: PeriodClose, closes: int, names: dict[int, str]) -> dict[str, Any]:
    return {
        "month": f"{row.month:%Y-%m}",
        "start": row.month,
        "closed_at": row.closed_at,
        "closed_by": names.get(row.closed_by_id) if row.closed_by_id is not None else None,
        "automatic": row.automatic,
        "settled": row.settled,
        "rows": row.rows,
        "closes": closes,
        "fingerprints": row.fingerprints,
    }


def _names(rows: list[PeriodClose]) -> dict[int, str]:
    ids = {row.closed_by_id for row in rows if row.closed_by_id is not None}
    if not ids:
        return {}
    return dict(db_session().execute(select(User.id, User.username).where(User.id.in_(ids))).all())  # type: ignore[arg-type]


@blp.route("")
class Periods(MethodView):
    @requires(blp, "kpis.read")
    @blp.response(200, ClosedMonthSchema(many=True))
    @blp.doc(operationId="listClosedMonths", summary="List the closed months")
    def get(self) -> Any:
        """Every closed month, the latest first: when and by whom it was last closed, whether its outcome
        windows were over then, and each KPI's definition fingerprint in its snapshot."""
        session = db_session()
        latest = closing.latest_closes(session)
        counts = dict(session.execute(select(PeriodClose.month, func.count()).group_by(PeriodClose.month)).all())  # type: ignore[arg-type]
        rows = sorted(latest.values(), key=lambda row: row.month, reverse=True)
        names = _names(rows)
        return [_view(row, counts[row.month], names) for row in rows]


@blp.route("/<string:month>/close")
class ClosePeriod(MethodView):
    @requires(blp, "periods.close")
    @blp.arguments(CloseInSchema)
    @blp.response(201, ClosedMonthSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The month has not ended, or is closed (without reclose)")
    @blp.alt_response(422, schema=ErrorSchema, description="The month is not YYYY-MM")
    @blp.doc(operationId="closeMonth", summary="Close a month")
    def post(self, body: dict[str, Any], month: str) -> Any:
        """Snapshot every KPI x technician, team and company of the month (``YYYY-MM``, in the company time
        zone): value, numerator, denominator, status against the target in force on its first day, and the
        definition fingerprint. From then on the month's values are answered from the snapshot; a later
        change to its facts shows as ``restated`` beside them. A month that has not ended, or one closed
        already (without ``reclose``), answers 409. Audited (a re-close with every value it changed)."""
        state, session = app_state(), db_session()
        first = closing.parse_month(month)
        row = closing.close_month(
            session, state.plugins, current_actor(), first, zone=state.settings.zone, now=state.clock(),
            status_min_sample=state.settings.status_min_sample, reclose=body["reclose"],
        )  # fmt: skip
        commit()
        count = session.scalar(select(func.count()).select_from(PeriodClose).where(PeriodClose.month == first))
        return _view(row, int(count or 1), _names([row]))
