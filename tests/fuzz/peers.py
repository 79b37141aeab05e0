"""Two users of one role who must not see each other's records, and the Web Fuzzing Commons
document with which schemathesis signs in as them: what its ``object_level_authorization`` check
needs (``[auth.wfc]`` with ``peers``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import schemathesis

from kpi_core.storage.db import Database
from kpi_core.storage.models import Feedback, Job, Team, Technician
from kpi_core.testing.fixtures import TEST_PASSWORD

from .fuzzing import USER_NUMBERS

LOGIN = {
    "endpoint": "/api/v1/auth/login",
    "verb": "POST",
    "contentType": "application/json",
    "token": {
        "extractFrom": "body",
        "extractSelector": "/access_token",
        "sendIn": "header",
        "sendName": "Authorization",
        "sendTemplate": "Bearer {token}",
    },
}


def make_peers(database: Database, make_user, role: str) -> tuple[str, str]:
    """Two users of ``role`` who must not see each other's records: the managers of two teams, or
    two technicians of one team. Each team has two technicians with two jobs each, each job with
    customer feedback."""
    number = next(USER_NUMBERS)
    teams = [f"Peers {number} {side}" for side in "AB"]
    finished = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    with database.session() as session:
        for team_name in teams:
            team = Team(name=team_name)
            session.add(team)
            session.flush()
            for n in (1, 2):
                technician = Technician(external_ref=f"{team_name} T{n}", name=f"{team_name} tech {n}", team_id=team.id)
                session.add(technician)
                session.flush()
                for j in (1, 2):
                    job = Job(
                        external_ref=f"{team_name} T{n} J{j}",
                        technician_id=technician.id,
                        category="plumbing",
                        status="completed",
                        scheduled_start=finished,
                        completed_at=finished,
                    )
                    session.add(job)
                    session.flush()
                    session.add(Feedback(job_id=job.id, rating=4, nps=9, received_at=finished))
    names = (f"peer-{role}-{number}-a", f"peer-{role}-{number}-b")
    for name, n, team in zip(names, (1, 2), teams, strict=True):
        if role == "manager":
            make_user(role, username=name, teams=(team,))
        else:
            make_user(role, username=name, technician_ref=f"{teams[0]} T{n}")
    return names


def signing_in_as(path: Path, owner: str, other: str) -> schemathesis.Config:
    """Schemathesis signs every case in as ``owner`` (through the login endpoint) and replays the
    owner's reads as ``other``: a Web Fuzzing Commons document of both, the two named as peers."""
    credentials = [
        {
            "name": name,
            "loginEndpointAuth": {
                "payloadUserPwd": {
                    "username": name,
                    "password": TEST_PASSWORD,
                    "usernameField": "username",
                    "passwordField": "password",
                }
            },
        }
        for name in (owner, other)
    ]
    path.write_text(json.dumps({"authTemplate": {"loginEndpointAuth": LOGIN}, "auth": credentials}))
    return schemathesis.Config.from_dict({"auth": {"wfc": {"path": str(path), "user": owner, "peers": [owner, other]}}})
