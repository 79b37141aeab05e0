"""Refresh the README's screenshot (docs/dashboard.png): the admin's dashboard at 1366x900.

    .venv/bin/python tests/browser/readme_screenshot.py

The same server and Chromium as the browser tests (harness.py), over the demo data; the first
screen of the dashboard once its numbers are in, in the light scheme.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import PASSWORD, ROOT, launch_browser, missing_prerequisite, start_server

TARGET = ROOT / "docs" / "dashboard.png"


def main() -> int:
    reason = missing_prerequisite()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    server = start_server(Path(tempfile.mkdtemp(prefix="kpi-readme-")))
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            context = browser.new_context(
                base_url=server.url,
                viewport={"width": 1366, "height": 900},
                color_scheme="light",
                locale="en-US",
                timezone_id="America/Chicago",
            )
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Username").fill(server.people.admin)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Password").press("Enter")
            page.locator("kpi-card-widget a.value").first.wait_for()
            page.locator("kpi-leaderboard-widget tbody tr").first.wait_for()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(TARGET))
            browser.close()
    finally:
        server.stop()
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
