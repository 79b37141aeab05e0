"""The per-app objects the web layer works with, kept in ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from kpi_core.accounts.auth import Authenticator
from kpi_core.config import Settings
from kpi_core.plugins import PluginHost
from kpi_core.storage.db import Database

EXTENSION_KEY = "kpi_core"


@dataclass
class AppState:
    settings: Settings
    database: Database
    plugins: PluginHost
    authenticator: Authenticator


def install(app: Flask, state: AppState) -> None:
    app.extensions[EXTENSION_KEY] = state


def app_state() -> AppState:
    """The settings, database, plugins and authenticator of the current app."""
    return current_app.extensions[EXTENSION_KEY]
