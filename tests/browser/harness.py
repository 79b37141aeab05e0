"""A real server over the demo data and Debian's Chromium, for the browser tests and bench/dashboard_paint.py.

The server is the production app (``create_app``) served by waitress in a thread
on a free loopback port, over a SQLite database seeded with the demo company and
a few users of every role; the third-party fixture plugin is installed as an
entry point would install it, so its custom widget is on the dashboard.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import select

from kpi_core.testing.browser import CSP_RECORDER, launch_browser, missing_browser_prerequisite  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PACKAGE = ROOT / "tests" / "fixtures" / "thirdparty_plugin" / "kpi_fixture_cancellations"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "browser-test-password-42"
SECRET = "browser-test-secret-key-long-enough-for-hs256"


def thirdparty_plugin() -> ModuleType:
    """The third-party fixture plugin, imported from its source folder."""
    name = FIXTURE_PACKAGE.name
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, FIXTURE_PACKAGE / "__init__.py", submodule_search_locations=[str(FIXTURE_PACKAGE)]
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class People:
    """Who can log in (all with PASSWORD), and the technicians the tests look at."""

    admin: str = "admin"
    manager: str = "manager"
    technician: str = "tech"
    technician_id: int = 0
    other_technician_id: int = 0
    other_technician_name: str = ""
    managed_team: str = ""
    managed_team_id: int = 0
    team_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Server:
    url: str
    people: People
    database: Any
    _server: Any
    _thread: threading.Thread

    def token(self, username: str) -> str:
        answer = self.call("POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD})
        return answer["access_token"]

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One JSON API call; raises urllib.error.HTTPError on a non-2xx answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def get(self, path: str, token: str) -> Any:
        return self.call("GET", path, token=token)

    def stop(self) -> None:
        self._server.close()
        self._thread.join(timeout=10)
        self.database.dispose()


def _add_people(database: Any) -> People:
    from kpi_core.accounts.users import NewUser, create_user
    from kpi_core.storage.models import Team, Technician

    people = People()
    with database.session() as session:
        teams = {team.name: team.id for team in session.scalars(select(Team).order_by(Team.name))}
        first_team = next(iter(teams))
        technicians = list(session.scalars(select(Technician).where(Technician.active).order_by(Technician.id)))
        mine = next(t for t in technicians if t.team_id == teams[first_team])
        other = next(t for t in technicians if t.team_id != teams[first_team])
        create_user(session, NewUser(username=people.admin, password=PASSWORD, role="admin", display_name="Ada Admin"))
        create_user(
            session,
            NewUser(username=people.manager, password=PASSWORD, role="manager", team_names=(first_team,)),
        )
        create_user(
            session,
            NewUser(username=people.technician, password=PASSWORD, role="technician", technician_ref=mine.external_ref),
        )
        people.technician_id, people.other_technician_id = mine.id, other.id
        people.other_technician_name = other.name
        people.managed_team, people.managed_team_id, people.team_ids = first_team, teams[first_team], teams
    return people


def start_server(directory: Path, *, seed: bool = True) -> Server:
    """Migrate and seed a SQLite database in ``directory`` and serve the app on a free loopback port."""
    from waitress import create_server

    from kpi_core.config import Settings
    from kpi_core.demo.seed import seed_if_empty
    from kpi_core.plugins import load_plugins
    from kpi_core.storage.db import Database
    from kpi_core.storage.migrate import upgrade
    from kpi_core.web.app import create_app

    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'kpi.sqlite3'}"
    settings = Settings.from_env({}, data_dir=directory / "data", database_url=url, secret_key=SECRET)
    plugins = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin())])
    database = Database(url)
    upgrade(database.engine)
    if seed:
        seed_if_empty(database, plugins, settings)
    people = _add_people(database)
    app = create_app(settings, database=database, plugins=plugins)
    server = create_server(app, host="127.0.0.1", port=0, threads=6, ident="kpi-browser-test")
    thread = threading.Thread(target=server.run, name="kpi-browser-server", daemon=True)
    thread.start()
    return Server(f"http://127.0.0.1:{server.effective_port}", people, database, server, thread)


missing_prerequisite = missing_browser_prerequisite


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
