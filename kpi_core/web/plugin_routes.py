"""Plugins' API operations (``kpi_routes``): checked when the plugin loads, registered under its prefix.

Each plugin's blueprints go under ``/api/v1/plugins/<plugin name>``, tagged
``plugin-<plugin name>`` in the OpenAPI document and behind the same
authentication, permission checks and error shape as the core's operations.
A blueprint whose ``url_prefix`` points elsewhere, an operation without a
rule (``requires``, ``signed_in`` or ``public`` from :mod:`kpi_core.routes`)
or one requiring a permission nobody declares is the plugin's load error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask
from flask_smorest import Api, Blueprint

from kpi_core.accounts.permissions import PERMISSIONS
from kpi_core.web.access import PUBLIC, SIGNED_IN, permission_of

ROOT = "/api/v1/plugins"
RESERVED_NAMES = frozenset({"settings"})
"""Plugin names whose prefix the core's own /api/v1/plugins operations take."""
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


class RouteError(ValueError):
    """Why a plugin's routes cannot be registered: the plugin's load error."""


def prefix_of(plugin: str) -> str:
    """Where a plugin's operations live."""
    return f"{ROOT}/{plugin}"


def _registrations(plugin: str, blueprints: Sequence[Blueprint]) -> list[tuple[Blueprint, dict[str, Any]]]:
    """Each blueprint with its registration options: the first is named (and tagged) ``plugin-<name>``."""
    return [
        (blp, {"url_prefix": blp.url_prefix or prefix_of(plugin), "name": tag_of(plugin, blp.name, first=n == 0)})
        for n, blp in enumerate(blueprints)
    ]


def tag_of(plugin: str, blueprint: str, *, first: bool = True) -> str:
    """The OpenAPI tag (and Flask name) of a plugin's blueprint: ``plugin-<plugin>`` for its first."""
    return f"plugin-{plugin}" if first else f"plugin-{plugin}-{blueprint}"


def check(plugin: str, blueprints: object, permissions: Iterable[str]) -> list[str]:
    """The operations' ``METHOD path`` of valid routes; raises :class:`RouteError` naming the first problem."""
    if not isinstance(blueprints, list | tuple):
        raise RouteError(f"kpi_routes() must return a list, got {type(blueprints).__name__}")
    if plugin in RESERVED_NAMES:
        raise RouteError(f"a plugin named {plugin!r} cannot have routes: {prefix_of(plugin)} is the core's")
    known = set(PERMISSIONS) | set(permissions) | {PUBLIC, SIGNED_IN}
    for blp in blueprints:
        if not isinstance(blp, Blueprint):
            raise RouteError(f"kpi_routes() returned {type(blp).__name__}, expected a flask_smorest.Blueprint")
        own = blp.url_prefix
        if own is not None and own != prefix_of(plugin) and not own.startswith(prefix_of(plugin) + "/"):
            raise RouteError(
                f"blueprint {blp.name!r} has url_prefix {own!r}, outside the plugin's prefix {prefix_of(plugin)}: "
                "leave url_prefix out (the host puts the blueprint there) or start it with that prefix"
            )
    probe = Flask(f"probe_{plugin}")
    for blp, options in _registrations(plugin, blueprints):
        probe.register_blueprint(blp, **options)
    operations = []
    for rule in probe.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method, view in _views(probe.view_functions[rule.endpoint], rule.methods or ()):
            where = f"{method.upper()} {rule.rule}"
            permission = permission_of(view)
            if permission is None:
                raise RouteError(
                    f"{where} has no rule: decorate it with requires(blp, permission), signed_in(blp) "
                    "or public(blp) from kpi_core.routes"
                )
            if permission not in known:
                raise RouteError(f"{where} requires the permission {permission!r}, which no plugin declares")
            operations.append(where)
    return sorted(operations)


def _views(view: Any, methods: Iterable[str]) -> list[tuple[str, Any]]:
    view_class = getattr(view, "view_class", None)
    wanted = [method.lower() for method in methods if method.lower() in HTTP_METHODS]
    if view_class is None:
        return [(method, view) for method in wanted]
    return [(method, getattr(view_class, method)) for method in wanted if hasattr(view_class, method)]


def register(api: Api, routes: dict[str, list[Blueprint]]) -> None:
    """Register every loaded plugin's checked blueprints on the app's API."""
    for plugin, blueprints in routes.items():
        for blp, options in _registrations(plugin, blueprints):
            api.register_blueprint(blp, **options)
