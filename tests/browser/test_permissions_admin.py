"""The admin page's Permissions tab (issue #22, point 2): the permission an installed extension adds
(the fixture plugin's "Mark jobs cancelled") is given to technicians and taken from managers in a real
Chromium, on a 390 px phone and a desktop; the built-in permissions are listed, fixed, in words."""

from __future__ import annotations

import pytest
from test_disputes_browser import DESKTOP, PHONE, usable

LABEL = "Mark jobs cancelled (managers: their teams' jobs)"
KEY = "fixture.cancel_jobs"


def roles_of(server, key: str) -> list[str]:
    listed = server.get("/api/v1/permissions", server.token("admin"))
    return next(row["roles"] for row in listed if row["key"] == key)


@pytest.fixture
def as_installed(server):
    """The permission's roles as installed again afterwards, whatever happens."""
    yield
    server.call("PUT", f"/api/v1/permissions/{KEY}", {"roles": ["manager"]}, server.token("admin"))


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_an_admin_gives_an_extensions_permission_to_technicians(login, page, server, screenshot, as_installed, size):
    page.set_viewport_size(size)
    login("admin")
    page.goto("/admin/permissions")
    chosen = page.get_by_role("group", name=LABEL)
    chosen.wait_for()
    assert "As installed: Admins, Managers." in chosen.inner_text()
    assert chosen.get_by_label("Managers", exact=True).is_checked()
    assert not chosen.get_by_label("Technicians", exact=True).is_checked()
    assert KEY not in page.locator("main").inner_text()  # no keys on screen
    usable(page)
    screenshot(f"admin-permissions-{size['width']}")
    page.get_by_text("What each role may do").click()
    assert "Admins, Managers, Technicians" in page.get_by_role("table").inner_text()

    chosen.get_by_label("Managers", exact=True).uncheck()
    chosen.get_by_label("Technicians", exact=True).check()
    chosen.get_by_role("button", name="Save").click()

    page.get_by_role("status").filter(has_text="Saved: Admins, Technicians may mark jobs cancelled").wait_for()
    assert roles_of(server, KEY) == ["admin", "technician"]
    page.reload()
    chosen = page.get_by_role("group", name=LABEL)
    chosen.wait_for()
    assert chosen.get_by_label("Technicians", exact=True).is_checked()
    assert not chosen.get_by_label("Managers", exact=True).is_checked()
