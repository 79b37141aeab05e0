"""Shared by the account API tests: one app per test module and database engine.

Building the app (its OpenAPI document) costs more than most of these tests, so
each module shares one app per engine and every test starts from empty tables
(`fresh_state`): kpi_core/testing/module_app.py, whose fixtures override the
function-scoped ones of kpi_core/testing/fixtures.py for this directory only.
A module sets settings of its own by overriding `settings_overrides`.
"""

from __future__ import annotations

import itertools

import pytest

from kpi_core.accounts.integration_tokens import NewToken, create_token, revoke_token
from kpi_core.audit.trail import Actor
from kpi_core.storage.types import utcnow
from kpi_core.testing.module_app import (  # noqa: F401 - fixtures shared by the directory
    app,
    client,
    database,
    database_url,
    fresh_state,
    settings,
    settings_overrides,
)


@pytest.fixture
def make_token(database):  # noqa: F811 - the module-scoped database imported above
    """``make_token(scope=["jobs.read"])`` -> (the token's text, its id), made directly by the service.

    ``role`` (admin), ``teams`` (a manager token's), ``preset`` instead of ``scope``; ``revoked=True``
    revokes it, ``expired=True`` moves its expiry into the past.
    """
    numbers = itertools.count(1)

    def make(scope=None, *, role="admin", teams=(), preset=None, revoked=False, expired=False) -> tuple[str, int]:
        with database.session() as session:
            new = NewToken(
                name=f"Script {next(numbers)}",
                role=role,
                scope=tuple(scope) if scope is not None else None,
                preset=preset,
                team_names=tuple(teams),
            )
            issued = create_token(session, new, Actor.system("tests"))
            token_id = issued.token.id
            if revoked:
                revoke_token(session, token_id, Actor.system("tests"))
            if expired:
                issued.token.expires_at = utcnow().replace(year=utcnow().year - 1)
        return issued.text, token_id

    return make
