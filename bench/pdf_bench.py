"""How long the PDF report takes for a large company: 100 technicians x 12 months x 8 KPIs.

The goal is under 30 s. Builds the ReportData by hand (no database), renders
it once and prints the time and the page count. Not a test: run it by hand.

    .venv/bin/python bench/pdf_bench.py [--technicians 100] [--months 12] [--out report.pdf]
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections import defaultdict
from datetime import UTC, date, datetime

from reports_pdf.render import make_environment, write_pdf
from reports_pdf.view import build_view

from kpi_core.reports.data import EvaluationSummary, MetricInfo, ReportData, ScorecardRow, ValueRow

# (key, label, unit, direction, green, amber, typical value, spread, sample per month)
KPIS = (
    ("quality.first_time_fix_rate", "First-time fix rate", "ratio", "higher", 0.85, 0.75, 0.82, 0.08, 20),
    ("quality.customer_rating", "Average customer rating", "stars", "higher", 4.5, 4.0, 4.4, 0.3, 12),
    ("quality.complaint_rate", "Complaint rate", "ratio", "lower", 0.03, 0.06, 0.04, 0.02, 20),
    ("quality.evaluation_score", "Evaluation score", "points", "higher", 80, 65, 76, 10, 2),
    ("timeliness.on_time_arrival_rate", "On-time arrival rate", "ratio", "higher", 0.9, 0.8, 0.86, 0.07, 20),
    ("timeliness.arrival_delay", "Average arrival delay", "minutes", "lower", 10, 20, 14, 6, 20),
    ("timeliness.on_budget_rate", "On-budget rate", "ratio", "higher", 0.85, 0.7, 0.8, 0.08, 20),
    ("timeliness.within_window_rate", "Finished within window", "ratio", "higher", 0.9, 0.8, 0.87, 0.06, 20),
)
TEAMS = ("North", "South", "East", "West", "Central", "Plumbing", "Electrical", "HVAC")


def status(value: float, green: float, amber: float, direction: str) -> str:
    if direction == "higher":
        return "green" if value >= green else "amber" if value >= amber else "red"
    return "green" if value <= green else "amber" if value <= amber else "red"


def build_report(technicians: int, months: int, seed: int = 7) -> ReportData:
    """A realistic ReportData: rows for company, team and technician levels."""
    rng = random.Random(seed)
    periods = [date(2026 + m // 12, m % 12 + 1, 1) for m in range(months)]
    end = date(2026 + months // 12, months % 12 + 1, 1)
    names = [f"Technician {i:03d}" for i in range(technicians)]
    team_of = {f"t{i}": TEAMS[i % len(TEAMS)] for i in range(technicians)}
    tech_rows: list[ValueRow] = []
    pooled: dict[tuple[str, str, str, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for i, name in enumerate(names):
        tech_id = f"t{i}"
        for key, _label, unit, direction, green, amber, typical, spread, sample in KPIS:
            skill = rng.gauss(typical, spread / 2)
            for period in periods:
                if rng.random() < 0.04:
                    continue  # a month off: no row, so the report shows a gap
                denominator = max(1, int(rng.gauss(sample, sample / 4)))
                value = rng.gauss(skill, spread / 2)
                value = min(max(value, 0.0), 1.0) if unit == "ratio" else max(value, 0.0)
                numerator = value * denominator
                row = ValueRow(
                    key,
                    tech_id,
                    name,
                    period,
                    value,
                    numerator,
                    denominator,
                    status=status(value, green, amber, direction),
                )
                tech_rows.append(row)
                for level, group in (("team", team_of[tech_id]), ("company", "company")):
                    totals = pooled[(level, group, key, period)]
                    totals[0] += numerator
                    totals[1] += denominator
    levels: dict[str, list[ValueRow]] = {"technician": tech_rows, "team": [], "company": []}
    thresholds = {k[0]: (k[4], k[5], k[3]) for k in KPIS}
    for (level, group, key, period), (numerator, denominator) in pooled.items():
        value = numerator / denominator
        label = "All technicians" if level == "company" else group
        levels[level].append(
            ValueRow(key, group, label, period, value, numerator, denominator, status=status(value, *thresholds[key]))
        )
    scorecards = []
    for i, name in enumerate(names):
        score = rng.uniform(40, 95)
        contributions = {k[0]: round(score / len(KPIS) * rng.uniform(0.8, 1.2), 1) for k in KPIS}
        unranked = i % 25 == 24
        scorecards.append(
            ScorecardRow(
                f"t{i}",
                name,
                team_of[f"t{i}"],
                score,
                None,
                rng.randint(150, 260),
                unranked_reason="fewer than 30 jobs" if unranked else None,
                contributions=contributions,
            )
        )
    ranked = sorted((s for s in scorecards if s.unranked_reason is None), key=lambda s: -(s.score or 0))
    ranks = {s.technician_id: n for n, s in enumerate(ranked, start=1)}
    scorecards = [
        ScorecardRow(
            s.technician_id,
            s.technician_label,
            s.team_label,
            s.score,
            ranks.get(s.technician_id),
            s.sample,
            s.unranked_reason,
            s.contributions,
        )
        for s in scorecards
    ]
    evaluations = tuple(
        EvaluationSummary(f"t{i}", rng.randint(1, 6), rng.uniform(60, 95), "Tidy work; customers ask for him by name.")
        for i in range(technicians)
    )
    return ReportData(
        title="Acme Home Services — annual performance",
        generated_at=datetime.now(UTC),
        timezone="Europe/London",
        group_by="technician",
        period="month",
        start=periods[0],
        end=end,
        metrics=tuple(MetricInfo(k[0], k[1], k[2], k[3], "rate" if k[2] == "ratio" else "mean", k[1]) for k in KPIS),
        values={level: tuple(rows) for level, rows in levels.items()},
        filters={"status": "completed"},
        scorecards=tuple(scorecards),
        evaluations=evaluations,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--out", help="also write the PDF to this file")
    args = parser.parse_args()

    report = build_report(args.technicians, args.months)
    environment = make_environment()
    clock, cpu = time.perf_counter(), time.process_time()
    view = build_view(report)
    viewed = time.perf_counter()
    html = environment.get_template("report.html").render(report=view)
    templated = time.perf_counter()
    stream = io.BytesIO()
    pages = write_pdf(html, stream)
    finished, cpu = time.perf_counter(), time.process_time() - cpu

    print(f"{args.technicians} technicians x {args.months} months x {len(KPIS)} KPIs")
    print(f"  view + charts {viewed - clock:6.2f} s")
    print(f"  templates     {templated - viewed:6.2f} s")
    print(f"  WeasyPrint    {finished - templated:6.2f} s")
    # CPU time too: on a busy machine the wall clock also counts other processes' turns.
    print(f"  total         {finished - clock:6.2f} s ({cpu:.2f} s CPU), {pages} pages, {stream.tell() / 1e6:.1f} MB")
    if args.out:
        with open(args.out, "wb") as out:
            out.write(stream.getvalue())


if __name__ == "__main__":
    main()
