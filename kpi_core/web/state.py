"""The per-app objects the web layer works with, kept in ``app.extensions``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from kpi_core.accounts.auth import Authenticator
from kpi_core.config import Settings
from kpi_core.plugins import PluginHost
from kpi_core.storage.db import Database
from kpi_core.storage.types import utcnow

EXTENSION_KEY = "kpi_core"


@dataclass
class AppState:
    settings: Settings
    database: Database
    plugins: PluginHost
    authenticator: Authenticator
    clock: Callable[[], datetime] = utcnow
    """The time now (UTC): relative ranges, complete periods and open outcome windows are judged by it.
    Tests set it to freeze time."""


def install(app: Flask, state: AppState) -> None:
    app.extensions[EXTENSION_KEY] = state


def app_state() -> AppState:
    """The settings, database, plugins and authenticator of the current app."""
    return current_app.extensions[EXTENSION_KEY]
