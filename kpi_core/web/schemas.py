"""Marshmallow schemas shared by several API blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from kpi_core.storage.limits import text_problem, year_problem

MAX_ID = 2**63 - 1
"""The largest id any supported database can store (a signed 64-bit integer)."""

RECORD_ID = validate.Range(min=1, max=MAX_ID)
"""Validates an id given in a query or body: a larger number is a 422 naming the field,
never a database driver's overflow error."""


class StrictSchema(Schema):
    """Request bodies and queries: unknown fields are refused, naming them, and so is text that
    cannot be stored (NUL, lone surrogates), naming the field it came in."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _reject_unstorable_text(self, data: Any, **_kwargs: Any) -> Any:
        # Refused at the door for every field and location: the driver would raise deep inside a
        # transaction (a 500), or store text that every reader after trips on.
        if isinstance(data, Mapping):
            found = {}
            for key in data:
                problem = text_problem(key) or text_problem(data[key])
                if problem:
                    found[key if text_problem(key) is None else repr(key)] = [problem]
            if found:
                raise ValidationError(found)
        return data


def _check_year(value: date | datetime) -> None:
    problem = year_problem(value)
    if problem:
        raise ValidationError(problem)


class CalendarDate(fields.Date):
    """An ISO 8601 date (``2026-03-01``) between the supported years."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        parsed = super()._deserialize(value, attr, data, **kwargs)
        _check_year(parsed)
        return parsed


class AwareTimestamp(fields.AwareDateTime):
    """An ISO 8601 timestamp with its zone, between the supported years; answered in UTC."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        parsed = super()._deserialize(value, attr, data, **kwargs)
        _check_year(parsed)
        return parsed.astimezone(UTC)


class BoundedFloat(fields.Float):
    """A finite number within ``[minimum, maximum]``: what its column and its meaning allow.

    Refuses NaN and infinities (never stored, never answered as non-standard JSON) and numbers too
    large for a float (``1e400``, a 400-digit integer), which Python would otherwise raise on.
    """

    def __init__(self, minimum: float, maximum: float, **kwargs: Any) -> None:
        validators = [validate.Range(min=minimum, max=maximum), *_as_list(kwargs.pop("validate", None))]
        super().__init__(allow_nan=False, validate=validators, **kwargs)
        self.metadata.setdefault("minimum", minimum)
        self.metadata.setdefault("maximum", maximum)

    def _validated(self, value: Any) -> Any:
        try:
            return super()._validated(value)
        except OverflowError:
            raise self.make_error("invalid") from None


class Money(fields.Decimal):
    """An amount of money: at least 0, below ``maximum``, at most two decimal places. Checked in
    that order so a huge or non-finite amount is refused before it is rounded (which would raise)."""

    def __init__(self, maximum: Decimal, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)
        self.maximum = maximum

    def _validated(self, value: Any) -> Any:
        try:
            amount = super()._validated(value)
        except (InvalidOperation, OverflowError):
            raise self.make_error("invalid") from None
        if amount is None:
            return None
        if not amount.is_finite() or not 0 <= amount <= self.maximum:
            raise ValidationError(f"Must be an amount between 0 and {self.maximum}.")
        if amount != amount.quantize(CENT):
            raise ValidationError("Must have at most 2 decimal places.")
        return amount


CENT = Decimal("0.01")


def _as_list(validators: Any) -> list[Any]:
    if validators is None:
        return []
    return list(validators) if isinstance(validators, list | tuple) else [validators]


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["admin", "manager", "technician"]})
    display_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True, metadata={"description": "The user's own e-mail address (digests, alerts)"})
    technician_id = fields.Integer(allow_none=True)
    disabled = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class CompanyDateTime(fields.DateTime):
    """An ISO 8601 timestamp between the supported years. One without a zone is read in the
    company time zone (KPI_TIMEZONE); every value is stored in UTC and answered with its zone."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        from kpi_core.web.state import app_state

        parsed = super()._deserialize(value, attr, data, **kwargs)
        # Checked on the wall-clock year, before any conversion: 9999-12-31T23:00 in a zone east of
        # UTC would overflow on the way to UTC.
        _check_year(parsed)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=app_state().settings.zone)
        return parsed.astimezone(UTC)
