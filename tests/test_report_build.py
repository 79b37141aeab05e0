"""The report engine: one ReportData from the KPI engine (same numbers at every level), the
evaluations' summary, spec validation, safe file names, and the core.report job storing its file."""

from __future__ import annotations

import csv
import hashlib
import io
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.errors import Invalid
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.query import Filters, KpiQuery
from kpi_core.reports import job as report_job
from kpi_core.reports.build import build_report_data
from kpi_core.reports.filenames import ascii_file_name, content_disposition, safe_file_name
from kpi_core.reports.job import render_report
from kpi_core.reports.spec import ReportSpec, parse_spec
from kpi_core.storage.models import Evaluation, Feedback, Job, ReportFile, ReportRun, Team, Technician

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
EVALUATION = "quality.evaluation_score"
NOW = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def crew(database) -> dict[str, int]:
    """North: Ada and Bob; South: Cy. Jobs in January and February; evaluations of Ada and Cy."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        techs = {
            key: Technician(external_ref=key, name=name, team_id=team.id)
            for key, name, team in (("ada", "Ada", north), ("bob", "Bob", north), ("cy", "Cy", south))
        }
        session.add_all(techs.values())
        session.flush()
        for number, (key, month, rating) in enumerate(
            [("ada", 1, 5), ("ada", 2, 4), ("bob", 1, 2), ("bob", 2, None), ("cy", 2, 3)]
        ):
            done = datetime(2026, month, 10 + number, 12, tzinfo=UTC)
            job = Job(
                external_ref=f"J{number}", technician_id=techs[key].id, category="plumbing" if number % 2 else "hvac",
                status="completed", completed_at=done,
            )  # fmt: skip
            session.add(job)
            session.flush()
            if rating:
                session.add(Feedback(job_id=job.id, rating=rating, received_at=done))
        ids = {key: tech.id for key, tech in techs.items()}
        ids |= {"north": north.id, "south": south.id}
    return ids


def evaluation(database, technician: int, month: int, score: float, *, status="submitted", comment=None, **extra):
    with database.session() as session:
        row = Evaluation(
            technician_id=technician,
            period_start=date(2026, month, 1),
            period_end=date(2026, month, 28),
            form_version="v1",
            form_snapshot=[],
            answers={"core.overall_comment": comment} if comment else {},
            score=score,
            status=status,
            submitted_at=datetime(2026, month, 28, 12, tzinfo=UTC) if status != "draft" else None,
            **extra,
        )
        session.add(row)
        session.flush()
        return row.id


def spec(**fields) -> ReportSpec:
    values = {
        "format": "pdf",
        "title": "Q1",
        "kpis": (FTF, RATING, EVALUATION),
        "group_by": "technician",
        "period": "month",
        "start": date(2026, 1, 1),
        "end": date(2026, 4, 1),
    }
    return ReportSpec(**{**values, **fields})


def build(database, plugins, settings, report_spec: ReportSpec, scope: Scope = UNSCOPED, *, now=NOW, **options):
    """The report as made at ``now`` (the report's clock: values are judged then)."""
    with database.session(write=False) as session:
        return build_report_data(
            session, plugins, report_spec, zone=settings.zone, scope=scope, generated_at=now, min_sample=1, **options
        )


def _as_api_row(row) -> dict:
    """A report's row as the values API writes it."""
    fields = dict(vars(row))
    fields["period_start"] = row.period_start.isoformat()
    fields["period_end"] = row.period_end.isoformat()
    return fields


# --- values ---------------------------------------------------------------------------------------


def test_every_level_holds_exactly_what_the_values_api_answers(database, plugins, settings, crew):
    report_spec = spec(group_by="category")
    data = build(database, plugins, settings, report_spec)

    assert set(data.values) == {"category", "company", "team", "technician"}
    with database.session(write=False) as session:
        for level in data.values:
            query = KpiQuery(report_spec.start, report_spec.end, report_spec.kpis, level, "month")
            answer = service.kpi_values(session, plugins, query, zone=settings.zone, honesty=Honesty(now=NOW))
            expected = [
                {**row, "group_label": "Company" if level == "company" else row["group_label"]}
                for row in answer.dicts()
            ]
            assert [_as_api_row(row) for row in data.rows(level)] == expected
    assert data.rows() == data.rows("category")
    assert [metric.key for metric in data.metrics] == [FTF, RATING, EVALUATION]
    assert (data.title, data.timezone, data.generated_at) == ("Q1", settings.timezone, NOW)


def test_a_manager_s_report_holds_only_their_teams_at_every_level(database, plugins, settings, crew):
    manager = Scope(Principal(99, "boss", "manager", managed_team_ids=frozenset({crew["north"]})))

    data = build(database, plugins, settings, spec(), manager)

    assert {row.group_label for row in data.rows("technician")} == {"Ada", "Bob"}
    assert {row.group_label for row in data.rows("team")} == {"North"}
    company = {(row.kpi, row.period_start): row.denominator for row in data.rows("company")}
    assert company[(FTF, date(2026, 2, 1))] == 2  # Ada's and Bob's February jobs, not Cy's


def test_filters_are_described_by_name(database, plugins, settings, crew):
    filters = Filters(teams=(crew["north"],), technicians=(crew["ada"],), categories=("hvac",))

    data = build(database, plugins, settings, spec(filters=filters))

    assert data.filters == {"team": ["North"], "technician": ["Ada"], "category": ["hvac"]}


def test_a_managers_report_covers_their_teams_by_name_even_when_no_team_was_chosen(database, plugins, settings, crew):
    manager = Scope(Principal(99, "boss", "manager", managed_team_ids=frozenset({crew["north"]})))

    data = build(database, plugins, settings, spec(), manager)

    assert data.scope == "North team"
    assert data.filters == {"team": ["North"]}
    assert {row.group_label for row in data.rows("company")} == {"North team"}


@pytest.mark.parametrize(
    ("chosen", "label"),
    [((), "Company"), (("north", "south"), "North and South teams"), (("north",), "North team")],
)
def test_the_report_is_labelled_with_the_teams_it_is_filtered_on(database, plugins, settings, crew, chosen, label):
    filters = Filters(teams=tuple(crew[name] for name in chosen))

    data = build(database, plugins, settings, spec(filters=filters))

    assert data.scope == label
    assert data.filters == ({"team": [name.capitalize() for name in chosen]} if chosen else {})


def test_a_report_on_chosen_technicians_is_labelled_with_their_names(database, plugins, settings, crew):
    data = build(database, plugins, settings, spec(filters=Filters(technicians=(crew["ada"], crew["bob"]))))

    assert data.scope == "Ada and Bob"


def test_the_report_data_carries_the_companys_currency(database, plugins, settings, crew):
    with database.session(write=False) as session:
        data = build_report_data(
            session, plugins, spec(), zone=settings.zone, scope=UNSCOPED, generated_at=NOW, currency="EUR"
        )

    assert data.currency == "EUR"


# --- how far each value can be trusted (issue #17) --------------------------------------------------


def add_job(database, technician: int, completed: datetime, ref: str, *, rating: int | None = None) -> None:
    with database.session() as session:
        job = Job(external_ref=ref, technician_id=technician, category="plumbing", status="completed",
                  completed_at=completed)  # fmt: skip
        session.add(job)
        session.flush()
        if rating is not None:
            session.add(Feedback(job_id=job.id, rating=rating, received_at=completed))


def by_key(data, level: str = "company") -> dict:
    return {(row.kpi, row.period_start): row for row in data.rows(level)}


def test_a_value_on_fewer_jobs_than_the_kpis_minimum_gets_no_colour(database, plugins, settings, crew):
    small = by_key(build(database, plugins, settings, spec(kpis=(FTF,)), status_min_sample=10))
    enough = by_key(build(database, plugins, settings, spec(kpis=(FTF,)), status_min_sample=2))

    january = (FTF, date(2026, 1, 1))  # Ada's and Bob's jobs
    assert (small[january].denominator, small[january].status, small[january].certain) == (2.0, "insufficient", None)
    assert enough[january].status in ("green", "amber", "red")


def test_the_report_names_what_each_kpi_counts_and_the_sample_a_status_needs(database, plugins, settings, crew):
    data = build(database, plugins, settings, spec(), status_min_sample=12)

    ftf, rating, evaluation_score = data.metrics
    assert (ftf.facts, ftf.min_sample, ftf.pending_reason) == ("jobs", 12, "Callback window still open")
    assert (rating.facts, rating.pending_reason) == ("jobs", "")
    assert evaluation_score.facts == "evaluations"


def test_a_month_whose_callback_window_is_still_open_is_provisional_with_its_jobs_pending(
    database, plugins, settings, crew
):
    add_job(database, crew["ada"], datetime(2026, 3, 25, 12, tzinfo=UTC), "late-march")
    report_spec = spec(kpis=(FTF,), end=date(2026, 4, 1))

    data = by_key(build(database, plugins, settings, report_spec, now=datetime(2026, 4, 10, 9, tzinfo=UTC)))
    settled = by_key(build(database, plugins, settings, report_spec, now=datetime(2026, 5, 1, 9, tzinfo=UTC)))

    march = data[(FTF, date(2026, 3, 1))]
    assert (march.complete, march.provisional, march.pending, march.value) == (True, True, 1.0, None)
    assert data[(FTF, date(2026, 2, 1))].provisional is False  # February's windows closed in March
    later = settled[(FTF, date(2026, 3, 1))]
    assert (later.provisional, later.pending, later.denominator) == (False, 0.0, 1.0)


def test_a_month_under_way_is_not_complete_and_neither_is_the_report(database, plugins, settings, crew):
    add_job(database, crew["ada"], datetime(2026, 3, 3, 12, tzinfo=UTC), "early-march", rating=4)
    report_spec = spec(kpis=(RATING,), end=date(2026, 3, 11))  # month_to_date on 10 March
    now = datetime(2026, 3, 10, 15, tzinfo=UTC)

    data = build(database, plugins, settings, report_spec, now=now)
    ended = build(database, plugins, settings, report_spec, now=datetime(2026, 3, 11, 0, 30, tzinfo=UTC))

    rows = by_key(data)
    march = rows[(RATING, date(2026, 3, 1))]
    assert (march.period_end, march.complete, march.value) == (date(2026, 3, 11), False, 4.0)
    assert rows[(RATING, date(2026, 2, 1))].complete is True
    assert data.complete is False
    assert ended.complete is True and by_key(ended)[(RATING, date(2026, 3, 1))].complete is True


def test_a_month_to_date_report_s_file_says_so_far(database, settings, crew):
    add_job(database, crew["ada"], datetime(2026, 3, 3, 12, tzinfo=UTC), "early-march", rating=4)
    report_id = add_report(database, spec(format="csv_wide", kpis=(RATING,), start=date(2026, 3, 1),
                                          end=date(2026, 3, 11)))  # fmt: skip

    with freeze_report_clock(datetime(2026, 3, 10, 15, tzinfo=UTC)):
        render_report(JobContext(engine=database.engine, settings=settings), report_id)

    with database.session(write=False) as session:
        content = session.get(ReportFile, report_id).content.decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(content)))
    assert (row["Period complete"], row["Average customer rating (status)"]) == ("no", "too few jobs")


@contextmanager
def freeze_report_clock(instant: datetime):
    """The report job's clock stopped at ``instant`` (its values are judged then)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_job, "utcnow", lambda: instant)
        yield


# --- evaluations --------------------------------------------------------------------------------


def test_evaluation_summaries_count_the_latest_submitted_revisions_in_range(database, plugins, settings, crew):
    evaluation(database, crew["ada"], 1, 70, comment="Good start")
    replaced = evaluation(database, crew["ada"], 2, 10, comment="typo")
    evaluation(database, crew["ada"], 2, 90, comment="Great February", supersedes_id=replaced, revision=2)
    evaluation(database, crew["ada"], 3, 0, status="draft", comment="not yet")
    evaluation(database, crew["ada"], 5, 0, comment="outside the range")
    evaluation(database, crew["cy"], 1, 60, status="acknowledged")

    data = build(database, plugins, settings, spec())

    summaries = {summary.technician_id: summary for summary in data.evaluations}
    ada, cy = summaries[str(crew["ada"])], summaries[str(crew["cy"])]
    assert (ada.count, ada.mean_score, ada.latest_comment) == (2, 80.0, "Great February")
    assert (cy.count, cy.mean_score, cy.latest_comment) == (1, 60.0, None)
    assert str(crew["bob"]) not in summaries


def test_evaluation_summaries_follow_the_scope_and_the_filters(database, plugins, settings, crew):
    evaluation(database, crew["ada"], 1, 70)
    evaluation(database, crew["cy"], 1, 60)
    manager = Scope(Principal(99, "boss", "manager", managed_team_ids=frozenset({crew["north"]})))

    scoped = build(database, plugins, settings, spec(), manager)
    by_category = build(database, plugins, settings, spec(filters=Filters(categories=("hvac",))))

    assert [summary.technician_id for summary in scoped.evaluations] == [str(crew["ada"])]
    assert by_category.evaluations == ()  # evaluations have no category, as in the KPI engine


# --- the spec ----------------------------------------------------------------------------------


def test_last_periods_counts_back_complete_periods_from_today(plugins, settings):
    raw = {"format": "csv", "period": "month", "last_periods": 3}

    parsed = parse_spec(raw, plugins, settings.zone, today=date(2026, 3, 15))
    weekly = parse_spec({**raw, "period": "week", "last_periods": 1}, plugins, settings.zone, today=date(2026, 3, 12))

    assert (parsed.start, parsed.end) == (date(2025, 12, 1), date(2026, 3, 1))
    assert (weekly.start, weekly.end) == (date(2026, 3, 2), date(2026, 3, 9))
    assert parsed.kpis == tuple(plugins.metrics)  # no kpis: all of them, named


def test_a_schedule_s_spec_errors_name_report_spec_fields(plugins, settings):
    raw = {"format": "csv", "kpis": ["nope"], "start": "2026-01-01", "end": "2026-02-01"}

    with pytest.raises(Invalid) as caught:
        parse_spec(raw, plugins, settings.zone, today=date(2026, 3, 1), prefix="report_spec")

    assert caught.value.field == "report_spec.kpis"
    assert caught.value.location == "json"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not an object", "spec"),
        ({"format": 7}, "format"),
        ({"format": "csv", "start": "2026-13-01", "end": "2026-02-01"}, "start"),
        ({"format": "csv", "last_periods": 0}, "last_periods"),
        ({"format": "csv", "last_periods": True}, "last_periods"),
        ({"format": "csv", "last_periods": 1, "filters": {"team": [True]}}, "filters.team"),
        ({"format": "csv", "last_periods": 1, "filters": {"shift": ["night"]}}, "filters.shift"),
        ({"format": "csv", "last_periods": 1, "filters": []}, "filters"),
        ({"format": "csv", "last_periods": 1, "title": "x" * 201}, "title"),
    ],
)
def test_malformed_specs_name_the_field(plugins, settings, raw, field):
    with pytest.raises(Invalid) as caught:
        parse_spec(raw, plugins, settings.zone, today=date(2026, 3, 1))

    assert caught.value.field == field


# --- file names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("March review", "March review.pdf"),
        ("../../etc/passwd\r\nX: y", "_.._etc_passwd X_ y.pdf"),
        ('He said "hi"; bye', "He said _hi__ bye.pdf"),
        ("...hidden", "hidden.pdf"),
        ("", "report.pdf"),
        ("\u202egnp.exe", "gnp.exe.pdf"),
        ("CON", "report CON.pdf"),
        ("Ünïcode report", "Ünïcode report.pdf"),
        ("x" * 300, "x" * 100 + ".pdf"),
    ],
)
def test_file_names_are_safe(title, name):
    assert safe_file_name(title, "pdf") == name


def test_the_header_carries_an_ascii_name_and_the_utf8_one():
    assert ascii_file_name("Ünïcode report.pdf") == "Unicode report.pdf"
    assert ascii_file_name("報告.pdf") == "report.pdf"
    assert content_disposition("Ünïcode report.pdf") == (
        "attachment; filename=\"Unicode report.pdf\"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20report.pdf"
    )


# --- the job --------------------------------------------------------------------------------------


def add_report(database, report_spec: ReportSpec, owner: int | None = None) -> int:
    with database.session() as session:
        run = ReportRun(requested_by_id=owner, format=report_spec.format, title=report_spec.title,
                        spec=report_spec.to_json(), status="queued")  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


def test_the_report_job_stores_the_file_with_its_checksum_and_reports_progress(database, settings, crew):
    report_id = add_report(database, spec(format="csv", title="Q1 / North"))
    steps: list[tuple[int, str]] = []
    context = JobContext(engine=database.engine, settings=settings, on_progress=lambda p, m: steps.append((p, m)))

    result = render_report(context, report_id)

    with database.session(write=False) as session:
        stored = session.get(ReportFile, report_id)
        run = session.get(ReportRun, report_id)
        assert stored.sha256 == hashlib.sha256(stored.content).hexdigest() == result["sha256"]
        assert (run.file_name, run.media_type, run.size_bytes) == (
            "Q1 _ North.csv",
            "text/csv; charset=utf-8",
            len(stored.content),
        )
        assert run.status == "finished"
    percents = [percent for percent, _message in steps]
    assert percents == sorted(percents) and 10 in percents and percents[-1] >= 95
    assert "rendering" in dict(steps)[10]


def test_a_report_deleted_before_it_ran_is_skipped(database, settings):
    context = JobContext(engine=database.engine, settings=settings)

    assert render_report(context, 12345)["skipped"] == "the report was deleted"
    with database.session(write=False) as session:
        assert session.scalars(select(ReportFile)).all() == []


def test_a_disabled_requester_s_report_fails_rather_than_leak(database, settings, make_user, crew):
    from kpi_core.storage.models import User

    user_id = make_user("manager", teams=("North",))
    report_id = add_report(database, spec(format="csv"), owner=user_id)
    with database.session() as session:
        session.get(User, user_id).disabled = True

    with pytest.raises(Exception, match="disabled"):
        render_report(JobContext(engine=database.engine, settings=settings), report_id)


def test_scorecards_are_the_scorecard_engine_s_on_the_report_s_kpis(database, plugins, settings, crew):
    from kpi_core.kpis.scorecards import compute_scorecards

    report_spec = spec(kpis=(FTF, RATING))
    data = build(database, plugins, settings, report_spec)

    with database.session(write=False) as session:
        cards = compute_scorecards(
            session, plugins, start=report_spec.start, end=report_spec.end, period="month", zone=settings.zone,
            kpis=report_spec.kpis, min_sample=1,
        )  # fmt: skip
    assert [(c.technician_id, c.score, c.rank) for c in data.scorecards] == [
        (str(row.technician_id), row.score, row.rank) for row in cards.technicians
    ]
    assert {c.technician_label for c in data.scorecards} == {"Ada", "Bob", "Cy"}
    for card in data.scorecards:
        assert set(card.contributions) == {FTF, RATING}
        if card.score is not None:
            assert sum(v for v in card.contributions.values() if v is not None) == pytest.approx(card.score, abs=0.02)


def test_with_the_admins_job_mix_setting_the_ranking_is_the_fair_one(database, plugins, settings, crew):
    from kpi_core.kpis.scorecards import compute_scorecards
    from kpi_core.storage.models import PluginSetting

    report_spec = spec(kpis=(FTF, RATING))
    assert build(database, plugins, settings, report_spec).ranked_by_job_mix is False
    with database.session() as session:
        session.add(PluginSetting(plugin="core", name="rank_by_job_mix", value=True))
    data = build(database, plugins, settings, report_spec)

    assert data.ranked_by_job_mix is True
    with database.session(write=False) as session:
        cards = compute_scorecards(
            session, plugins, start=report_spec.start, end=report_spec.end, period="month", zone=settings.zone,
            kpis=report_spec.kpis, min_sample=1, adjust="category", as_of=NOW,
        )  # fmt: skip
    assert [(c.technician_id, c.score, c.rank) for c in data.scorecards] == [
        (str(row.technician_id), row.score, row.rank) for row in cards.technicians
    ]
