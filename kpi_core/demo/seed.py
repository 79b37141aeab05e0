"""Seeds the demo company into an empty database: fast, deterministic, all or nothing.

The rows are generated in memory first (ids assigned here, so a callback
names the job it reworks without a round-trip), then bulk inserted with
SQLAlchemy Core in one transaction: if anything fails, nothing is left
half-written. Every job has its crew in ``job_assignments`` (Core inserts
bypass the ORM's listener that gives a job its sole lead): most have their
technician alone, and about one in seven a helper from the same team.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, func, insert, select

from kpi_core.declarations import FormField
from kpi_core.demo.profiles import (
    BUSINESS_NAMES,
    EVALUATION_COMMENTS,
    FEEDBACK_COMMENTS,
    FIRST_NAMES,
    LAST_NAMES,
    PROFILES,
    TEAMS,
    TECHNICIAN_REPLIES,
    Profile,
)
from kpi_core.evaluations.scoring import form_snapshot, form_version, score_answers
from kpi_core.storage.models import Base
from kpi_core.storage.types import utcnow

if TYPE_CHECKING:
    from kpi_core.config import Settings
    from kpi_core.plugins import PluginHost
    from kpi_core.storage.db import Database

Progress = Callable[[int], None]
Row = dict[str, Any]

SEED = 20_241_124
HISTORY_DAYS = 548  # about 18 months
FUTURE_DAYS = 14
CUSTOMER_COUNT = 3_200
BUSINESS_CUSTOMERS = 40  # the most frequent customers: landlords, offices, shops
BATCH_SIZE = 5_000
DAY_START = 8 * 60  # minutes after local midnight
LAST_START = 16 * 60
SATURDAY_LAST_START = 11 * 60
TRAVEL_MINUTES = 30
BOOKED_SHARE = 0.55  # share of free slots that customers fill
ABSENT_SHARE = 0.05  # sick days, holidays, training
SATURDAY_SHARE = 0.12
CANCELLED_SHARE = 0.035
FEEDBACK_SHARE = 0.66
SAME_TECHNICIAN_CALLBACK = 0.7
GENERATION_SHARE = 35  # percent of the progress bar spent generating rows


@dataclass(frozen=True)
class Category:
    weight: float
    minutes: tuple[int, int]
    hourly_rate: int
    materials: int
    crews: float = 0.1
    """Share of this kind's jobs (of two hours or more; half as many shorter ones) done by two people."""


CATEGORIES: dict[str, Category] = {
    "plumbing": Category(18, (45, 180), 110, 180, 0.1),
    "electrical": Category(15, (45, 180), 120, 150, 0.12),
    "carpentry": Category(12, (60, 240), 95, 220, 0.36),
    "painting": Category(10, (120, 360), 80, 160, 0.38),
    "hvac": Category(10, (60, 180), 125, 260, 0.3),
    "appliance": Category(11, (45, 120), 100, 120, 0.07),
    "drywall": Category(9, (60, 240), 85, 90, 0.36),
    "general": Category(15, (30, 120), 85, 60, 0.1),
}
CREW_SEED = SEED + 1
"""Crews are drawn from their own generator, after the jobs: the jobs are the same with or without them."""
LEAD_HEAVY_SHARE = 0.3
"""Share of two-person crews whose lead takes 0.6 of the credit and the helper 0.4 (the others split it equally)."""

SEEDED_TABLES = ("teams", "technicians", "customers", "jobs", "feedback", "evaluations")
"""The tables the seeder fills, parents first; any row in one of them means "not empty"."""
NPS_BY_RATING = {5: (9, 10), 4: (7, 9), 3: (5, 7), 2: (2, 5), 1: (0, 3)}


@dataclass
class Company:
    """The generated rows of every table, ids assigned, ready to insert in this order."""

    teams: list[Row] = field(default_factory=list)
    technicians: list[Row] = field(default_factory=list)
    customers: list[Row] = field(default_factory=list)
    jobs: list[Row] = field(default_factory=list)
    feedback: list[Row] = field(default_factory=list)
    evaluations: list[Row] = field(default_factory=list)
    assignments: list[Row] = field(default_factory=list)
    """Every job's crew (``job_assignments``): inserted after the jobs, not counted as a table of its own."""

    def tables(self) -> list[tuple[Table, list[Row]]]:
        rows = (self.teams, self.technicians, self.customers, self.jobs, self.feedback, self.evaluations)
        tables = Base.metadata.tables
        listed = [(tables[name], table_rows) for name, table_rows in zip(SEEDED_TABLES, rows, strict=True)]
        return [*listed[:4], (tables["job_assignments"], self.assignments), *listed[4:]]


@dataclass(frozen=True)
class SeedSummary:
    """What :func:`seed_if_empty` found or did, with the row count of each seeded table."""

    seeded: bool
    counts: dict[str, int]

    def describe(self) -> str:
        """One line for people, e.g. ``Seeded demo company: 3 teams, 25 technicians, ...``."""
        listed = ", ".join(f"{count:,} {table}" for table, count in self.counts.items())
        if self.seeded:
            return f"Seeded demo company: {listed}"
        if self.counts.get("technicians") and self.counts.get("jobs"):
            return f"Demo data already present: {listed} (reused)"
        return f"Database is not empty, demo data not seeded: {listed}"


def seed_if_empty(
    database: Database,
    plugins: PluginHost,
    settings: Settings,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> SeedSummary:
    """Seed the demo company unless the database already holds any of its tables' rows.

    About 18 months of history up to ``now`` (aware; default: the current time) plus
    two weeks of booked jobs, laid out in the company time zone. Evaluations
    answer the form fields the loaded ``plugins`` declare. ``progress`` is
    called with a cumulative, increasing percentage and finally 100. Runs in
    one transaction: a failure leaves the database as it was.
    """
    report = _Monotonic(progress)
    with database.engine.begin() as connection:
        counts = _counts(connection)
        if any(counts.values()):
            report(100)
            return SeedSummary(seeded=False, counts=counts)
        fields = list(plugins.form_fields.values())
        company = build_company(settings.zone, now or utcnow(), fields, progress=report)
        _insert(connection, company, report)
        _advance_sequences(connection)
    report(100)
    counts = {table.name: len(rows) for table, rows in company.tables() if table.name in SEEDED_TABLES}
    return SeedSummary(seeded=True, counts=counts)


def build_company(
    zone: ZoneInfo, now: datetime, fields: Sequence[FormField], *, progress: Progress | None = None
) -> Company:
    """Generate the demo company's rows in memory; the same arguments give the same rows."""
    return _Generator(zone, now, fields, progress or (lambda _: None)).run()


class _Monotonic:
    """Passes on only increasing percentages, so callers can report freely."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.last = -1

    def __call__(self, percent: int) -> None:
        percent = max(0, min(100, percent))
        if self.progress is not None and percent > self.last:
            self.last = percent
            self.progress(percent)


def _counts(connection: Connection) -> dict[str, int]:
    tables = Base.metadata.tables
    return {name: connection.scalar(select(func.count()).select_from(tables[name])) or 0 for name in SEEDED_TABLES}


def _insert(connection: Connection, company: Company, progress: Progress) -> None:
    total = sum(len(rows) for _, rows in company.tables())
    done = 0
    for table, rows in company.tables():
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            connection.execute(insert(table), batch)
            done += len(batch)
            progress(GENERATION_SHARE + (99 - GENERATION_SHARE) * done // total)


def _advance_sequences(connection: Connection) -> None:
    # The ids were given explicitly, which PostgreSQL's sequences do not see;
    # without this the next ordinary insert would collide with id 1.
    if connection.dialect.name != "postgresql":
        return
    for name in SEEDED_TABLES:
        highest = select(func.max(Base.metadata.tables[name].c.id)).scalar_subquery()
        connection.execute(select(func.setval(func.pg_get_serial_sequence(name, "id"), highest)))


class _Generator:
    """Lays out the company day by day, technician by technician, drawing from one seeded RNG."""

    def __init__(self, zone: ZoneInfo, now: datetime, fields: Sequence[FormField], progress: Progress) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
        self.zone = zone
        self.now = now.astimezone(UTC)
        self.fields = list(fields)
        self.progress = progress
        self.today = self.now.astimezone(zone).date()
        self.first_day = self.today - timedelta(days=HISTORY_DAYS)
        self.last_day = self.today + timedelta(days=FUTURE_DAYS)
        self.company = Company()
        self.employed = [self._employment(profile) for profile in PROFILES]
        # Return visits waiting for their day: (technician index, day) -> jobs to rework.
        self.pending: dict[tuple[int, date], list[Row]] = defaultdict(list)

    def run(self) -> Company:
        self._teams_and_technicians()
        self._jobs()
        self._crews()
        self._customers()
        self._evaluations()
        self.progress(GENERATION_SHARE)
        return self.company

    # -- time helpers -------------------------------------------------

    def _at(self, day: date, minutes: int) -> datetime:
        local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=self.zone)
        return local.astimezone(UTC)

    def _elapsed(self, day: date) -> float:
        """How far into the history ``day`` is: 0 at its start, 1 from today on."""
        return min(1.0, max(0.0, (day - self.first_day).days / HISTORY_DAYS))

    def _employment(self, profile: Profile) -> tuple[date, date]:
        start = self.first_day
        if profile.hired_months_ago is not None:
            start = self.today - timedelta(days=30 * profile.hired_months_ago)
        end = self.last_day
        if profile.left_months_ago is not None:
            end = self.today - timedelta(days=30 * profile.left_months_ago)
        return start, end

    def _works_on(self, technician: int, day: date) -> bool:
        start, end = self.employed[technician]
        return start <= day <= end

    @staticmethod
    def _next_weekday(day: date) -> date:
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day

    # -- people ---------------------------------------------------------

    def _teams_and_technicians(self) -> None:
        created = self._at(self.first_day - timedelta(days=365), 9 * 60)
        for index, name in enumerate(TEAMS, start=1):
            self.company.teams.append({"id": index, "name": name, "created_at": created, "updated_at": created})
        for index, profile in enumerate(PROFILES):
            start, end = self.employed[index]
            hired = start
            if profile.hired_months_ago is None:  # joined before the history starts
                hired = start - timedelta(days=self.rng.randint(200, 3000))
            joined = self._at(hired, 9 * 60)
            first, _, last = profile.name.partition(" ")
            self.company.technicians.append(
                {
                    "id": index + 1,
                    "external_ref": profile.ref,
                    "name": profile.name,
                    "email": f"{first}.{last.replace(chr(39), '')}@example.com".lower(),
                    "team_id": profile.team + 1,
                    "active": end >= self.today,
                    "hired_on": hired,
                    "created_at": joined,
                    "updated_at": self._at(end, 17 * 60) if end < self.today else joined,
                }
            )

    def _customers(self) -> None:
        first_booking: dict[int, datetime] = {}
        for job in self.company.jobs:
            customer = job["customer_id"]
            if customer not in first_booking or job["created_at"] < first_booking[customer]:
                first_booking[customer] = job["created_at"]
        for index in range(CUSTOMER_COUNT):
            last = self.rng.choice(LAST_NAMES)
            if index < BUSINESS_CUSTOMERS:
                name = self.rng.choice(BUSINESS_NAMES).format(last=last)
            else:
                name = f"{self.rng.choice(FIRST_NAMES)} {last}"
            created = first_booking.get(index + 1, self._at(self.first_day, 9 * 60))
            self.company.customers.append(
                {
                    "id": index + 1,
                    "external_ref": f"CUST-{index + 1:05d}",
                    "name": name,
                    "created_at": created,
                    "updated_at": created,
                }
            )

    # -- jobs -------------------------------------------------------------

    def _jobs(self) -> None:
        days = (self.last_day - self.first_day).days
        for offset in range(days + 1):
            day = self.first_day + timedelta(days=offset)
            if day.weekday() == 6:
                continue
            for technician in range(len(PROFILES)):
                if self._works_on(technician, day):
                    self._workday(technician, day)
            if offset % 30 == 0:
                self.progress(GENERATION_SHARE * offset // days)

    def _workday(self, technician: int, day: date) -> None:
        due = self.pending.pop((technician, day), [])
        saturday = day.weekday() == 5
        present = self.rng.random() < SATURDAY_SHARE if saturday else self.rng.random() >= ABSENT_SHARE
        ahead = (day - self.today).days
        booked = BOOKED_SHARE if ahead <= 0 else max(0.15, BOOKED_SHARE - 0.05 * ahead)
        clock = DAY_START
        last_start = SATURDAY_LAST_START if saturday else LAST_START
        while present and clock <= last_start:
            if due:
                clock = self._visit(technician, day, clock, due.pop(0))
            elif self.rng.random() < booked:
                clock = self._visit(technician, day, clock, None)
            else:
                clock += 60
        for original in due:  # no room today: the next working day
            later = self._next_weekday(day)
            if later <= self.last_day and self._works_on(technician, later):
                self.pending[(technician, later)].append(original)

    def _visit(self, technician: int, day: date, clock: int, original: Row | None) -> int:
        """Book one job at ``clock``; returns when the technician is free for the next."""
        rng = self.rng
        if original is None:
            category = self._category(PROFILES[technician])
            low, high = CATEGORIES[category].minutes
            estimate = rng.randrange(low, high + 1, 15)
            customer = 1 + int(CUSTOMER_COUNT * rng.random() ** 1.6)  # a few customers book often
        else:
            category, customer = original["category"], original["customer_id"]
            estimate = rng.randrange(30, 91, 15)
        window = _round_up(estimate + 30, 30)
        start = self._at(day, clock)
        booked_at = start - timedelta(days=rng.randint(1, 21), minutes=rng.randint(0, 480))
        if original is not None:
            booked_at = original["completed_at"] + (start - original["completed_at"]) / 3
        job_id = len(self.company.jobs) + 1
        job: Row = {
            "id": job_id,
            "external_ref": f"JOB-{job_id:06d}",
            "technician_id": technician + 1,
            "customer_id": customer,
            "category": category,
            "status": "scheduled",
            "scheduled_start": start,
            "scheduled_end": start + timedelta(minutes=window),
            "arrived_at": None,
            "started_at": None,
            "completed_at": None,
            "estimated_minutes": estimate,
            "revenue": None,
            "callback_of_id": original["id"] if original is not None else None,
            "created_at": min(booked_at, self.now),
            "updated_at": min(booked_at, self.now),
        }
        self.company.jobs.append(job)
        if rng.random() < (CANCELLED_SHARE if start <= self.now else CANCELLED_SHARE / 2):
            job["status"] = "cancelled"
            job["updated_at"] = min(start - timedelta(hours=rng.randint(2, 48)), self.now)
        elif start <= self.now:
            self._work(job, PROFILES[technician], technician, original)
        return _round_up(clock + window + TRAVEL_MINUTES, 30)

    def _crews(self) -> None:
        """Each job's crew: its technician alone, or with a helper from the same team at work that day.

        Long jobs of the trades that need two pairs of hands (painting, drywall, carpentry, HVAC) are
        the two-person ones, about one job in seven; new hires help more often. Return visits are
        made alone.
        """
        rng = random.Random(CREW_SEED)  # noqa: S311 - reproducible demo data, not secrets
        teams = [[i for i, other in enumerate(PROFILES) if other.team == profile.team] for profile in PROFILES]
        for job in self.company.jobs:
            lead = job["technician_id"] - 1
            helper = None
            if job["callback_of_id"] is None:
                category = CATEGORIES[job["category"]]
                chance = category.crews * (1.0 if job["estimated_minutes"] >= 120 else 0.5)
                if rng.random() < chance:
                    helper = self._helper(rng, lead, teams[lead], job["scheduled_start"].astimezone(self.zone).date())
            if helper is None:
                self.company.assignments.append(_member(job, lead, "lead", 1.0))
                continue
            lead_share = 0.6 if rng.random() < LEAD_HEAVY_SHARE else 0.5
            self.company.assignments.append(_member(job, lead, "lead", lead_share))
            self.company.assignments.append(_member(job, helper, "helper", round(1 - lead_share, 2)))

    def _helper(self, rng: random.Random, lead: int, team: list[int], day: date) -> int | None:
        others = [index for index in team if index != lead and self._works_on(index, day)]
        if not others:
            return None
        return rng.choices(others, weights=[PROFILES[index].helps for index in others])[0]

    def _category(self, profile: Profile) -> str:
        if self.rng.random() < 0.7:
            return self.rng.choice(profile.specialties)
        return self.rng.choices(list(CATEGORIES), weights=[c.weight for c in CATEGORIES.values()])[0]

    def _work(self, job: Row, profile: Profile, technician: int, original: Row | None) -> None:
        rng = self.rng
        elapsed = self._elapsed(job["scheduled_start"].astimezone(self.zone).date())
        late = rng.random() < profile.late_rate(elapsed)
        delay = 16 + min(rng.expovariate(1 / 18), 100) if late else max(-25.0, min(15.0, rng.gauss(-4, 5)))
        arrived = job["scheduled_start"] + _minutes(delay)
        started = arrived + _minutes(rng.randint(5, 15))
        factor = rng.lognormvariate(math.log(profile.overrun), 0.15)
        completed = started + _minutes(job["estimated_minutes"] * factor)
        for column, moment in (("arrived_at", arrived), ("started_at", started)):
            if moment <= self.now:
                job[column] = moment
                job["updated_at"] = moment
        if completed > self.now:
            return  # still on site
        job.update(status="completed", completed_at=completed, updated_at=completed)
        job["revenue"] = self._revenue(job, original)
        reworked = original is None and rng.random() < profile.callback_rate
        if reworked:
            self._book_callback(technician, job)
        penalty = 0.7 * late + 0.4 * (factor > 1.25) + 0.8 * reworked + 0.5 * (original is not None)
        self._feedback(job, profile, profile.quality(elapsed) - penalty)

    def _revenue(self, job: Row, original: Row | None) -> Decimal:
        rng = self.rng
        if original is not None and rng.random() < 0.8:
            return Decimal("0.00")  # rework under warranty
        spec = CATEGORIES[job["category"]]
        hours = max(1.0, job["estimated_minutes"] / 60)  # one hour minimum charge
        cents = round(100 * (spec.hourly_rate * hours + rng.uniform(0, spec.materials)))
        return Decimal(cents).scaleb(-2)

    def _book_callback(self, technician: int, job: Row) -> None:
        rng = self.rng
        days = max(1, min(42, round(rng.lognormvariate(math.log(5), 0.8))))
        day = job["completed_at"].astimezone(self.zone).date() + timedelta(days=days - 1)
        day = self._next_weekday(day)
        if day > self.last_day:
            return
        who: int | None = technician
        if rng.random() >= SAME_TECHNICIAN_CALLBACK or not self._works_on(technician, day):
            team = PROFILES[technician].team
            others = [
                index
                for index, profile in enumerate(PROFILES)
                if profile.team == team and index != technician and self._works_on(index, day)
            ]
            who = rng.choice(others) if others else None
        if who is not None:
            self.pending[(who, day)].append(job)

    def _feedback(self, job: Row, profile: Profile, mean_rating: float) -> None:
        rng = self.rng
        if rng.random() >= FEEDBACK_SHARE:
            return
        received = job["completed_at"] + _minutes(rng.randint(180, 3000))
        if received > self.now:
            return
        rating = max(1, min(5, round(rng.gauss(mean_rating, 0.75))))
        nps = None if rng.random() < 0.12 else rng.randint(*NPS_BY_RATING[rating])
        comment = None
        if rng.random() < 0.45:
            comment = rng.choice(FEEDBACK_COMMENTS[rating]).format(first=profile.name.split()[0])
        self.company.feedback.append(
            {
                "id": len(self.company.feedback) + 1,
                "job_id": job["id"],
                "rating": rating,
                "nps": nps,
                "comment": comment,
                "received_at": received,
                "created_at": received,
                "updated_at": received,
            }
        )

    # -- evaluations --------------------------------------------------------

    def _evaluations(self) -> None:
        version, snapshot = form_version(self.fields), form_snapshot(self.fields)
        for technician, profile in enumerate(PROFILES):
            start, end = self.employed[technician]
            month = _next_month(start) if start.day > 1 else start
            while (period_end := _next_month(month) - timedelta(days=1)) < min(self.today, end):
                submitted = self._at(period_end + timedelta(days=self.rng.randint(2, 9)), self.rng.randint(540, 1020))
                if submitted > self.now:
                    break
                self._evaluation(technician, profile, month, period_end, submitted, version, snapshot)
                month = _next_month(month)

    def _evaluation(
        self,
        technician: int,
        profile: Profile,
        period_start: date,
        period_end: date,
        submitted: datetime,
        version: str,
        snapshot: list[dict[str, Any]],
    ) -> None:
        rng = self.rng
        answers = self._answers(profile, self._elapsed(period_end))
        score = score_answers(self.fields, answers)
        acknowledged: datetime | None = submitted + timedelta(days=rng.randint(1, 6), minutes=rng.randint(0, 480))
        if rng.random() >= 0.85 or acknowledged > self.now:
            acknowledged = None
        reply = rng.choice(TECHNICIAN_REPLIES) if acknowledged and rng.random() < 0.25 else None
        self.company.evaluations.append(
            {
                "id": len(self.company.evaluations) + 1,
                "technician_id": technician + 1,
                "evaluator_id": None,
                "period_start": period_start,
                "period_end": period_end,
                "form_version": version,
                "form_snapshot": snapshot,
                "answers": answers,
                "score": None if score is None else round(score, 1),
                "status": "acknowledged" if acknowledged else "submitted",
                "revision": 1,
                "supersedes_id": None,
                "technician_comment": reply,
                "submitted_at": submitted,
                "acknowledged_at": acknowledged,
                "created_at": submitted - timedelta(minutes=rng.randint(10, 90)),
                "updated_at": acknowledged or submitted,
            }
        )

    def _answers(self, profile: Profile, elapsed: float) -> dict[str, Any]:
        # Managers see what customers see: the level follows the profile's quality drift.
        level = profile.evaluation_level + profile.quality(elapsed) - profile.quality_start
        answers: dict[str, Any] = {}
        for form_field in self.fields:
            skipped = 0.5 if form_field.type == "text" else 0.1
            if not form_field.required and self.rng.random() < skipped:
                continue
            weak = any(word in form_field.key for word in profile.weak_spots)
            share = max(0.0, min(1.0, self.rng.gauss((level - (1.4 if weak else 0) - 1) / 4, 0.12)))
            answers[form_field.key] = self._answer(form_field, share, profile)
        return answers

    def _answer(self, form_field: FormField, share: float, profile: Profile) -> Any:
        """An answer at ``share`` (0 worst .. 1 best) of the field's scale."""
        if form_field.type == "rating":
            return 1 + round(4 * share)
        if form_field.type == "yes_no":
            return self.rng.random() < min(0.97, share + 0.15)
        if form_field.type == "choice":
            return form_field.choices[round(share * (len(form_field.choices) - 1))]
        if form_field.type == "number":
            low, high = float(form_field.minimum or 0), float(form_field.maximum or 0)
            value = low + (high - low) * share
            return round(value) if low.is_integer() and high.is_integer() else round(value, 2)
        comments = EVALUATION_COMMENTS.get(profile.kind, EVALUATION_COMMENTS["ordinary"])
        return self.rng.choice(comments).format(first=profile.name.split()[0])


def _member(job: Row, technician: int, role: str, share: float) -> Row:
    return {"job_id": job["id"], "technician_id": technician + 1, "role": role, "share": share}


def _minutes(minutes: float) -> timedelta:
    return timedelta(seconds=round(minutes * 60))


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
