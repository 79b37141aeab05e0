"""The columns an import file may have, described for the person preparing it.

One description per import kind: each column's name (the header the file
uses), what kind of value it holds in words, whether it is required, an
example and a sentence on what it means. The import page lists them, the
template CSV is made from them (a header row and an example row, which an
import accepts once the example's technician, or job, is on file), and a test
keeps them in step with the importers' own column lists.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

from kpi_core.declarations import JobField
from kpi_core.imports.feedback import FEEDBACK_COLUMNS
from kpi_core.imports.job_fields import example, type_words
from kpi_core.imports.jobs import JOB_COLUMNS
from kpi_core.storage.models import JOB_STATUSES

TIMESTAMP = "Date and time (ISO 8601); without an offset it is read in the company's time zone"


@dataclass(frozen=True)
class ImportColumn:
    name: str
    type: str
    required: bool
    example: str
    description: str


JOB_IMPORT: tuple[ImportColumn, ...] = (
    ImportColumn(
        "external_ref", "Text, up to 64 characters", True, "JOB-1001",
        "Your reference for the job. Importing a row with the same reference again updates that job.",
    ),
    ImportColumn(
        "technician_ref", "Text, up to 64 characters", False, "T-01",
        "Your reference for the technician who did the job (as on the technician's record); for a crew, its "
        "lead. Every job needs this or the crew column.",
    ),
    ImportColumn(
        "technicians", "Technicians' references, each ref[:role][:share], separated by ;", False, "T-01:lead",
        "Everyone who did the job, for a crew: the lead and helpers, with shares of the credit (T-01:lead;T-02 "
        "splits it equally; T-01:lead:0.6;T-02:helper:0.4 gives the shares, which sum to 1). Empty: the "
        "technician's reference alone.",
    ),
    ImportColumn(
        "customer_ref", "Text, up to 64 characters", False, "C-200",
        "Your reference for the customer; a new reference adds the customer.",
    ),
    ImportColumn("customer_name", "Text, up to 200 characters", False, "Maria Lopez", "The customer's name."),
    ImportColumn("category", "Text, up to 64 characters", True, "plumbing", "The kind of work, such as plumbing."),
    ImportColumn(
        "status", f"One of: {', '.join(JOB_STATUSES)}", True, "completed",
        "Where the job stands; a completed job needs the time it was finished.",
    ),
    ImportColumn("scheduled_start", TIMESTAMP, False, "2026-03-02T09:00", "When the visit was booked to start."),
    ImportColumn("scheduled_end", TIMESTAMP, False, "2026-03-02T11:00", "When the booked window ends."),
    ImportColumn("arrived_at", TIMESTAMP, False, "2026-03-02T09:10", "When the technician arrived."),
    ImportColumn("started_at", TIMESTAMP, False, "2026-03-02T09:15", "When the work started."),
    ImportColumn("completed_at", TIMESTAMP, False, "2026-03-02T10:40", "When the work was finished."),
    ImportColumn(
        "estimated_minutes", "Whole number of minutes, 0 to 100,000", False, "90", "How long the job should take."
    ),
    ImportColumn(
        "revenue", "Amount in the company's currency, such as 125.50", False, "262.80", "What the job was billed."
    ),
    ImportColumn(
        "callback_of", "Text: another job's reference", False, "",
        "For a return visit: the reference of the job it puts right (stored already, or earlier in the file).",
    ),
)  # fmt: skip

FEEDBACK_IMPORT: tuple[ImportColumn, ...] = (
    ImportColumn(
        "job_ref", "Text: the job's external_ref", True, "JOB-1001", "The job the customer's feedback is about."
    ),
    ImportColumn("rating", "Whole number of stars, 1 to 5", True, "5", "The customer's rating of the job."),
    ImportColumn(
        "nps", "Whole number, 0 to 10", False, "9", "How likely the customer is to recommend you (net promoter score)."
    ),
    ImportColumn("comment", "Text, up to 2,000 characters", False, "On time and tidy.", "What the customer wrote."),
    ImportColumn("received_at", TIMESTAMP, True, "2026-03-03T12:00", "When the feedback came in."),
)

IMPORT_COLUMNS = {"jobs": JOB_IMPORT, "feedback": FEEDBACK_IMPORT}
"""Each import kind's columns, in the order the importer reads them."""
IMPORT_KEYS = {"jobs": JOB_COLUMNS, "feedback": FEEDBACK_COLUMNS}


def import_columns(kind: str, job_fields: Mapping[str, JobField] | None = None) -> tuple[ImportColumn, ...]:
    """The columns of an import kind; for jobs, then a column per plugin job field, named by its key."""
    extra = tuple(
        ImportColumn(field.key, type_words(field), field.required, example(field), field.help_text or field.label)
        for field in (job_fields or {}).values()
    )
    return IMPORT_COLUMNS[kind] + (extra if kind == "jobs" else ())


def template_csv(kind: str, job_fields: Mapping[str, JobField] | None = None) -> str:
    """A CSV a person can fill in: the header row and one example row. It starts with a byte-order
    mark, so that Excel reads it as UTF-8 (the importer accepts the mark)."""
    out = io.StringIO(newline="")
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    columns = import_columns(kind, job_fields)
    writer.writerow([column.name for column in columns])
    writer.writerow([column.example for column in columns])
    return out.getvalue()
