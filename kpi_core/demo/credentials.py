"""The demo's admin login: created once, kept in the data directory, repaired when lost.

The password is random (never a well-known default) and stored in
``demo-admin.json`` beside the demo database, readable by its owner only, so
`kpi demo` can print the same login on every run.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from kpi_core.accounts.passwords import hash_password, verify_password
from kpi_core.accounts.users import NewUser, create_user
from kpi_core.storage.models import User

if TYPE_CHECKING:
    from kpi_core.config import Settings
    from kpi_core.storage.db import Database

ADMIN_USERNAME = "admin"
CREDENTIALS_FILE = "demo-admin.json"


@dataclass(frozen=True)
class DemoLogin:
    """A username and its password in clear, for the demo banner."""

    username: str
    password: str


def credentials_path(settings: Settings) -> Path:
    """Where the demo admin's login is kept."""
    return settings.data_dir / CREDENTIALS_FILE


def ensure_demo_admin(database: Database, settings: Settings) -> DemoLogin:
    """Return a working login for the demo admin, creating or repairing it as needed.

    Creates user ``admin`` (role admin) with a random password if there is
    none. If it exists and the stored password still verifies, returns the
    stored login unchanged; otherwise (file missing, unreadable or stale)
    sets a new random password and stores that.
    """
    path = credentials_path(settings)
    stored = _read(path)
    with database.session() as session:
        user = session.scalar(select(User).where(User.username == ADMIN_USERNAME))
        if user is not None and stored is not None and verify_password(user.password_hash, stored.password):
            return stored
        login = DemoLogin(ADMIN_USERNAME, secrets.token_urlsafe(18))
        if user is None:
            create_user(
                session,
                NewUser(username=login.username, password=login.password, role="admin", display_name="Demo admin"),
            )
        else:
            user.password_hash = hash_password(login.password)
        # Written before the commit: if writing fails, the old password stays valid.
        _write(path, login)
    return login


def _read(path: Path) -> DemoLogin | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("username") != ADMIN_USERNAME:
        return None
    password = data.get("password")
    return DemoLogin(ADMIN_USERNAME, password) if isinstance(password, str) and password else None


def _write(path: Path, login: DemoLogin) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    # Created 0600 from the start (never briefly world-readable), then renamed into place.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"username": login.username, "password": login.password}, handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
