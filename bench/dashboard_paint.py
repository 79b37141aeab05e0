"""First paint of the dashboard on the demo data, measured in Debian's Chromium.

Starts the app over a freshly seeded demo database (as `kpi demo` does: 3 teams,
25 technicians, about 23,000 jobs, 18 months) on a loopback port, logs in as an
admin and opens /dashboard RUNS times. For each load it reads the browser's own
Performance API: first contentful paint (the shell); ``kpi:dashboard-first-numbers``,
set in the first animation frame after the KPI cards show their numbers; and
``kpi:dashboard-painted``, after every widget (the leaderboard's scorecards last)
has drawn. The first load finds the server's KPI cache
cold; the later ones warm.

    .venv/bin/python bench/dashboard_paint.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from harness import PASSWORD, launch_browser, missing_prerequisite, start_server

MARK = "kpi:dashboard-painted"
FIRST = "kpi:dashboard-first-numbers"
TIMINGS = f"""() => {{
  const at = (name) => {{
    const entry = performance.getEntriesByName(name)[0];
    return entry ? entry.startTime : null;
  }};
  return {{fcp: at('first-contentful-paint'), first: at('{FIRST}'), painted: at('{MARK}')}};
}}"""


def measure(page, path: str = "/dashboard") -> dict[str, float]:
    """Open ``path`` (already logged in) and wait for the dashboard's mark; times in ms from navigation start.
    The API calls' own times are kept in ``calls`` (the slowest first)."""
    calls: list[tuple[float, str]] = []

    def finished(request) -> None:
        if "/api/" in request.url:
            timing = request.timing
            calls.append((timing["responseEnd"] - timing["requestStart"], request.url.split("/api/v1/")[-1][:60]))

    page.on("requestfinished", finished)
    page.goto(path)
    # Polled from here: wait_for_function would evaluate a string in the page, which the CSP forbids.
    deadline = time.monotonic() + 60
    while (timings := page.evaluate(TIMINGS))["painted"] is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {MARK} mark within 60 s")
        page.wait_for_timeout(50)
    page.remove_listener("requestfinished", finished)
    timings["calls"] = sorted(calls, reverse=True)
    return timings


def log_in(page, username: str = "admin") -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.get_by_role("button", name="Log out").wait_for()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    reason = missing_prerequisite()
    if reason:
        print(f"cannot measure: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as directory:
        print("seeding the demo company and starting the server ...", flush=True)
        server = start_server(Path(directory))
        try:
            with sync_playwright() as playwright:
                browser = launch_browser(playwright)
                page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 900})
                log_in(page)
                runs = [measure(page) for _ in range(args.runs)]
                browser.close()
        finally:
            server.stop()
    print(f"{'load':>8} {'first contentful paint':>24} {'KPI cards painted':>18} {'every widget painted':>21}")
    for index, run in enumerate(runs, 1):
        label = "cold" if index == 1 else "warm"
        print(f"{index:>3} {label} {run['fcp']:>24.0f} ms {run['first']:>15.0f} ms {run['painted']:>18.0f} ms")
    print("API calls of the last load, slowest first:")
    for duration, call in runs[-1]["calls"]:
        print(f"  {duration:>7.0f} ms  {call}")
    for key, name in (("first", "KPI cards painted"), ("painted", "every widget painted")):
        warm = [run[key] for run in runs[1:]] or [runs[0][key]]
        print(f"{name}: cold {runs[0][key]:.0f} ms, warm median {statistics.median(warm):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
