"""Column mappings as JSON (the API, saved mappings, the CLI) and the mapping proposed for a new file.

The JSON form mirrors :class:`~kpi_core.declarations.ImportMapping`::

    {"fields": {"external_ref": {"kind": "column", "column": "Invoice Number"},
                "status": {"kind": "value_map", "column": "Status",
                           "values": {"complete": "completed", "pro canceled": "cancelled"}},
                "started_at": {"kind": "minus_minutes", "base": "completed_at", "column": "On Job Duration"}},
     "timezone": "America/Chicago", "datetime_format": "%m/%d/%Y %I:%M %p",
     "date_format": null, "time_format": null}

A malformed mapping is :class:`~kpi_core.errors.Invalid` naming the path of the
part at fault (``mapping.fields.status.kind``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kpi_core.declarations import DeclarationError, FieldRule, ImportMapping
from kpi_core.errors import Invalid
from kpi_core.imports import formats
from kpi_core.imports.jobs import JOB_COLUMNS, TIMESTAMPS
from kpi_core.imports.mapping import LABELS
from kpi_core.storage.models import JOB_STATUSES

MAPPING_OPTIONS = ("timezone", "datetime_format", "date_format", "time_format")
RULE_PARTS = ("kind", "column", "value", "values", "time_column", "base")


def mapping_to_json(mapping: ImportMapping) -> dict[str, Any]:
    fields = {}
    for name, rule in mapping.fields.items():
        shown: dict[str, Any] = {"kind": rule.kind}
        for part in RULE_PARTS[1:]:
            value = getattr(rule, part)
            if value:
                shown[part] = dict(value) if part == "values" else value
        fields[name] = shown
    return {"fields": fields, **{option: getattr(mapping, option) for option in MAPPING_OPTIONS}}


def mapping_from_json(data: Any, path: str = "mapping", location: str = "json") -> ImportMapping:
    """The mapping ``data`` describes, or Invalid naming the part at fault (at ``path``)."""
    if not isinstance(data, Mapping):
        raise Invalid(path, "must be an object with the job fields it fills under 'fields'", location)
    _no_others(data, ("fields", *MAPPING_OPTIONS), path, location)
    fields = data.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise Invalid(f"{path}.fields", "choose where at least one job field comes from", location)
    rules = {str(name): _rule(rule, f"{path}.fields.{name}", location) for name, rule in fields.items()}
    options = {}
    for option in MAPPING_OPTIONS:
        value = data.get(option)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{path}.{option}", "must be text or null", location)
        options[option] = value or None
    try:
        return ImportMapping(fields=rules, **options)
    except DeclarationError as exc:
        message = str(exc)
        part = next((option for option in MAPPING_OPTIONS if message.startswith(option)), None)
        field = re.match(r"mapping field '([^']*)'", message)
        where = f"{path}.{part}" if part else f"{path}.fields.{field[1]}" if field else path
        raise Invalid(where, message, location) from None


def _rule(data: Any, path: str, location: str) -> FieldRule:
    if not isinstance(data, Mapping) or not data.get("kind"):
        kinds = "column, fixed, value_map, date_time or minus_minutes"
        raise Invalid(f"{path}.kind", f"choose how the field is filled: {kinds}", location)
    _no_others(data, RULE_PARTS, path, location)
    parts = {part: data.get(part) for part in RULE_PARTS if data.get(part) not in (None, "", {})}
    values = parts.get("values")
    if values is not None and not isinstance(values, Mapping):
        raise Invalid(f"{path}.values", "must map source values to job values", location)
    try:
        return FieldRule(**parts)
    except DeclarationError as exc:
        raise Invalid(path, str(exc), location) from None


def _no_others(data: Mapping[str, Any], known: Sequence[str], path: str, location: str) -> None:
    unknown = [str(key) for key in data if key not in known]
    if unknown:
        raise Invalid(f"{path}.{unknown[0]}", f"is not part of a mapping; expected {', '.join(known)}", location)


# --- the proposal for a new file ----------------------------------------------------------------

SYNONYMS = {
    "external_ref": ("job", "job id", "job number", "job no", "work order", "invoice number", "invoice", "reference"),
    "technician_ref": ("technician", "tech", "employee", "assigned to", "assigned employee", "worker", "lead"),
    "technicians": ("crew", "employees", "assigned employees", "workers", "team members", "techs", "crew members"),
    "customer_ref": ("customer id", "client id", "customer number", "account"),
    "customer_name": ("customer", "client", "client name", "display name"),
    "category": ("job type", "type", "service", "service type", "tags", "job tags", "trade", "kind of work"),
    "status": ("job status", "work status", "state"),
    "scheduled_start": ("date", "start", "start time", "scheduled", "scheduled date", "appointment", "booked start"),
    "scheduled_end": ("end", "end time", "end date", "booked end"),
    "arrived_at": ("arrived", "arrival", "arrival time", "on site"),
    "started_at": ("started", "start work", "work started", "started time"),
    "completed_at": ("completed", "finished", "finished time", "finished at", "finish", "completion", "work finished"),
    "estimated_minutes": ("estimate", "estimated duration", "estimated time", "duration estimate"),
    "revenue": ("amount", "total", "total amount", "invoice amount", "job amount", "price", "revenue"),
    "callback_of": ("callback", "callback for", "recall of", "return visit for", "return visit for job"),
}
"""Other names field-service exports give each job field (compared in lower case, punctuation as spaces)."""
DURATIONS = ("on job duration", "job duration", "duration", "minutes on job", "time on job", "work minutes")
STATUS_WORDS = (("cancel", "cancelled"), ("complet", "completed"), ("done", "completed"), ("finish", "completed"),
                ("closed", "completed"), ("schedul", "scheduled"), ("progress", "scheduled"), ("open", "scheduled"),
                ("dispatch", "scheduled"), ("booked", "scheduled"))  # fmt: skip
DATETIME_FORMATS = (None, "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M",
                    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y", "%d/%m/%Y")  # fmt: skip


def _words(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(name).casefold()).split())


def propose(
    columns: Sequence[str],
    samples: Sequence[Sequence[Any]],
    fields: Sequence[str] = JOB_COLUMNS,
    labels: Mapping[str, str] | None = None,
) -> dict:
    """A mapping (JSON form) matching the file's column names, for a person to check and change.

    Each field takes the first column named like it (its own name, its label (``labels`` adds those
    of plugins' job fields) or a usual other name); a status column with other words than ours gets
    a value map guessed from the samples, the start of work the finish minus a duration column, and
    the date format the first common one that reads every sample.
    """
    by_words = {}
    for position, column in enumerate(columns):
        by_words.setdefault(_words(column), position)
    chosen: dict[str, int] = {}
    for name in fields:
        for candidate in (name, LABELS.get(name) or (labels or {}).get(name, ""), *SYNONYMS.get(name, ())):
            position = by_words.get(_words(candidate))
            if candidate and position is not None:
                chosen[name] = position
                break
    rules: dict[str, dict[str, Any]] = {}
    for name, position in chosen.items():
        rules[name] = {"kind": "column", "column": columns[position]}
    if "status" in chosen:
        found = {str(row[chosen["status"]]).strip() for row in samples if len(row) > chosen["status"]} - {""}
        if found - set(JOB_STATUSES):
            rules["status"] = {"kind": "value_map", "column": columns[chosen["status"]], "values": _statuses(found)}
    duration = next((by_words[_words(name)] for name in DURATIONS if _words(name) in by_words), None)
    if "started_at" not in chosen and "completed_at" in chosen and duration is not None:
        rules["started_at"] = {"kind": "minus_minutes", "base": "completed_at", "column": columns[duration]}
    times = [row[chosen[name]] for name in TIMESTAMPS if name in chosen for row in samples if len(row) > chosen[name]]
    return {"fields": rules, "timezone": None, "datetime_format": _format_of(times), "date_format": None,
            "time_format": None}  # fmt: skip


def _statuses(found: set[str]) -> dict[str, str]:
    values = {}
    for value in sorted(found):
        words = value.casefold()
        guess = next((status for word, status in STATUS_WORDS if word in words), None)
        if guess and words != guess:
            values[value] = guess
    return values


def _format_of(samples: Sequence[Any]) -> str | None:
    """The common format reading the most samples (the first of equals); None (ISO 8601) if none reads any."""
    texts = [value for value in samples if isinstance(value, str) and value]
    best, most = None, 0
    for fmt in DATETIME_FORMATS:
        read = formats.reader(fmt) if fmt else formats.iso_datetime
        count = sum(1 for text in texts if _reads(read, text))
        if count > most:
            best, most = fmt, count
    return best


def _reads(read: Any, text: str) -> bool:
    try:
        read(text)
    except ValueError:
        return False
    return True
