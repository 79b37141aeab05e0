"""Housecall Pro's job report export.

Source: Housecall Pro's help centre, "Exported Report Breakdown"
(https://help.housecallpro.com/en/articles/2999685-exported-report-breakdown),
which lists the columns of an exported report: A "Invoice Number" (the job's
invoice number; a job split into segments has one per segment, such as
``1042-2``), D "Date" (when the job is scheduled to start), E "End Time" (when
it is scheduled to be completed), G "On Job Duration" (minutes between Start
and Finish), I "Customer" (the customer's display name), and further
customer, address and invoice columns, the invoice's finished time among
them. The employee, the job's tags and its status are named as Handyman KPI's
issue #18 lists them ("finished time, employee, customer, tags"): "Finished
Time", "Employee", "Tags" and "Status", whose values are Housecall Pro's job
work statuses (needs scheduling, scheduled, in progress, complete unrated,
complete rated, user canceled, pro canceled), with or without underscores.

The help centre does not say how dates are written: the preset reads them as
the US-style "03/02/2026 02:30 PM" that Housecall Pro shows, in the company's
time zone. An export written otherwise is read by a saved copy of the preset
with its own date format (the import page copies a preset in one step).
"""

from __future__ import annotations

from kpi_core.declarations import FieldRule, ImportMapping, ImportPreset

SOURCE = "https://help.housecallpro.com/en/articles/2999685-exported-report-breakdown"
STATUSES = {
    "needs scheduling": "scheduled",
    "unscheduled": "scheduled",
    "scheduled": "scheduled",
    "in progress": "scheduled",
    "complete": "completed",
    "complete unrated": "completed",
    "complete rated": "completed",
    "user canceled": "cancelled",
    "pro canceled": "cancelled",
}
"""Housecall Pro's work statuses -> ours; each is also matched written with underscores (``pro_canceled``)."""


def job_report() -> ImportPreset:
    """The preset for Housecall Pro's exported job report (columns as its help centre documents them)."""
    statuses = STATUSES | {status.replace(" ", "_"): job for status, job in STATUSES.items()}
    return ImportPreset(
        key="housecall_pro.job_report",
        label="Housecall Pro: job report export",
        description=(
            "The job report exported from Housecall Pro's Reporting tab, as a CSV or Excel file: one row per "
            "invoice (a segmented job has one per segment). The employee is the technician; the job's tags "
            "give the kind of work; the start of work is the finish minus the time on the job."
        ),
        source=SOURCE,
        mapping=ImportMapping(
            fields={
                "external_ref": FieldRule("column", column="Invoice Number"),
                "technician_ref": FieldRule("column", column="Employee"),
                "customer_ref": FieldRule("column", column="Customer"),
                "customer_name": FieldRule("column", column="Customer"),
                "category": FieldRule("column", column="Tags"),
                "status": FieldRule("value_map", column="Status", values=statuses),
                "scheduled_start": FieldRule("column", column="Date"),
                "scheduled_end": FieldRule("column", column="End Time"),
                "completed_at": FieldRule("column", column="Finished Time"),
                "started_at": FieldRule("minus_minutes", base="completed_at", column="On Job Duration"),
            },
            datetime_format="%m/%d/%Y %I:%M %p",
        ),
    )
