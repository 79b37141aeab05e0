"""The KPI engine: grouping, periods in the company zone, pooling, empty groups, scope and targets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import Scope
from kpi_core.declarations import Target
from kpi_core.errors import Invalid
from kpi_core.kpis.context import default_contexts
from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import Filters, KpiQuery
from kpi_core.storage.models import Evaluation, Feedback, Job, KpiTarget, Team, Technician

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
EVALUATION = "quality.evaluation_score"
ON_TIME = "timeliness.on_time_arrival_rate"
NEW_YORK = "America/New_York"


def utc(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(month: int, day: int, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, fold=fold, tzinfo=ZoneInfo(NEW_YORK))


class Facts:
    """Adds teams, technicians, jobs (with feedback) and evaluations, each committed at once."""

    def __init__(self, database) -> None:
        self.database = database
        self.refs = 0

    def add(self, row) -> int:
        with self.database.session() as session:
            session.add(row)
            session.flush()
            return row.id

    def team(self, name: str) -> int:
        return self.add(Team(name=name))

    def technician(self, name: str, team: int | None = None) -> int:
        self.refs += 1
        return self.add(Technician(external_ref=f"T-{self.refs}", name=name, team_id=team))

    def job(self, technician: int, *, category: str = "plumbing", rating: int | None = None, **fields) -> int:
        self.refs += 1
        fields.setdefault("status", "completed")
        job_id = self.add(Job(external_ref=f"J-{self.refs}", technician_id=technician, category=category, **fields))
        if rating is not None:
            self.add(Feedback(job_id=job_id, rating=rating, received_at=utc(1, 1)))
        return job_id

    def fixed(self, technician: int, completed_at: datetime, **fields) -> int:
        """A completed job that needed no callback."""
        return self.job(technician, completed_at=completed_at, **fields)

    def spoiled(self, technician: int, completed_at: datetime, **fields) -> int:
        """A completed job with a callback: it counts in the first-time-fix sample but not the numerator."""
        original = self.job(technician, completed_at=completed_at, **fields)
        self.job(technician, status="scheduled", scheduled_start=completed_at, callback_of_id=original)
        return original

    def evaluation(self, technician: int, period_end: date, score: float) -> int:
        return self.add(
            Evaluation(
                technician_id=technician,
                period_start=period_end.replace(day=1),
                period_end=period_end,
                form_version="v1",
                form_snapshot=[],
                answers={},
                score=score,
                status="submitted",
            )
        )


@pytest.fixture
def facts(database) -> Facts:
    return Facts(database)


NO_TARGETS = staticmethod(lambda key, team: None)


def values(
    database,
    plugins,
    *kpis: str,
    zone: str = "UTC",
    scope: Scope | None = None,
    target_for=None,
    context_for=None,
    **query,
):
    query.setdefault("start", date(2026, 1, 1))
    query.setdefault("end", date(2027, 1, 1))
    query.setdefault("group_by", "technician")
    kpi_query = KpiQuery(kpis=kpis, **query)
    with database.session(write=False) as session:
        return compute_values(
            session,
            plugins,
            kpi_query,
            zone=ZoneInfo(zone),
            scope=scope or Scope(None),
            target_for=target_for,
            context_for=context_for,
            min_sample=None,  # statuses on these few jobs: small samples are tested in test_kpi_honest.py
        )


def cells(rows) -> dict:
    """{(kpi, group_id, period_start): (numerator, denominator, value)}"""
    return {(row.kpi, row.group_id, row.period_start): (row.numerator, row.denominator, row.value) for row in rows}


@pytest.fixture
def north(facts) -> dict[str, int]:
    """Team North: Ada fixed 1 of 1 job, Bob 1 of 3 (January); Cy has no team and fixed 1 of 2."""
    team = facts.team("North")
    ada, bob, cy = facts.technician("Ada", team), facts.technician("Bob", team), facts.technician("Cy")
    facts.fixed(ada, utc(1, 5))
    facts.fixed(bob, utc(1, 6))
    facts.spoiled(bob, utc(1, 7))
    facts.spoiled(bob, utc(1, 8), category="electrical")
    facts.fixed(cy, utc(1, 9), category="electrical")
    facts.spoiled(cy, utc(1, 10))
    return {"team": team, "ada": ada, "bob": bob, "cy": cy}


# --- pooling and grouping ----------------------------------------------------------------


def test_team_rate_pools_numerators_not_means(database, plugins, north):
    rows = cells(values(database, plugins, FTF, group_by="team", end=date(2026, 2, 1)))

    assert rows[(FTF, str(north["team"]), date(2026, 1, 1))] == (2, 4, 0.5)


def test_company_rate_pools_every_technicians_facts(database, plugins, north):
    rows = cells(values(database, plugins, FTF, group_by="company", end=date(2026, 2, 1)))

    assert rows == {(FTF, "company", date(2026, 1, 1)): (3, 6, 0.5)}


def test_technicians_are_grouped_by_id_with_their_names(database, plugins, north):
    rows = values(database, plugins, FTF, end=date(2026, 2, 1))

    assert [(row.group_label, row.numerator, row.denominator) for row in rows] == [
        ("Ada", 1, 1),
        ("Bob", 1, 3),
        ("Cy", 1, 2),
    ]
    assert rows[0].group_id == str(north["ada"])


def test_technicians_without_a_team_form_the_group_none(database, plugins, north):
    rows = values(database, plugins, FTF, group_by="team", end=date(2026, 2, 1))

    assert [(row.group_id, row.group_label) for row in rows] == [(str(north["team"]), "North"), ("none", "No team")]


def test_categories_are_their_own_groups(database, plugins, north):
    rows = cells(values(database, plugins, FTF, group_by="category", end=date(2026, 2, 1)))

    assert rows == {
        (FTF, "electrical", date(2026, 1, 1)): (1, 2, 0.5),
        (FTF, "plumbing", date(2026, 1, 1)): (2, 4, 0.5),
    }


def test_evaluation_kpis_have_no_rows_by_category(database, plugins, north, facts):
    facts.evaluation(north["ada"], date(2026, 1, 31), 90)

    assert values(database, plugins, EVALUATION, FTF, group_by="category", end=date(2026, 2, 1)) != []
    assert [row.kpi for row in values(database, plugins, EVALUATION, FTF, group_by="category")] == [FTF, FTF]
    assert values(database, plugins, EVALUATION, filters=Filters(categories=("plumbing",))) == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(technicians=(1,)), (1, 1)),
        (Filters(technicians=(1, 2)), (2, 4)),
        (Filters(categories=("electrical",)), (1, 2)),
        (Filters(categories=("electrical", "plumbing")), (3, 6)),
    ],
)
def test_filters_restrict_the_facts(database, plugins, north, filters, expected):
    (row,) = values(database, plugins, FTF, group_by="company", end=date(2026, 2, 1), filters=filters)

    assert (row.numerator, row.denominator) == expected


def test_the_team_filter_keeps_only_that_teams_technicians(database, plugins, north):
    rows = values(database, plugins, FTF, filters=Filters(teams=(north["team"],)), end=date(2026, 2, 1))

    assert [row.group_label for row in rows] == ["Ada", "Bob"]


# --- empty and absent ----------------------------------------------------------------------


def test_a_group_with_facts_but_no_sample_has_a_null_value_not_zero(database, plugins, facts):
    ada = facts.technician("Ada")
    facts.job(ada, completed_at=utc(1, 5))  # no feedback

    (row,) = values(database, plugins, RATING)

    assert (row.value, row.numerator, row.denominator, row.status) == (None, 0, 0, None)


def test_a_group_without_facts_in_a_period_has_no_row(database, plugins, facts):
    ada = facts.technician("Ada")
    facts.fixed(ada, utc(1, 5))
    facts.fixed(ada, utc(3, 5))

    rows = values(database, plugins, FTF, end=date(2026, 4, 1))

    assert [row.period_start for row in rows] == [date(2026, 1, 1), date(2026, 3, 1)]


def test_no_facts_at_all_gives_no_rows(database, plugins):
    assert values(database, plugins) == []


def test_the_range_includes_start_and_excludes_end(database, plugins, facts):
    ada = facts.technician("Ada")
    facts.fixed(ada, utc(1, 31, 23, 59))
    facts.fixed(ada, utc(2, 1, 0, 0))
    facts.fixed(ada, utc(2, 28, 23, 59))
    facts.fixed(ada, utc(3, 1, 0, 0))

    (row,) = values(database, plugins, FTF, start=date(2026, 2, 1), end=date(2026, 3, 1))

    assert row.denominator == 2


# --- periods in the company's zone ------------------------------------------------------------


@pytest.fixture
def new_york(settings) -> str:
    return dataclasses.replace(settings, timezone=NEW_YORK).timezone


def test_a_job_completed_late_on_march_31_in_new_york_belongs_to_march(database, plugins, facts, new_york):
    ada = facts.technician("Ada")
    facts.fixed(ada, local(3, 31, 23, 30))  # 2026-04-01 03:30 UTC, after the spring-forward change
    facts.spoiled(ada, local(4, 1, 0, 30))

    rows = cells(values(database, plugins, FTF, zone=new_york, start=date(2026, 3, 1), end=date(2026, 5, 1)))

    assert rows == {(FTF, str(ada), date(2026, 3, 1)): (1, 1, 1.0), (FTF, str(ada), date(2026, 4, 1)): (0, 1, 0.0)}


def test_months_around_the_fall_back_change_are_cut_at_local_midnight(database, plugins, facts, new_york):
    ada = facts.technician("Ada")
    facts.fixed(ada, local(10, 31, 23, 30))  # EDT: 2026-11-01 03:30 UTC
    facts.spoiled(ada, local(11, 1, 1, 30, fold=1))  # the second 01:30, EST: 06:30 UTC

    rows = cells(values(database, plugins, FTF, zone=new_york, start=date(2026, 10, 1), end=date(2026, 12, 1)))

    assert rows == {(FTF, str(ada), date(2026, 10, 1)): (1, 1, 1.0), (FTF, str(ada), date(2026, 11, 1)): (0, 1, 0.0)}


def test_the_25_hour_fall_back_day_keeps_its_last_hour(database, plugins, facts, new_york):
    ada = facts.technician("Ada")
    facts.fixed(ada, local(11, 1, 0, 30))
    facts.fixed(ada, local(11, 1, 23, 30))  # 2026-11-02 04:30 UTC: still November 1 in New York
    facts.spoiled(ada, local(11, 2, 0, 30))

    rows = cells(
        values(database, plugins, FTF, zone=new_york, period="day", start=date(2026, 11, 1), end=date(2026, 11, 3))
    )

    assert rows == {(FTF, str(ada), date(2026, 11, 1)): (2, 2, 1.0), (FTF, str(ada), date(2026, 11, 2)): (0, 1, 0.0)}


def test_weeks_start_on_monday(database, plugins, facts):
    ada = facts.technician("Ada")
    facts.fixed(ada, utc(1, 4))  # a Sunday: ISO week of Monday 2025-12-29
    facts.fixed(ada, utc(1, 5))  # a Monday

    rows = values(database, plugins, FTF, period="week", end=date(2026, 1, 12))

    assert [(row.period_start, row.denominator) for row in rows] == [(date(2025, 12, 29), 1), (date(2026, 1, 5), 1)]


def test_evaluations_are_placed_by_their_period_end_date(database, plugins, facts, new_york):
    ada = facts.technician("Ada")
    facts.evaluation(ada, date(2026, 3, 31), 60)
    facts.evaluation(ada, date(2026, 4, 1), 90)

    rows = cells(values(database, plugins, EVALUATION, zone=new_york, start=date(2026, 3, 1), end=date(2026, 5, 1)))

    assert rows == {
        (EVALUATION, str(ada), date(2026, 3, 1)): (60, 1, 60.0),
        (EVALUATION, str(ada), date(2026, 4, 1)): (90, 1, 90.0),
    }


def test_quarters_and_years_pool_their_months(database, plugins, north, facts):
    facts.fixed(north["ada"], utc(5, 1))

    assert cells(values(database, plugins, FTF, group_by="company", period="quarter")) == {
        (FTF, "company", date(2026, 1, 1)): (3, 6, 0.5),
        (FTF, "company", date(2026, 4, 1)): (1, 1, 1.0),
    }
    assert cells(values(database, plugins, FTF, group_by="company", period="year")) == {
        (FTF, "company", date(2026, 1, 1)): (4, 7, pytest.approx(4 / 7)),
    }


# --- intervals and status ----------------------------------------------------------------


def test_rates_carry_a_95_percent_wilson_interval(database, plugins, facts):
    ada = facts.technician("Ada")
    for day in range(1, 9):
        facts.fixed(ada, utc(1, day))
    facts.spoiled(ada, utc(1, 20))
    facts.spoiled(ada, utc(1, 21))

    (row,) = values(database, plugins, FTF)

    assert (row.numerator, row.denominator) == (8, 10)
    assert (round(row.ci_low, 4), round(row.ci_high, 4)) == (0.4902, 0.9433)


def test_means_have_no_interval(database, plugins, facts):
    facts.job(facts.technician("Ada"), completed_at=utc(1, 5), rating=4)

    (row,) = values(database, plugins, RATING)

    assert (row.value, row.ci_low, row.ci_high) == (4.0, None, None)


def test_status_uses_the_plugin_default_target(database, plugins, north):
    rows = values(database, plugins, FTF, end=date(2026, 2, 1))  # default: green >= 0.9, amber >= 0.8

    assert [(row.group_label, row.status) for row in rows] == [("Ada", "green"), ("Bob", "red"), ("Cy", "red")]


def test_a_teams_stored_target_judges_its_team_and_its_technicians(database, plugins, north, facts):
    facts.add(KpiTarget(metric_key=FTF, team_id=north["team"], green=0.5, amber=0.3, weight=1))
    facts.add(KpiTarget(metric_key=FTF, team_id=None, green=0.3, amber=0.1, weight=1))

    by_technician = values(database, plugins, FTF, end=date(2026, 2, 1))
    by_team = values(database, plugins, FTF, group_by="team", end=date(2026, 2, 1))

    assert [(row.group_label, row.status) for row in by_technician] == [
        ("Ada", "green"),
        ("Bob", "amber"),
        ("Cy", "green"),
    ]
    assert [(row.group_label, row.status) for row in by_team] == [("North", "green"), ("No team", "green")]


def test_a_given_target_lookup_is_asked_with_the_technicians_team_and_the_period_start(database, plugins, north):
    asked = []

    def target_for(key: str, team: int | None, start: date) -> Target:
        asked.append((key, team, start))
        return Target(green=1.0, amber=0.5)

    rows = values(database, plugins, FTF, end=date(2026, 2, 1), target_for=target_for)

    assert [row.status for row in rows] == ["green", "red", "amber"]
    january = date(2026, 1, 1)
    assert asked == [(FTF, north["team"], january), (FTF, north["team"], january), (FTF, None, january)]


# --- scope ---------------------------------------------------------------------------------


def test_a_technician_sees_only_their_own_values(database, plugins, north):
    scope = Scope(Principal(user_id=1, username="bob", role="technician", technician_id=north["bob"]))

    for group_by in ("technician", "team", "company"):
        (row,) = values(database, plugins, FTF, group_by=group_by, scope=scope, end=date(2026, 2, 1))
        assert (row.numerator, row.denominator) == (1, 3), group_by


def test_a_manager_sees_only_their_teams_values(database, plugins, north):
    scope = Scope(Principal(user_id=1, username="m", role="manager", managed_team_ids=frozenset({north["team"]})))

    by_technician = values(database, plugins, FTF, scope=scope, end=date(2026, 2, 1))
    (company,) = values(database, plugins, FTF, group_by="company", scope=scope, end=date(2026, 2, 1))

    assert [row.group_label for row in by_technician] == ["Ada", "Bob"]
    assert (company.numerator, company.denominator) == (2, 4)


# --- one statement and validation -------------------------------------------------------------


def test_all_kpis_for_all_groups_and_periods_are_one_statement(database, plugins, north, facts):
    facts.evaluation(north["ada"], date(2026, 1, 31), 90)
    facts.job(north["ada"], scheduled_start=utc(1, 5), arrived_at=utc(1, 5), completed_at=utc(1, 5, 12), rating=5)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        # Targets and plugin settings given: the values themselves are the one statement.
        rows = values(database, plugins, target_for=lambda key, team, start: None, context_for=default_contexts)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)

    assert [statement for statement in statements if statement.lstrip().upper().startswith(("SELECT", "WITH"))] == [
        statements[-1]
    ]
    assert {row.kpi for row in rows} == set(plugins.metrics)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kpis": ("quality.nope",)}, "kpi"),
        ({"end": date(2026, 1, 1)}, "end"),
        ({"end": date(2025, 12, 1)}, "end"),
        ({"period": "day", "end": date(2029, 1, 1)}, "end"),
        ({"group_by": "customer"}, "group_by"),
        ({"period": "fortnight"}, "period"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(database, plugins, query, field):
    query = dict(query)
    kpis = query.pop("kpis", ())

    with pytest.raises(Invalid) as refused:
        values(database, plugins, *kpis, **query)

    assert refused.value.field == field
